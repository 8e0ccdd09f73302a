"""HistFactory interpolation codes as PyTensor graphs.

A systematic uncertainty is published as a nominal prediction and its ``-1 sigma`` (``down``) and
``+1 sigma`` (``up``) variations. The interpolation code turns the nuisance parameter ``alpha``
(``alpha = 0`` nominal, ``alpha = +-1`` the variations) into either

* an additive shift of the nominal, ``nominal + shift(alpha)`` (codes ``0`` and ``4p``), or
* a multiplicative factor on the nominal, ``nominal * factor(alpha)`` (codes ``1`` and ``4``).

The conventions are those of HistFactory and pyhf (code 4 and 4p use ``alpha0 = 1``):

========  ===========  ============================================================================
code      kind         definition
========  ===========  ============================================================================
``0``     additive     piecewise linear: ``alpha (up - nominal)`` for ``alpha > 0``,
                       ``alpha (nominal - down)`` otherwise
``4p``    additive     linear outside ``|alpha| <= 1``, a 6th-order polynomial inside that matches
                       value, first and second derivative at ``alpha = +-1``
``1``     factor       piecewise exponential: ``(up/nominal)**alpha`` for ``alpha > 0``,
                       ``(down/nominal)**(-alpha)`` otherwise
``4``     factor       exponential outside ``|alpha| < alpha0``, a 6th-order polynomial inside
                       (continuous up to the second derivative)
========  ===========  ============================================================================

Every function here is elementwise: ``alpha`` (a PyTensor tensor or array) broadcasts against the
constant numpy arrays ``nominal``, ``down`` and ``up``. For ``n_sys`` systematics on ``n_bins`` bins
pass templates of shape ``(n_sys, n_bins)`` and ``alpha[:, None]``; the result has the broadcast
shape. Template-only terms (ratios, polynomial coefficients) are computed once, in numpy, when the
graph is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytensor.tensor as pt

from bayesfit.errors import PredictorError

__all__ = [
    "ADDITIVE_CODES",
    "MULTIPLICATIVE_CODES",
    "additive_shift",
    "multiplicative_factor",
    "code0",
    "code1",
    "code4",
    "code4p",
    "code4_coefficients",
]

TensorLike = Any


def _code4_inverse_matrix(alpha0: float) -> np.ndarray:
    """Inverse of the 6x6 system fixing the code-4 polynomial ``1 + sum_i a_i alpha**i``.

    The conditions are value, first and second derivative of the exponential branches at
    ``alpha = +-alpha0``; the columns act on ``(up**a0 - 1, down**a0 - 1, ln(up) up**a0,
    -ln(down) down**a0, ln(up)**2 up**a0, ln(down)**2 down**a0)`` (ratios to the nominal).
    """
    a = float(alpha0)
    return np.array(
        [
            [15 / (16 * a), -15 / (16 * a), -7 / 16, -7 / 16, a / 16, -a / 16],
            [3 / (2 * a**2), 3 / (2 * a**2), -9 / (16 * a), 9 / (16 * a), 1 / 16, 1 / 16],
            [-5 / (8 * a**3), 5 / (8 * a**3), 5 / (8 * a**2), 5 / (8 * a**2), -1 / (8 * a), 1 / (8 * a)],
            [-3 / (2 * a**4), -3 / (2 * a**4), 7 / (8 * a**3), -7 / (8 * a**3), -1 / (8 * a**2), -1 / (8 * a**2)],
            [3 / (16 * a**5), -3 / (16 * a**5), -3 / (16 * a**4), -3 / (16 * a**4), 1 / (16 * a**3), -1 / (16 * a**3)],
            [1 / (2 * a**6), 1 / (2 * a**6), -5 / (16 * a**5), 5 / (16 * a**5), 1 / (16 * a**4), 1 / (16 * a**4)],
        ]
    )


def _as_float_array(name: str, values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(array)):
        raise PredictorError(f"interpolation: {name} has non-finite entries")
    return array


def _positive_ratios(nominal: Any, down: Any, up: Any, code: str) -> tuple[np.ndarray, np.ndarray]:
    """``up/nominal`` and ``down/nominal``; code 1 and 4 need them strictly positive."""
    nominal = _as_float_array("nominal", nominal)
    ratio_up = _as_float_array("up", up) / nominal
    ratio_down = _as_float_array("down", down) / nominal
    for label, ratio in (("up/nominal", ratio_up), ("down/nominal", ratio_down)):
        bad = ~(np.isfinite(ratio) & (ratio > 0))
        if bad.any():
            position = tuple(int(i) for i in np.argwhere(bad)[0])
            raise PredictorError(
                f"interpolation code {code}: {label} must be finite and > 0, got "
                f"{np.asarray(ratio)[position] if ratio.ndim else ratio} at index {position}"
            )
    return ratio_up, ratio_down


def code0(alpha: TensorLike, nominal: Any, down: Any, up: Any) -> pt.TensorVariable:
    """Additive piecewise-linear shift (code 0)."""
    nominal = _as_float_array("nominal", nominal)
    delta_up = _as_float_array("up", up) - nominal
    delta_down = nominal - _as_float_array("down", down)
    alpha = pt.as_tensor_variable(alpha)
    return pt.switch(alpha > 0, alpha * delta_up, alpha * delta_down)


def code4p(alpha: TensorLike, nominal: Any, down: Any, up: Any) -> pt.TensorVariable:
    """Additive shift, linear for ``|alpha| > 1`` and a 6th-order polynomial inside (code 4p).

    Inside: ``alpha * (S + alpha * A * (15 + alpha**2 * (3 alpha**2 - 10)))`` with
    ``S = (delta_up + delta_down) / 2`` and ``A = (delta_up - delta_down) / 16``.
    """
    nominal = _as_float_array("nominal", nominal)
    delta_up = _as_float_array("up", up) - nominal
    delta_down = nominal - _as_float_array("down", down)
    half_sum = 0.5 * (delta_up + delta_down)
    asymmetry = 0.0625 * (delta_up - delta_down)
    alpha = pt.as_tensor_variable(alpha)
    alpha_squared = alpha * alpha
    inside = alpha * (half_sum + alpha * asymmetry * (15.0 + alpha_squared * (3.0 * alpha_squared - 10.0)))
    return pt.switch(alpha > 1.0, alpha * delta_up, pt.switch(alpha < -1.0, alpha * delta_down, inside))


def code1(alpha: TensorLike, nominal: Any, down: Any, up: Any) -> pt.TensorVariable:
    """Multiplicative piecewise-exponential factor (code 1)."""
    ratio_up, ratio_down = _positive_ratios(nominal, down, up, "1")
    alpha = pt.as_tensor_variable(alpha)
    return pt.switch(alpha > 0, pt.power(ratio_up, alpha), pt.power(ratio_down, -alpha))


def code4_coefficients(ratio_up: Any, ratio_down: Any, alpha0: float = 1.0) -> np.ndarray:
    """Coefficients ``a_1..a_6`` of the code-4 polynomial, shape ``(6, *ratio.shape)``."""
    if not alpha0 > 0:
        raise PredictorError(f"interpolation code 4: alpha0 must be > 0, got {alpha0}")
    ratio_up = np.asarray(ratio_up, dtype=float)
    ratio_down = np.asarray(ratio_down, dtype=float)
    up_alpha0 = ratio_up**alpha0
    down_alpha0 = ratio_down**alpha0
    log_up = np.log(ratio_up)
    log_down = np.log(ratio_down)
    rhs = np.stack(
        [
            up_alpha0 - 1.0,
            down_alpha0 - 1.0,
            log_up * up_alpha0,
            -log_down * down_alpha0,
            log_up**2 * up_alpha0,
            log_down**2 * down_alpha0,
        ]
    )
    return np.tensordot(_code4_inverse_matrix(alpha0), rhs, axes=1)


def code4(alpha: TensorLike, nominal: Any, down: Any, up: Any, alpha0: float = 1.0) -> pt.TensorVariable:
    """Multiplicative factor: exponential for ``|alpha| >= alpha0``, polynomial inside (code 4)."""
    ratio_up, ratio_down = _positive_ratios(nominal, down, up, "4")
    coefficients = code4_coefficients(ratio_up, ratio_down, alpha0)
    alpha = pt.as_tensor_variable(alpha)
    polynomial = coefficients[5]
    for coefficient in coefficients[4::-1]:
        polynomial = coefficient + alpha * polynomial
    inside = 1.0 + alpha * polynomial
    outside = pt.switch(alpha >= alpha0, pt.power(ratio_up, alpha), pt.power(ratio_down, -alpha))
    return pt.switch(pt.abs(alpha) >= alpha0, outside, inside)


ADDITIVE_CODES: dict[str, Callable[..., pt.TensorVariable]] = {"0": code0, "4p": code4p}
MULTIPLICATIVE_CODES: dict[str, Callable[..., pt.TensorVariable]] = {"1": code1, "4": code4}


def _lookup(codes: dict[str, Callable[..., pt.TensorVariable]], code: Any, kind: str):
    key = str(code).removeprefix("code")
    if key not in codes:
        raise PredictorError(f"unknown {kind} interpolation code {code!r}; choose one of {sorted(codes)}")
    return codes[key]


def additive_shift(alpha: TensorLike, nominal: Any, down: Any, up: Any, code: str = "4p") -> pt.TensorVariable:
    """Shift to add to ``nominal`` for nuisance parameter ``alpha`` (code ``"0"`` or ``"4p"``)."""
    return _lookup(ADDITIVE_CODES, code, "additive")(alpha, nominal, down, up)


def multiplicative_factor(alpha: TensorLike, nominal: Any, down: Any, up: Any, code: str = "4") -> pt.TensorVariable:
    """Factor to multiply ``nominal`` with for nuisance parameter ``alpha`` (code ``"1"`` or ``"4"``)."""
    return _lookup(MULTIPLICATIVE_CODES, code, "multiplicative")(alpha, nominal, down, up)
