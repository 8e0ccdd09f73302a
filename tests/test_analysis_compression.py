"""The analysis builder compresses reweighted simulation where that is exact, and only there.

The compressed predictor must give the fits and ``-ln L`` of the exact per-event predictor (the
same file with ``simulation.compress=false``) to 1e-8 relative; where a spectral parameter has no
finite range the builder keeps the per-event predictor and says why, without inventing bounds.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from bayesfit.analysis import Analysis
from bayesfit.analysis.build import ReweightedMCAnalysis
from bayesfit.predictors import CompressedReweightedMCPredictor, ReweightedMCPredictor

MODELS = Path(__file__).resolve().parents[1] / "models"
#: The log-parabola file's curvature has a Normal prior and no bounds: bounded here to compress it.
BOUNDED_CURVATURE = ("parameters.astro_beta.bounds=[-1.0, 1.0]",)


def both(path: Path, overrides: tuple[str, ...] = ()) -> tuple[Analysis, Analysis]:
    """The analysis compressed (the default) and with the exact per-event predictor."""
    compressed = Analysis.from_file(path, overrides)
    exact = Analysis.from_file(path, (*overrides, "simulation.compress=false"))
    return compressed, exact


def inner(predictor):
    return getattr(predictor, "predictor", predictor)  # under FixedParameters


@pytest.mark.parametrize(
    ("file", "overrides"), [("hese_diffuse.yaml", ()), ("hese_log_parabola.yaml", BOUNDED_CURVATURE)]
)
def test_compressed_fits_equal_the_per_event_fits(file, overrides):
    compressed, exact = both(MODELS / file, overrides)
    assert compressed.compressed and isinstance(inner(compressed.predictor), CompressedReweightedMCPredictor)
    assert not exact.compressed and isinstance(inner(exact.predictor), ReweightedMCPredictor)
    # the compression keeps the analysis' bounds: the prior's Uniform(1.5, 4.5) and the file's bounds
    np.testing.assert_array_equal(compressed.objective.lower, exact.objective.lower)
    np.testing.assert_array_equal(compressed.objective.upper, exact.objective.upper)

    ours, reference = compressed.fit(), exact.fit()
    assert ours.converged and reference.converged
    for name, value in reference.values.items():
        np.testing.assert_allclose(ours.values[name], value, rtol=1e-8, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(ours.errors[name], reference.errors[name], rtol=1e-6, err_msg=name)
    assert ours.nll == pytest.approx(reference.nll, rel=1e-12)
    # -ln L away from the minimum, over the parameters' ranges
    rng = np.random.default_rng(5)
    lower, upper = exact.objective.lower, exact.objective.upper
    for _ in range(5):
        x = reference.x * rng.uniform(0.5, 1.5, reference.x.size)
        x = np.clip(x, lower, upper)
        assert compressed.objective(x) == pytest.approx(exact.objective(x), rel=1e-10)
    # the per-component predictions of the figures
    ours_components = compressed.component_expected(reference.values)
    for name, expected in exact.component_expected(reference.values).items():
        np.testing.assert_allclose(ours_components[name], expected, rtol=1e-10, atol=1e-12 * expected.max())


def test_a_fixed_spectrum_is_folded_into_the_weights():
    """The prompt component's index is fixed (and its pivot differs from the astrophysical one):
    its weights are the atmospheric weights times the fixed power law, summed per bin."""
    analysis = Analysis.from_file(MODELS / "hese_diffuse.yaml")
    assert "prompt_gamma" not in inner(analysis.predictor).parameter_names
    index = analysis.binning.bin_index(analysis.simulation)
    inside = index >= 0
    energy = np.asarray(analysis.simulation["primaryEnergy"])[inside]
    weights = np.asarray(analysis.simulation["atmoWeight"])[inside] * (energy / 1e6) ** -(2.7 - 3.7)
    prompt = np.bincount(index[inside], weights, minlength=analysis.binning.size)
    values = {"atmo_norm": 0.0, "astro_norm": 0.0, "astro_gamma": 2.5, "prompt_norm": 1.3}
    np.testing.assert_allclose(analysis.predictor.evaluate(values)[0], 1.3 * prompt, rtol=1e-12)


def test_no_finite_range_keeps_the_per_event_predictor_and_says_why(caplog):
    with caplog.at_level(logging.INFO, logger="bayesfit.analysis.build"):
        analysis = Analysis.from_file(MODELS / "hese_log_parabola.yaml")
    assert isinstance(analysis, ReweightedMCAnalysis) and not analysis.compressed
    assert "exact per-event predictor" in caplog.text and "'astro_beta' has no finite range" in caplog.text
    # no bounds were invented: the curvature stays unbounded
    index = analysis.objective.index("astro_beta")
    assert analysis.objective.lower[index] == -np.inf and analysis.objective.upper[index] == np.inf


def test_compress_false_is_reported(caplog):
    with caplog.at_level(logging.INFO, logger="bayesfit.analysis.build"):
        analysis = Analysis.from_file(MODELS / "hese_diffuse.yaml", ["simulation.compress=false"])
    assert not analysis.compressed
    assert "simulation.compress is false" in caplog.text
