"""The HistFactory rates as products with constant matrices (``ModifierLayout.dense``) equal a
numpy computation that scatters every modifier onto its bins from the layout's index arrays, on a
workspace with every modifier type, a parameter that is both a histosys and a normsys, and two
modifiers of one parameter on one sample (separate layers)."""

from __future__ import annotations

import copy

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from test_histfactory import ATLAS, SMALL

from bayesfit.histfactory import build_model, load_workspace

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def _code4p(alpha, nominal, down, up):
    up, down = up - nominal, nominal - down
    inside = alpha * (0.5 * (up + down) + alpha * (up - down) / 16 * (15 + alpha**2 * (3 * alpha**2 - 10)))
    return np.where(alpha > 1, alpha * up, np.where(alpha < -1, alpha * down, inside))


def _code0(alpha, nominal, down, up):
    return np.where(alpha > 0, alpha * (up - nominal), alpha * (nominal - down))


def _code1(alpha, up, down):
    return np.where(alpha > 0, up**alpha, down**-alpha)


def _code4(alpha, up, down):
    # the polynomial 1 + sum_i a_i alpha^i matching value, slope and curvature of the exponentials at +-1
    rows = []
    for x in (1.0, -1.0):
        rows += [[x**i for i in range(1, 7)], [i * x ** (i - 1) for i in range(1, 7)],
                 [i * (i - 1) * x ** (i - 2) for i in range(1, 7)]]
    matrix = np.array(rows)[[0, 3, 1, 4, 2, 5]]
    lu, ld = np.log(up), np.log(down)
    rhs = np.stack([up - 1, down - 1, lu * up, -ld * down, lu**2 * up, ld**2 * down])
    coefficients = np.linalg.solve(matrix, rhs)
    inside = 1 + sum(coefficients[i - 1] * alpha**i for i in range(1, 7))
    return np.where(np.abs(alpha) >= 1, _code1(alpha, up, down), inside)


def _scattered(layout, theta):
    """Rates ``(n_samples, n_bins)`` with numpy scatter-adds over the layout's index arrays."""
    shift = np.zeros(layout.nominal.size)
    additive = _code4p if layout.histosys_code == "4p" else _code0
    np.add.at(shift, layout.histosys_target, additive(theta[layout.histosys_parameter], layout.histosys_nominal,
                                                      layout.histosys_down, layout.histosys_up))
    multiplicative = _code4 if layout.normsys_code == "4" else _code1
    factors = multiplicative(theta[layout.normsys_parameter], layout.normsys_up, layout.normsys_down)
    product = np.ones(layout.nominal.size)
    np.multiply.at(product, layout.normsys_target, factors[layout.normsys_source])
    values = np.append(theta, 1.0)
    direct = np.prod(values[layout.factor_index], axis=0).ravel()
    return ((layout.nominal.ravel() + shift) * product * direct).reshape(layout.nominal.shape)


def _doubled():
    """SMALL with a second normsys and histosys of "jes" on the SR background (two per cell)."""
    spec = copy.deepcopy(SMALL)
    modifiers = spec["channels"][0]["samples"][1]["modifiers"]
    modifiers.append({"name": "jes", "type": "normsys", "data": {"hi": 1.2, "lo": 0.7}})
    modifiers.append({"name": "jes", "type": "histosys", "data": {"hi_data": [55.0, 39.0, 31.0],
                                                                   "lo_data": [46.0, 41.0, 28.0]}})
    return spec


@pytest.mark.parametrize("codes", [("4", "4p"), ("1", "0")])
@pytest.mark.parametrize("spec", ["small", "doubled", "atlas"])
def test_dense_rates_equal_scattered_rates(spec, codes):
    spec = {"small": lambda: SMALL, "doubled": _doubled, "atlas": lambda: load_workspace(ATLAS).spec}[spec]()
    layout = build_model(spec, normsys_code=codes[0], histosys_code=codes[1]).predictor.layout  # configs applied
    theta = pt.vector("theta")
    rates = pytensor.function([theta], layout.expected_by_sample(theta))
    rng = np.random.default_rng(7)
    start = np.concatenate([p.inits for p in layout.parameter_sets])
    for width in (0.0, 0.3, 1.5):  # inside and outside the polynomial region |alpha| < 1
        point = start + width * rng.normal(size=start.size) * np.where(start == 0, 1.0, 0.1)
        expected = _scattered(layout, point)
        np.testing.assert_allclose(rates(point), expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    assert layout.dense.normsys_up.shape[0] == (2 if spec is not SMALL and len(spec["channels"]) == 2 else 1)
