"""HistFactory interpolation codes against closed forms and pyhf's reference interpolators."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from bayesfit import interpolation
from bayesfit.errors import PredictorError

# Three systematics on four bins, with asymmetric and one-sided variations.
NOMINAL = np.array([[10.0, 20.0, 5.0, 1.0], [3.0, 4.0, 5.0, 6.0], [50.0, 40.0, 30.0, 20.0]])
DOWN = np.array([[8.0, 19.0, 4.0, 0.8], [2.5, 4.5, 4.0, 5.0], [45.0, 41.0, 29.0, 15.0]])
UP = np.array([[13.0, 21.5, 5.5, 1.5], [3.1, 4.5, 6.5, 6.1], [52.0, 43.0, 33.0, 30.0]])
ALPHAS = np.array([-3.2, -1.0, -0.999, -0.6, -0.1, 0.0, 0.05, 0.5, 0.999, 1.0, 1.7, 4.0])


@pytest.fixture(scope="module")
def evaluate():
    """One compiled function: all four codes and their alpha-derivatives for a batch of alphas."""
    alpha = pt.dvector("alpha")
    column = alpha[:, None, None]  # (n_alpha, 1, 1) against templates (n_sys, n_bins)
    outputs = []
    for code in ("0", "4p"):
        outputs.append(interpolation.additive_shift(column, NOMINAL, DOWN, UP, code))
    for code in ("1", "4"):
        outputs.append(interpolation.multiplicative_factor(column, NOMINAL, DOWN, UP, code))
    # elementwise in alpha, so the gradient of the sum is the derivative per alpha
    derivatives = [pytensor.grad(output.sum(), alpha) for output in outputs[1::2]]
    function = pytensor.function([alpha], outputs + derivatives)
    names = ["0", "4p", "1", "4", "d4p", "d4"]
    return lambda values: dict(zip(names, function(np.asarray(values, dtype=float))))


def test_piecewise_codes_match_closed_forms(evaluate):
    result = evaluate(ALPHAS)
    a = ALPHAS[:, None, None]
    expected_code0 = np.where(a > 0, a * (UP - NOMINAL), a * (NOMINAL - DOWN))
    expected_code1 = np.where(a > 0, (UP / NOMINAL) ** a, (DOWN / NOMINAL) ** (-a))
    np.testing.assert_allclose(result["0"], expected_code0, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(result["1"], expected_code1, rtol=1e-14)


def test_polynomial_codes_follow_the_variations_outside_and_at_the_knots(evaluate):
    result = evaluate(ALPHAS)
    a = ALPHAS[:, None, None]
    outside = np.abs(a) >= 1
    linear = np.where(a > 0, a * (UP - NOMINAL), a * (NOMINAL - DOWN))
    exponential = np.where(a > 0, (UP / NOMINAL) ** a, (DOWN / NOMINAL) ** (-a))
    np.testing.assert_allclose(result["4p"][outside.repeat(3, 1).repeat(4, 2)],
                               linear[outside.repeat(3, 1).repeat(4, 2)], rtol=1e-12)
    np.testing.assert_allclose(result["4"][outside.repeat(3, 1).repeat(4, 2)],
                               exponential[outside.repeat(3, 1).repeat(4, 2)], rtol=1e-12)
    at_zero = evaluate([0.0])
    np.testing.assert_allclose(at_zero["4p"], 0.0, atol=1e-15)
    np.testing.assert_allclose(at_zero["4"], 1.0, rtol=1e-15)


def test_polynomial_codes_are_smooth_across_the_knots(evaluate):
    """Value and first derivative agree just inside and just outside alpha = +-1."""
    eps = 1e-7
    inside, outside = evaluate([1 - eps, -1 + eps]), evaluate([1 + eps, -1 - eps])
    for key in ("4p", "4", "d4p", "d4"):
        np.testing.assert_allclose(inside[key], outside[key], rtol=1e-5, atol=1e-6, err_msg=key)
    # the derivative (summed over all templates) at the knot equals that of the outer branch
    np.testing.assert_allclose(outside["d4"][0], np.sum(np.log(UP / NOMINAL) * UP / NOMINAL), rtol=1e-5)
    np.testing.assert_allclose(outside["d4p"][1], np.sum(NOMINAL - DOWN), rtol=1e-5)


def test_code4_coefficients_solve_the_boundary_conditions():
    """Second derivatives of the polynomial at +-1 match those of the exponential branches."""
    ratio_up, ratio_down = np.array([1.3, 0.9]), np.array([0.8, 0.95])
    a1, a2, a3, a4, a5, a6 = interpolation.code4_coefficients(ratio_up, ratio_down)
    second = lambda x: 2 * a2 + 6 * a3 * x + 12 * a4 * x**2 + 20 * a5 * x**3 + 30 * a6 * x**4
    np.testing.assert_allclose(second(1.0), np.log(ratio_up) ** 2 * ratio_up, rtol=1e-12)
    np.testing.assert_allclose(second(-1.0), np.log(ratio_down) ** 2 * ratio_down, rtol=1e-12)


def test_against_pyhf_interpolators(evaluate):
    pyhf = pytest.importorskip("pyhf")
    pyhf.set_backend("numpy")
    result = evaluate(ALPHAS)
    histogramssets = np.stack([DOWN, NOMINAL, UP], axis=1)[:, None]  # (n_sys, 1 histo, 3, n_bins)
    alphasets = np.tile(ALPHAS, (3, 1))  # (n_sys, n_alpha)
    for code, ours in ((0, "0"), ("4p", "4p"), (1, "1"), (4, "4")):
        theirs = pyhf.interpolators.get(code)(histogramssets.tolist())(alphasets)  # (n_sys, 1, n_alpha, n_bins)
        np.testing.assert_allclose(result[ours], np.transpose(theirs[:, 0], (1, 0, 2)), rtol=1e-12, atol=1e-12,
                                   err_msg=code)


def test_bad_inputs_raise():
    alpha = pt.dvector("alpha")
    with pytest.raises(PredictorError, match="code '7'"):
        interpolation.additive_shift(alpha, NOMINAL, DOWN, UP, code="7")
    with pytest.raises(PredictorError, match="down/nominal must be finite and > 0"):
        interpolation.multiplicative_factor(alpha, [1.0, 2.0], [0.5, 0.0], [1.5, 2.5], code="4")
    with pytest.raises(PredictorError, match="non-finite"):
        interpolation.additive_shift(alpha, [1.0, np.nan], [0.5, 1.0], [1.5, 2.5], code="0")
