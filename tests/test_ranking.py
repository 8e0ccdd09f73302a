"""The nuisance-parameter ranking against a direct scipy computation of the same refits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats

from bayesfit.inference import fit, ranking
from bayesfit.likelihood import GaussianConstraint, PoissonConstraint
from bayesfit.model import BinnedModel
from bayesfit.predictors import TemplatePredictor

SIGNAL = np.array([1.0, 4.0, 9.0, 4.0, 1.0])
BACKGROUND = np.array([[20.0, 18.0, 15.0, 12.0, 10.0], [5.0, 6.0, 8.0, 10.0, 12.0]])
COUNTS = np.array([24.0, 30.0, 35.0, 27.0, 22.0])


def _model() -> BinnedModel:
    """``mu`` times a signal over two backgrounds: one with a Gaussian (sd 0.1), one with a Poisson
    (tau 50) auxiliary measurement of its norm."""
    templates = np.vstack([SIGNAL, BACKGROUND])
    return BinnedModel(
        TemplatePredictor(templates, labels=["signal", "bkg_a", "bkg_b"]), COUNTS,
        constraints=[GaussianConstraint("weights", [1.0], [0.1], entries=[1]),
                     PoissonConstraint("weights", [50.0], [50.0], entries=[2])],
        poi="signal",
    )


def _nll(weights: np.ndarray) -> float:
    expected = weights @ np.vstack([SIGNAL, BACKGROUND])
    return float(-(stats.poisson.logpmf(COUNTS, expected).sum() + stats.norm.logpdf(1.0, weights[1], 0.1)
                   + stats.poisson.logpmf(50, 50.0 * weights[2])))


def _poi_with(index: int, value: float) -> float:
    """The best-fit signal weight with entry ``index`` held at ``value``, by scipy."""
    free = [i for i in range(3) if i != index]

    def nll(x: np.ndarray) -> float:
        weights = np.empty(3)
        weights[free], weights[index] = x, value
        return _nll(weights)

    result = optimize.minimize(nll, np.ones(2), method="L-BFGS-B", bounds=[(1e-9, None)] * 2, options={"ftol": 1e-14, "gtol": 1e-10})
    return float(result.x[0])


def test_impacts_equal_refits_by_scipy():
    model = _model()
    best = fit(model)
    result = ranking(model, best_fit=best)
    assert result.poi == "weights[signal]"
    assert sorted(result.labels) == ["weights[bkg_a]", "weights[bkg_b]"]
    poi = best.value("weights[signal]")
    priors = {"weights[bkg_a]": (1, 1.0, 0.1), "weights[bkg_b]": (2, 51.0 / 50.0, np.sqrt(51.0) / 50.0)}  # Gamma(a+1, tau)
    for row, label in enumerate(result.labels):
        index, mean, sd = priors[label]
        value, error = best.entries()[label]
        expected = [_poi_with(index, value + sd) - poi, _poi_with(index, value - sd) - poi,
                    _poi_with(index, value + error) - poi, _poi_with(index, value - error) - poi]
        got = [result.prefit_up[row], result.prefit_down[row], result.postfit_up[row], result.postfit_down[row]]
        np.testing.assert_allclose(got, expected, atol=2e-5)
        assert result.pull[row] == pytest.approx((value - mean) / sd)
        assert result.pull_error[row] == pytest.approx(error / sd)
    largest = [max(abs(result.postfit_up[i]), abs(result.postfit_down[i])) for i in range(2)]
    assert largest[0] >= largest[1]  # ranked by post-fit impact
    assert set(result.to_dict()["impacts"]) == set(result.labels)


def test_pulls_are_shifts_in_units_of_the_prior_sd():
    from bayesfit.inference.ranking import pulls

    model = _model()
    values = {"weights": np.array([1.3, 0.85, 1.1])}
    errors = {"weights": np.array([0.2, 0.05, 0.14])}
    result = pulls(model, values, errors)
    assert result.labels == ["weights[bkg_a]", "weights[bkg_b]"]
    gamma_mean, gamma_sd = 51.0 / 50.0, np.sqrt(51.0) / 50.0  # Gamma(a + 1, tau) of the Poisson measurement
    np.testing.assert_allclose(result.pull, [(0.85 - 1.0) / 0.1, (1.1 - gamma_mean) / gamma_sd])
    np.testing.assert_allclose(result.error, [0.05 / 0.1, 0.14 / gamma_sd])
    assert result.to_dict()["weights[bkg_a]"]["pull"] == pytest.approx(-1.5)
