"""``bayesfit run`` on workspaces (bare JSON files and analysis files naming one): summary.json
against pyhf, patches, figures, posterior file, no overwrite, one summary schema."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from reference_data import REFERENCE
from bayesfit.analysis.provenance import file_sha256
from bayesfit.analysis.report import format_table, read_summary, validate_summary
from bayesfit.analysis.run import RunOptions, run_analysis_file
from bayesfit.errors import AnalysisFileError
from bayesfit.output import MARKER, OutputExistsError

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

COUNTING = REFERENCE / "pyhf" / "sr-ee-mm-em-counting.json"
# observe 3 events in the mm signal region instead of (essentially) none, and let the POI reach 50
# (CLs falls to 5% only above 10)
PATCH = [{"op": "replace", "path": "/observations/1/data", "value": [3.0]},
         {"op": "replace", "path": "/measurements/0/config/parameters/1/bounds", "value": [[0.0, 50.0]]}]


def run_workspace(path, *, patches=(), out, sample=True, overrides=(), **sampling):
    """``bayesfit run PATH --patch ... [--set ...]`` through the API."""
    patch_override = (f"workspace.patches={json.dumps([str(p) for p in patches])}",) if patches else ()
    options = RunOptions(out=out, overrides=(*patch_override, *overrides), sample=sample, progress=False, **sampling)
    return run_analysis_file(path, options)


def test_fit_only_run_reproduces_pyhf_and_refuses_to_overwrite(tmp_path):
    pyhf = pytest.importorskip("pyhf")
    patch_file = tmp_path / "patchset.json"
    patch_file.write_text(json.dumps({"patches": [{"metadata": {"name": "three_ee"}, "patch": PATCH}]}))
    out = tmp_path / "out"
    result = run_workspace(COUNTING, patches=[f"{patch_file}:three_ee"], out=out, sample=False)

    spec = json.loads(COUNTING.read_text())
    spec["observations"][1]["data"] = [3.0]
    spec["measurements"][0]["config"]["parameters"][1]["bounds"] = [[0.0, 50.0]]
    workspace = pyhf.Workspace(spec)
    pyhf_model = workspace.model()
    data = workspace.data(pyhf_model)
    best, twice_nll = pyhf.infer.mle.fit(data, pyhf_model, return_fitted_val=True)
    summary = json.loads((out / "summary.json").read_text())
    assert summary == json.loads(json.dumps(result.summary))
    assert summary["analysis"] == "sr-ee-mm-em-counting" and "posterior" not in summary
    fit = summary["fit"]
    assert fit["converged"] is True and fit["kind"] == "ml"
    assert fit["neg_log_likelihood"] == pytest.approx(float(twice_nll) / 2, abs=1e-5)
    assert set(fit["parameters"]) == set(pyhf_model.config.par_order)
    for name in pyhf_model.config.par_order:
        index = pyhf_model.config.par_slice(name).start
        assert fit["parameters"][name]["value"] == pytest.approx(float(best[index]), abs=2e-3), name
    assert fit["parameters"]["mu_Sig"]["value"] > 1.0  # the patch took effect
    # the asymptotic CLs limit of the POI, as pyhf's
    limit = summary["upper_limit"]
    assert limit["method"] == "cls" and limit["poi"] == "mu_Sig" and limit["level"] == 0.95
    observed, expected = pyhf.infer.intervals.upper_limits.upper_limit(data, pyhf_model, scan=None, level=0.05,
                                                                    rtol=1e-8)
    assert limit["observed"] == pytest.approx(float(observed), rel=2e-3)
    assert limit["expected"]["median"] == pytest.approx(float(np.ravel(expected)[2]), rel=2e-3)

    written = sorted(path.name for path in out.iterdir() if path.name != MARKER)
    assert written == sorted(["summary.json", "pulls.png", "channel_SRee_cuts.png", "channel_SRem_cuts.png",
                              "channel_SRmm_cuts.png", "cls_scan.png", "correlation.png"])
    assert all((out / name).read_bytes().startswith(b"\x89PNG") for name in written if name.endswith(".png"))
    validate_summary(summary)
    assert read_summary(out) == summary and "mu_Sig" in format_table(summary)
    assert summary["model"]["poi"] == "mu_Sig" and len(summary["model"]["constrained"]) == len(fit["parameters"]) - 1
    assert summary["provenance"]["inputs"][str(COUNTING)] == file_sha256(COUNTING)
    assert summary["provenance"]["inputs"][str(patch_file)] == file_sha256(patch_file)
    with pytest.raises(OutputExistsError, match="already holds"):
        run_workspace(COUNTING, out=out, sample=False)
    with pytest.raises(AnalysisFileError, match="no patch named 'missing'"):
        run_workspace(COUNTING, patches=[f"{patch_file}:missing"], out=tmp_path / "other", sample=False)


def test_an_analysis_file_naming_the_workspace_runs_as_the_bare_workspace(tmp_path):
    """A two-line analysis file with the workspace, and ``--set`` on it, give what the bare
    workspace gives; the file's prior and POI reach the model."""
    analysis = tmp_path / "counting.yaml"
    analysis.write_text(f"name: counting\nworkspace: {{path: {COUNTING}}}\n"
                        "inference: {upper_limit: {level: 0.95, credible: true}}\n")
    bare = run_workspace(COUNTING, out=tmp_path / "bare", sample=False).summary
    named = run_workspace(analysis, out=tmp_path / "named", sample=False).summary
    assert named["fit"]["parameters"] == bare["fit"]["parameters"]
    assert named.get("upper_limit") == bare.get("upper_limit")
    # no staterror or shapesys here: the effective likelihood without MC uncertainty is Poisson
    changed = run_workspace(analysis, out=tmp_path / "changed", sample=False, overrides=(
        "likelihood=effective", "inference.upper_limit={}", "parameters.lumi={prior: flat, fixed: true, start: 1.05}",
    )).summary
    assert changed["model"]["likelihood"] == "effective" and "upper_limit" not in changed
    assert changed["fit"]["parameters"]["lumi"] == {"value": 1.05, "error": 0.0}
    plain = run_workspace(analysis, out=tmp_path / "plain", sample=False, overrides=(
        "inference.upper_limit={}", "parameters.lumi={prior: flat, fixed: true, start: 1.05}",
    )).summary
    assert changed["fit"]["neg_log_likelihood"] == pytest.approx(plain["fit"]["neg_log_likelihood"], abs=1e-8)
    with pytest.raises(AnalysisFileError, match="workspace.*components"):
        run_workspace(analysis, out=tmp_path / "bad", sample=False, overrides=("components.x.weight=w",))


