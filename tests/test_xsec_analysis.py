"""The cross-section analysis (models/xsec_flux.yaml, generic template components) against numpy,
the numbers of the former ReMU-chain code and ReMU's published fit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from reference_data import REFERENCE, example_module
from bayesfit.analysis import Analysis
from bayesfit.analysis.report import validate_summary
from bayesfit.analysis.run import RunOptions, run_analysis_file
from bayesfit.analysis.templates import TemplateAnalysis
from bayesfit.datasets.xsec_toy import FLUX_EDGES, cross_section_table

REMU_DIR = REFERENCE / "remu-examples"
ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "xsec_flux.yaml"
INPUTS = ROOT / "models" / "inputs" / "xsec_flux"
SCALES = ("noise", "background", "model_A", "model_B")



xsec_inputs = example_module("xsec_inputs")


@pytest.fixture(scope="module")
def analysis() -> TemplateAnalysis:
    built = Analysis.from_file(MODEL)
    assert isinstance(built, TemplateAnalysis)
    return built


def numpy_expected(response: np.ndarray, weights: np.ndarray, flux: np.ndarray) -> np.ndarray:
    """``(K, 8)`` reco events by plain numpy from the cross-section functions on the truth edges:
    ``R[k] @ [noise, sigma_bg @ flux_k, sigma_A @ flux_k + sigma_B @ flux_k]`` (scaled)."""
    edges = {name: np.asarray(getattr(xsec_inputs, name)) for name in
             ("BACKGROUND_X_EDGES", "BACKGROUND_Y_EDGES", "SIGNAL_X_EDGES", "SIGNAL_Y_EDGES")}
    background = cross_section_table("background", edges["BACKGROUND_X_EDGES"], edges["BACKGROUND_Y_EDGES"])
    signal = [cross_section_table(m, edges["SIGNAL_X_EDGES"], edges["SIGNAL_Y_EDGES"]) for m in ("model_A", "model_B")]
    n = len(flux)
    background_events = weights[1] * np.einsum("xye,ke->kxy", background, flux).reshape(n, -1)
    signal_events = sum(w * np.einsum("xye,ke->kxy", table, flux) for w, table in zip(weights[2:], signal))
    truth = np.concatenate([np.full((n, 1), weights[0] * 200.0), background_events, signal_events.reshape(n, -1)], 1)
    return np.einsum("kit,kt->ki", response, truth)


def test_committed_inputs_are_what_the_example_script_writes(tmp_path: Path) -> None:
    xsec_inputs.write_inputs(xsec_inputs.toy_inputs(), tmp_path)
    for name in ("inputs.npz", "response.npz"):
        with np.load(INPUTS / name) as committed, np.load(tmp_path / name) as written:
            assert sorted(committed.files) == sorted(written.files)
            for key in committed.files:
                np.testing.assert_array_equal(committed[key], written[key], err_msg=f"{name}:{key}")


def test_likelihood_is_log_mean_exp_of_poisson_over_the_universes(analysis: TemplateAnalysis) -> None:
    assert analysis.predictor.parameter_names == SCALES
    assert analysis.data_summary()["universes"] == 100
    response, throws = analysis.response.matrices, analysis.flux_throws
    assert response.shape == (100, 8, 169) and throws.shape == (100, len(FLUX_EDGES) - 1)
    for weights in (np.array([0.9, 1.1, 0.3, 0.8]), np.array([1.4, 0.2, 1.0, 0.0])):
        per_universe = stats.poisson.logpmf(analysis.observed, numpy_expected(response, weights, throws)).sum(axis=1)
        assert analysis.objective(weights) == pytest.approx(-(special.logsumexp(per_universe) - np.log(100)), rel=1e-12)


def test_the_numbers_of_the_former_remu_chain_code(analysis: TemplateAnalysis) -> None:
    """The fit, discovery tests and limit of the same file when it read ``cross_section: {source: toy}``."""
    result = analysis.fit()
    assert result.nll == pytest.approx(26.9062490342793, abs=1e-8)
    np.testing.assert_allclose([result.values[name] for name in SCALES], [0.910131, 0.815123, 0.0, 1.013788], atol=2e-6)
    assert analysis.hypotest(0.0, poi="model_A", test_statistic="q0").significance == pytest.approx(0.0, abs=1e-6)
    discovery = analysis.hypotest(0.0, poi="model_B", test_statistic="q0")
    assert discovery.significance == pytest.approx(1.99371, abs=1e-4)
    limit = analysis.upper_limit(level=0.95, test_statistic="qmu_tilde")
    assert limit.observed == pytest.approx(1.06694, abs=1e-4)
    assert limit.expected[2] == pytest.approx(1.15726, abs=1e-4)


def test_components_add_up_to_the_universe_averaged_expectation(analysis: TemplateAnalysis) -> None:
    weights = np.array([0.9, 1.1, 0.3, 0.8])
    components = analysis.component_expected(dict(zip(SCALES, weights)))
    assert list(components) == list(SCALES)
    reference = numpy_expected(analysis.response.matrices, weights, analysis.flux_throws).mean(axis=0)
    np.testing.assert_allclose(sum(components.values()), reference, rtol=1e-12)
    alone_b = numpy_expected(analysis.response.matrices, np.array([0, 0, 0, 0.8]), analysis.flux_throws).mean(axis=0)
    np.testing.assert_allclose(components["model_B"], alone_b, rtol=1e-12)


def test_the_hypothesis_without_model_b_and_its_profile(analysis: TemplateAnalysis) -> None:
    only_a = analysis.model_given({"model_B": 0.0})
    assert [p.name for p in only_a.free_parameters] == ["noise", "background", "model_A"]
    scan = analysis.profile("model_A", [0.6, 1.3], fixed={"model_B": 0.0})
    np.testing.assert_allclose(scan.p_values(), stats.chi2.sf(scan.twice_delta_nll, 1), atol=1e-12)
    assert np.all(scan.twice_delta_nll > 0)


def test_flux_nuisance_equals_the_chain_at_a_throw() -> None:
    nuisance = Analysis.from_file(MODEL, ["flux.treatment=nuisance"])
    assert [p.name for p in nuisance.model.free_parameters] == [*SCALES, "flux_throw"]
    assert nuisance.data_summary()["universes"] == 100  # the detector universes
    weights = np.array([0.9, 1.1, 0.4, 0.7])
    throws = nuisance.flux_throws
    expected = nuisance.predictor.evaluate({**dict(zip(SCALES, weights)), "flux": throws[13]})
    reference = numpy_expected(nuisance.response.matrices, weights, np.broadcast_to(throws[13], throws.shape))
    np.testing.assert_allclose(expected, reference, rtol=1e-10)
    point = {**dict(zip(SCALES, weights)), "flux_throw": np.linspace(-1, 1, nuisance.constraints[0].rank)}
    flux = nuisance.constraints[0].value(point["flux_throw"])
    mean = numpy_expected(nuisance.response.matrices, weights, np.broadcast_to(flux, throws.shape)).mean(axis=0)
    np.testing.assert_allclose(sum(nuisance.component_expected(point).values()), mean, rtol=1e-10)


def test_bayesfit_run_writes_tests_scans_and_bayes_factor(tmp_path: Path) -> None:
    quick = [
        "inference.toys.count=20",
        "inference.profile.model_A.points=3",
        "inference.profile.model_B.points=3",
        "inference.bayes_factors.A_over_B.draws=100",
    ]
    result = run_analysis_file(MODEL, RunOptions(out=tmp_path, overrides=tuple(quick), sample=False, progress=False))
    assert sorted(path.name for path in result.files) == sorted([
        "summary.json", "flux.png", "counts_reco_x.png", "profile_model_A.png", "profile_model_B.png", "pvalue_scans.png",
        "correlation.png", "cls_scan.png",
    ])
    summary = json.loads((tmp_path / "summary.json").read_text())
    validate_summary(summary)
    assert summary["model"]["kind"] == "TemplateAnalysis"
    assert summary["data"]["universes"] == 100 and summary["data"]["flux"] == "universes"
    for name in ("A_only", "B_only"):
        test = summary["tests"][name]
        assert test["toy_statistic"] == "max_likelihood" and test["toys"] == 20
        assert 0.0 <= test["p_value_toys"] <= 1.0
    assert summary["hypotests"]["B_discovery"]["significance"] == pytest.approx(1.99371, abs=1e-4)
    assert summary["upper_limit"]["observed"] == pytest.approx(1.06694, abs=1e-4)
    factor = summary["bayes_factors"]["A_over_B"]
    assert factor["ln_bayes_factor"] == pytest.approx(
        factor["ln_evidence_numerator"] - factor["ln_evidence_denominator"], abs=1e-12
    )


@pytest.mark.skipif(not REMU_DIR.exists(), reason="ReMU reference files not available")
def test_the_file_on_remus_files_reproduces_remus_fit(tmp_path: Path) -> None:
    """ReMU's example 06 on its own files: x = [239.8 noise events, 0.398, 0.0, 1.082], -ln L = 27.15."""
    xsec_inputs.write_inputs(xsec_inputs.remu_inputs(REMU_DIR), tmp_path / "inputs" / "xsec_flux")
    shutil.copy(MODEL, tmp_path / "xsec_flux.yaml")
    remu = Analysis.from_file(tmp_path / "xsec_flux.yaml")
    assert remu.observed.sum() == 794
    result = remu.fit()
    assert result.values["noise"] * 200 == pytest.approx(239.8, rel=0.03)
    np.testing.assert_allclose([result.values[name] for name in SCALES[1:]], [0.398, 0.0, 1.082], atol=0.03)
    assert result.nll == pytest.approx(27.15, abs=0.1)  # flux throws are random in ReMU and here
    assert result.nll == pytest.approx(27.143632861660308, abs=1e-8)  # the former chain code on these files
