"""Template analyses (models/unfolding.yaml, models/template_fit.yaml, and files written here)
against numpy and scipy, their committed inputs, and their error messages."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, special, stats

from reference_data import example_module
from bayesfit.analysis import Analysis
from bayesfit.analysis.report import validate_summary
from bayesfit.analysis.run import RunOptions, run_analysis_file
from bayesfit.errors import AnalysisFileError

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
SHORT = ("inference.draws=100", "inference.tune=100", "inference.chains=2")



model_inputs = example_module("model_inputs")


def test_committed_inputs_are_what_the_example_script_writes(tmp_path: Path) -> None:
    model_inputs.write_unfolding_inputs(tmp_path / "unfolding")
    model_inputs.write_template_fit_inputs(tmp_path / "template_fit")
    for name in ("response.npz", "data.npz"):
        with np.load(MODELS / "inputs" / "unfolding" / name) as committed, np.load(tmp_path / "unfolding" / name) as new:
            assert sorted(committed.files) == sorted(new.files)
            for key in committed.files:
                np.testing.assert_array_equal(committed[key], new[key])
    for name in ("signal.json", "observed.json", "background.csv"):
        assert (tmp_path / "template_fit" / name).read_text() == (MODELS / "inputs" / "template_fit" / name).read_text()


def _numpy_ml(nll, start: np.ndarray, bounds: list[tuple[float, float]]) -> optimize.OptimizeResult:
    return optimize.minimize(nll, start, bounds=bounds, method="L-BFGS-B", options={"ftol": 1e-14, "gtol": 1e-10})


def test_template_fit_equals_scipy_on_the_histograms_read_by_hist() -> None:
    import hist
    import hist.serialization
    import uhi.io.json

    def values(name: str) -> np.ndarray:
        text = (MODELS / "inputs" / "template_fit" / name).read_text()
        return hist.Hist(hist.serialization.from_uhi(json.loads(text, object_hook=uhi.io.json.object_hook))).values()

    signal, observed = values("signal.json"), values("observed.json")
    background = np.loadtxt(MODELS / "inputs" / "template_fit" / "background.csv", delimiter=",", skiprows=1)[:, 2]
    analysis = Analysis.from_file(MODELS / "template_fit.yaml")
    np.testing.assert_array_equal(analysis.observed, observed)

    def nll(x: np.ndarray) -> float:
        return -stats.poisson.logpmf(observed, x[0] * signal + x[1] * background).sum()

    reference = _numpy_ml(nll, np.array([1.0, 1.0]), [(0, 20), (0.1, 10)])
    result = analysis.fit()
    assert result.nll == pytest.approx(reference.fun, abs=1e-7)
    np.testing.assert_allclose([result.values["mu"], result.values["background_norm"]], reference.x, rtol=1e-4)
    assert analysis.objective(np.array([0.5, 1.2])) == pytest.approx(nll(np.array([0.5, 1.2])), rel=1e-12)


def test_unfolding_marginalises_the_detector_universes() -> None:
    analysis = Analysis.from_file(MODELS / "unfolding.yaml")
    with np.load(MODELS / "inputs" / "unfolding" / "response.npz") as response, \
            np.load(MODELS / "inputs" / "unfolding" / "data.npz") as data:
        matrices, weights = response["matrices"], response["weights"]
        observed, background = data["observed"], data["background"]
    assert matrices.shape == (20, 8, 4) and analysis.data_summary()["universes"] == 20
    log_weights = np.log(weights / weights.sum())

    def nll(truth: np.ndarray) -> float:
        per_universe = stats.poisson.logpmf(observed, matrices @ truth + background).sum(axis=1)
        return -special.logsumexp(per_universe + log_weights)

    point = np.array([380.0, 260.0, 110.0, 70.0])
    assert analysis.objective(point) == pytest.approx(nll(point), rel=1e-12)
    reference = _numpy_ml(nll, np.array([300.0, 300.0, 100.0, 100.0]), [(0, None)] * 4)
    result = analysis.fit()
    assert result.nll == pytest.approx(reference.fun, abs=1e-6)
    np.testing.assert_allclose([result.values[f"truth_{i}"] for i in range(4)], reference.x, rtol=1e-3)
    components = analysis.component_expected(result.values)
    probabilities = weights / weights.sum()
    np.testing.assert_allclose(sum(components.values()), probabilities @ (matrices @ reference.x) + background, rtol=1e-3)


@pytest.mark.parametrize("model", ["unfolding", "template_fit"])
def test_the_model_file_runs_and_its_summary_validates(model: str, tmp_path: Path) -> None:
    result = run_analysis_file(MODELS / f"{model}.yaml", RunOptions(out=tmp_path, overrides=SHORT, progress=False))
    summary = json.loads((tmp_path / "summary.json").read_text())
    validate_summary(summary)
    assert summary["model"]["kind"] == "TemplateAnalysis" and summary["fit"]["converged"]
    assert "posterior.nc" in {path.name for path in result.files}
    if model == "template_fit":
        assert summary["hypotests"]["discovery"]["significance"] > 3
        assert summary["upper_limit"]["observed"] > summary["fit"]["parameters"]["mu"]["value"]


def _write(tmp_path: Path, text: str) -> Path:
    np.savez(tmp_path / "arrays.npz", counts=np.array([3.0, 4.0, 5.0]), pair=np.ones((3, 2)))
    path = tmp_path / "analysis.yaml"
    path.write_text(textwrap.dedent(text))
    return path


BASE = """\
    name: small
    binning: {x: {linear: {start: 0, stop: 3, bins: 3}}}
    observed: {path: arrays.npz, key: counts}
    components:
      flat: {template: [1, 1, 1], scale: norm}
      also: {template: [0, 1, 2], scale: norm}
    parameters:
      norm: {prior: flat, start: 1.0}
