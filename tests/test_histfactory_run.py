"""``run_workspace``: summary.json against pyhf, patches, figures, posterior file, no overwrite."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from reference_data import REFERENCE
from bayesfit.errors import WorkspaceError
from bayesfit.histfactory.run import run_workspace
from bayesfit.output import OutputExistsError

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

COUNTING = REFERENCE / "pyhf" / "sr-ee-mm-em-counting.json"
# observe 3 events in the mm signal region instead of (essentially) none, and let the POI reach 50
# (CLs falls to 5% only above 10)
PATCH = [{"op": "replace", "path": "/observations/1/data", "value": [3.0]},
         {"op": "replace", "path": "/measurements/0/config/parameters/1/bounds", "value": [[0.0, 50.0]]}]


def test_fit_only_run_reproduces_pyhf_and_refuses_to_overwrite(tmp_path, capsys):
    pyhf = pytest.importorskip("pyhf")
    patch_file = tmp_path / "patchset.json"
    patch_file.write_text(json.dumps({"patches": [{"metadata": {"name": "three_ee"}, "patch": PATCH}]}))
    out = tmp_path / "out"
    result = run_workspace(COUNTING, patches=[f"{patch_file}:three_ee"], out=out, sample=False, progress=False)

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

    written = sorted(path.name for path in out.iterdir())
    assert written == sorted(["summary.json", "pulls.png", "channel_SRee_cuts.png", "channel_SRem_cuts.png",
                              "channel_SRmm_cuts.png"])
    assert all((out / name).read_bytes().startswith(b"\x89PNG") for name in written if name.endswith(".png"))
    assert "mu_Sig" in capsys.readouterr().out
    with pytest.raises(OutputExistsError, match="summary.json"):
        run_workspace(COUNTING, out=out, sample=False, progress=False)
    with pytest.raises(WorkspaceError, match="no patch named 'missing'"):
        run_workspace(COUNTING, patches=[f"{patch_file}:missing"], out=tmp_path / "other", sample=False)


def test_sampling_run_writes_posterior_and_summary(tmp_path):
    import arviz as az

    out = tmp_path / "posterior"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_workspace(COUNTING, out=out, draws=150, tune=250, chains=2, seed=4, sampler="pymc",
                               progress=False)
    summary = result.summary
    assert set(summary["posterior"]) == set(summary["fit"]["parameters"])
    assert set(summary["posterior"]["mu_Sig"]) >= {"mean", "sd", "hdi_3%", "hdi_97%", "r_hat", "ess_bulk"}
    assert summary["sampling"]["chains"] == 2 and summary["sampling"]["draws"] == 150
    idata = az.from_netcdf(out / "posterior.nc")
    assert {"posterior", "posterior_predictive", "observed_data"} <= set(idata.groups())
    draws = idata.posterior["mu_Sig"].values.ravel()
    assert summary["poi"]["mean"] == pytest.approx(draws.mean())
    assert summary["poi"]["upper_limit_95"] == pytest.approx(np.quantile(draws, 0.95))
    assert "upper_limit" not in summary  # no events: CLs stays above 5% up to the POI's bound
    assert summary["posterior"]["lumi"]["mean"] == pytest.approx(idata.posterior["lumi"].values.mean())
    for name in ("corner.png", "traces.png", "pulls.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG")
