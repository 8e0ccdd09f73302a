"""Detector +-1 sigma variations interpolated by nuisance parameters, against closed forms."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import optimize

from bayesfit.errors import PredictorError
from bayesfit.inference.fit import fit
from bayesfit.model import BinnedModel
from bayesfit.predictors import TemplatePredictor
from bayesfit.predictors.shifts import InterpolatedShifts

TEMPLATES = np.array([[10.0, 20.0, 5.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
NOMINAL = TEMPLATES.sum(axis=0)  # at weights (1, 1)
DOWN = {"scale": NOMINAL * np.array([0.9, 0.95, 1.1, 1.0]), "eff": NOMINAL * np.array([0.97, 0.97, 0.97, 0.97])}
UP = {"scale": NOMINAL * np.array([1.2, 1.05, 0.85, 1.0]), "eff": NOMINAL * np.array([1.03, 1.03, 1.03, 1.03])}


@functools.cache
def shifted(code: str) -> InterpolatedShifts:
    """One predictor per code for the module: each compiles its graph once."""
    variations = {name: (DOWN[name], UP[name]) for name in ("scale", "eff")}
    return InterpolatedShifts(TemplatePredictor(TEMPLATES), NOMINAL, variations, code=code)


def code1_numpy(alpha: float, name: str) -> np.ndarray:
    ratio = (UP[name] if alpha >= 0 else DOWN[name]) / NOMINAL
    return ratio ** abs(alpha)


def code0_numpy(alpha: float, name: str) -> np.ndarray:
    return alpha * (UP[name] - NOMINAL) if alpha >= 0 else alpha * (NOMINAL - DOWN[name])


@pytest.mark.parametrize("point", [(0.0, 0.0), (0.5, -1.3), (-2.0, 0.7), (1.0, -1.0)])
def test_codes_1_and_0_match_closed_forms(point):
    scale, eff = point
    weights = np.array([1.3, 0.8])
    base = weights @ TEMPLATES
    multiplicative = shifted("1").evaluate(weights=weights, scale=scale, eff=eff)[0]
    np.testing.assert_allclose(multiplicative, base * code1_numpy(scale, "scale") * code1_numpy(eff, "eff"), rtol=1e-12)
    additive = shifted("0").evaluate(weights=weights, scale=scale, eff=eff)[0]
    np.testing.assert_allclose(additive, base + code0_numpy(scale, "scale") + code0_numpy(eff, "eff"), rtol=1e-12)


def test_code_4_hits_the_variations_and_extrapolates_exponentially():
    predictor = shifted("4")
    ones = np.ones(2)
    np.testing.assert_allclose(predictor.evaluate(weights=ones, scale=1.0)[0], UP["scale"], rtol=1e-12)
    np.testing.assert_allclose(predictor.evaluate(weights=ones, scale=-1.0)[0], DOWN["scale"], rtol=1e-12)
    np.testing.assert_allclose(
        predictor.evaluate(weights=ones, eff=2.5)[0], NOMINAL * code1_numpy(2.5, "eff"), rtol=1e-12
    )


def test_constrained_nuisance_is_pulled_as_a_gaussian_constraint_predicts():
    # data at +0.5 sigma of "eff" with the weights fixed: the fit with a unit-Gaussian constraint
    # on eff and a flat scale must equal a direct scipy minimisation of the same -ln L
    weights = np.ones(2)
    counts = np.round(shifted("1").evaluate(weights=weights, eff=0.5)[0] * 40)
    big = InterpolatedShifts(TemplatePredictor(TEMPLATES * 40), NOMINAL * 40,
                             {n: (DOWN[n] * 40, UP[n] * 40) for n in ("scale", "eff")}, code="1")
    model = BinnedModel(big, counts, priors={"eff": {"Normal": {"mu": 0, "sigma": 1}}})
    result = fit(model, kind="map", fixed={"weights": weights, "scale": 0.0})

    def nll(eff: float) -> float:
        expected = 40 * NOMINAL * code1_numpy(eff, "eff")
        mask = expected > 0
        return float(np.sum(expected[mask] - counts[mask] * np.log(expected[mask])) + 0.5 * eff**2)

    reference = optimize.minimize_scalar(nll, bounds=(-3, 3), method="bounded", options={"xatol": 1e-10})
    assert float(result.values["eff"]) == pytest.approx(reference.x, abs=1e-5)


def test_bad_variations_are_named():
    with pytest.raises(PredictorError, match="shape"):
        InterpolatedShifts(TemplatePredictor(TEMPLATES), NOMINAL, {"scale": (DOWN["scale"][:3], UP["scale"])})
    zero_down = DOWN["scale"].copy()
    zero_down[1] = 0.0
    with pytest.raises(PredictorError, match=r"scale down is 0 in bin 1.*additive code"):
        InterpolatedShifts(TemplatePredictor(TEMPLATES), NOMINAL, {"scale": (zero_down, UP["scale"])})
    with pytest.raises(PredictorError, match="clash"):
        InterpolatedShifts(TemplatePredictor(TEMPLATES), NOMINAL, {"weights": (DOWN["eff"], UP["eff"])})