def test_sampling_run_writes_posterior_and_summary(tmp_path):
    import arviz as az

    out = tmp_path / "posterior"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_workspace(COUNTING, out=out, draws=150, tune=250, chains=2, seed=4, sampler="pymc")
    summary = result.summary
    assert set(summary["posterior"]) == set(summary["fit"]["parameters"])
    assert set(summary["posterior"]["mu_Sig"]) >= {"mean", "sd", "hdi_3%", "hdi_97%", "r_hat", "ess_bulk"}
    assert summary["sampling"]["chains"] == 2 and summary["sampling"]["draws"] == 150
    idata = az.from_netcdf(out / "posterior.nc")
    assert {"posterior", "posterior_predictive", "observed_data"} <= set(idata.groups())
    draws = idata.posterior["mu_Sig"].values.ravel()
    assert summary["posterior"]["mu_Sig"]["mean"] == pytest.approx(draws.mean())
    assert summary["upper_limit_credible"]["observed"] == pytest.approx(np.quantile(draws, 0.95))
    assert json.loads(idata.posterior.attrs["bayesfit_summary"]) == summary
    validate_summary(summary)
    assert "upper_limit" not in summary  # no events: CLs stays above 5% up to the POI's bound
    assert summary["posterior"]["lumi"]["mean"] == pytest.approx(idata.posterior["lumi"].values.mean())
    for name in ("corner.png", "traces.png", "pulls.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG")


def test_the_atlas_model_file_runs_on_its_committed_copy_of_the_reference_workspace(tmp_path):
    """``models/atlas_ttbar.yaml`` names a copy of the ATLAS workspace inside ``models/`` (no
    dependence on the shared reference data), byte for byte the reference; the run fits and profiles
    the POI and its summary validates."""
    from pathlib import Path

    models = Path(__file__).resolve().parents[1] / "models"
    committed = models / "inputs" / "atlas_ttbar" / "atlas-ttbar-ljets-xsec-inclusive-pruned.json"
    reference = REFERENCE / "pyhf" / "atlas-ttbar-ljets-xsec-inclusive-pruned.json"
    if reference.exists():
        assert file_sha256(committed) == file_sha256(reference)
    summary = run_workspace(models / "atlas_ttbar.yaml", out=tmp_path, sample=False,
                            overrides=("inference.profile.ttbarXsec.points=3",)).summary
    validate_summary(summary)
    assert summary["model"]["poi"] == "ttbarXsec" and summary["fit"]["converged"]
    assert summary["data"]["channels"] == ["SR1", "SR2", "SR3"] and summary["model"]["bins"] == 37
    fit = summary["fit"]["parameters"]["ttbarXsec"]
    lower, upper = summary["profiles"]["ttbarXsec"]["interval_68"]
    assert lower < fit["value"] < upper
    assert summary["provenance"]["inputs"][str(committed)] == file_sha256(committed)