"""


def test_components_sharing_a_scale_are_summed(tmp_path: Path) -> None:
    analysis = Analysis.from_file(_write(tmp_path, BASE))
    np.testing.assert_allclose(analysis.predictor.evaluate({"norm": 2.0})[0], [2.0, 4.0, 6.0])
    components = analysis.component_expected({"norm": 2.0})
    np.testing.assert_allclose(components["also"], [0.0, 2.0, 4.0])


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("key: counts", "key: count", r"line 3: observed\.key: .*has no array 'count'; arrays: \['counts', 'pair'\]"),
        ("key: counts", "key: pair", r"line 3: observed: observed counts have shape \(3, 2\), the binning has 3 bins"),
        ("{path: arrays.npz, key: counts}", "{path: arrays.npz}", r"line 3: observed: a \.npz file needs the array named"),
        ("{path: arrays.npz, key: counts}", "{path: arrays.h5}", r"line 3: observed\.path: unknown array file type"),
        ("[0, 1, 2]", "[0, 1]", r"line 6: components\.also\.template: the template has shape \(2,\), expected \(3,\)"),
        ("scale: norm}\n", "scale: norm, space: truth}\n",
         r"line 5: components\.flat\.space: a template in truth bins needs a response matrix"),
        ("scale: norm}\n", "scale: norm, per_flux: true}\n", r"line 5: components\.flat\.per_flux: .*needs flux throws"),
        ("[1, 1, 1]", "[1, -1, 1]", r"line 5: components\.flat\.template: a template must be non-negative"),
        ("    components:", "    data: {path: d.json}\n    components:", r"line 4: data: a template analysis has observed counts"),
        ("{template: [1, 1, 1], scale: norm}", "{weight: w, scale: norm}",
         r"line 5: components\.flat: a template analysis \(observed:\) takes template components"),
    ],
)
def test_bad_template_files_name_file_line_and_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in BASE
    path = _write(tmp_path, BASE.replace(old, new, 1))
    with pytest.raises(AnalysisFileError, match=rf"analysis\.yaml {message}"):
        Analysis.from_file(path)


def test_response_and_flux_need_observed_counts(tmp_path: Path) -> None:
    text = """\
        name: events
        binning: {x: {linear: {start: 0, stop: 3, bins: 3}}}
        data: {path: d.json}
        simulation: {path: s.json}
        flux: {throws: [[1, 2], [2, 1]]}
        components: {a: {weight: w}}
        parameters: {a: {prior: flat}}
    """
    with pytest.raises(AnalysisFileError, match=r"line 5: flux: 'flux' belongs to a template analysis"):
        Analysis.from_file(_write(tmp_path, text))


def test_inline_arrays_must_be_numbers(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE.replace("[0, 1, 2]", "[[0, 1], [2]]"))
    with pytest.raises(AnalysisFileError, match=r"line 6: components\.also\.template: an inline array must be numbers"):
        Analysis.from_file(path)


def test_flux_throws_without_a_response_are_universes_or_a_nuisance(tmp_path: Path) -> None:
    """Reco-space templates per unit flux: ``expected[k] = sum_t s_t template_t @ throw_k``."""
    throws = np.array([[1.0, 2.0], [1.5, 1.5], [2.0, 1.2], [0.8, 2.5]])
    text = BASE.replace("[0, 1, 2], scale: norm}", "[[0, 1], [1, 1], [2, 0]], scale: xsec, per_flux: true}")
    text = text.replace("    components:", f"    flux: {{throws: {throws.tolist()}}}\n    components:")
    text += "      xsec: {prior: flat, start: 1.0}\n"
    analysis = Analysis.from_file(_write(tmp_path, text))
    template = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
    counts = np.array([3.0, 4.0, 5.0])
    per_universe = stats.poisson.logpmf(counts, 0.7 + 1.3 * throws @ template.T).sum(axis=1)
    assert analysis.objective(np.array([0.7, 1.3])) == pytest.approx(-(special.logsumexp(per_universe) - np.log(4)), rel=1e-12)
    nuisance = Analysis.from_file(_write(tmp_path, text), ["flux.treatment=nuisance"])
    constraint = nuisance.constraints[0]
    np.testing.assert_allclose(constraint.mean, throws.mean(axis=0))
    np.testing.assert_allclose(constraint.covariance, np.cov(throws.T))
    flux = constraint.value(np.full(constraint.rank, 0.5))
    expected = nuisance.predictor.evaluate({"norm": 0.7, "xsec": 1.3, "flux": flux})[0]
    np.testing.assert_allclose(expected, 0.7 + 1.3 * template @ flux, rtol=1e-12)


def test_paths_are_relative_to_the_file_and_set_paths_to_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    path = _write(tmp_path, BASE)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    np.savez(elsewhere / "other.npz", counts=np.array([7.0, 8.0, 9.0]))
    monkeypatch.chdir(elsewhere)
    np.testing.assert_array_equal(Analysis.from_file(path).observed, [3.0, 4.0, 5.0])
    overridden = Analysis.from_file(path, ["observed.path=other.npz", "components.also.template=[2, 2, 2]"])
    np.testing.assert_array_equal(overridden.observed, [7.0, 8.0, 9.0])
    np.testing.assert_allclose(overridden.component_expected({"norm": 1.0})["also"], [2.0, 2.0, 2.0])
