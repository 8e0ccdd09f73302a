"""Likelihoods for finite Monte Carlo statistics.

A predictor built from weighted simulation knows, per bin and at every parameter point, the sum
of weights ``mu`` and the sum of squared weights ``s2`` (:meth:`Predictor.expected_sumw2`). Two
treatments of the statistical uncertainty of ``mu`` are offered:

- :func:`effective_logp`, the effective likelihood of Arguelles, Schneider and Yuan
  (JHEP 06 (2019) 030), a Poisson likelihood marginalised over a Gamma-distributed expectation
  with mean ``mu`` and variance ``s2``:
  ``alpha = mu^2/s2 + 1``, ``beta = mu/s2``,
  ``ln L = alpha ln beta + lnGamma(k+alpha) - lnGamma(k+1) - (k+alpha) ln(1+beta) - lnGamma(alpha)``.
  It tends to the Poisson likelihood as ``s2 -> 0``.
- Barlow-Beeston-lite: one scale ``b_i`` per bin multiplies ``mu_i``, with a Gaussian constraint
  ``b_i ~ N(1, sigma_i)``, ``sigma_i^2 = s2_i / mu_i^2``. :func:`barlow_beeston_lite_logp` profiles
  the scales in closed form; :func:`barlow_beeston_scaled_logp` is the joint density for sampled
  scales.

Empty-bin conventions (all functions): a bin with ``s2 = 0`` or ``mu <= 0`` has no usable
Monte Carlo uncertainty and uses the plain Poisson likelihood of ``mu`` (so ``mu = 0, k = 0``
contributes 0 and ``mu = 0, k > 0`` is impossible, as for Poisson data). All inputs broadcast:
``observed`` ``(n,)`` against ``expected`` and ``sumw2`` ``(n,)`` or ``(K, n)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pytensor.tensor as pt

from bayesfit.likelihood.poisson import poisson_logp

__all__ = [
    "barlow_beeston_lite_logp",
    "barlow_beeston_lite_scales",
    "barlow_beeston_scaled_logp",
    "effective_logp",
]


class _SafeStatistics(NamedTuple):
    """Bins with a usable MC uncertainty, and ``mu``, ``s2`` replaced by 1 elsewhere."""

    usable: pt.TensorVariable
    expected: pt.TensorVariable
    sumw2: pt.TensorVariable


def _safe_statistics(expected: Any, sumw2: Any) -> _SafeStatistics:
    # replacing unusable entries keeps both branches of the final switch (and their gradients)
    # finite, so the switch never multiplies 0 by inf
    expected = pt.as_tensor_variable(expected)
    sumw2 = pt.as_tensor_variable(sumw2)
    usable = pt.gt(sumw2, 0) & pt.gt(expected, 0)
    return _SafeStatistics(
        usable, pt.switch(usable, expected, 1.0), pt.switch(usable, sumw2, 1.0)
    )


def _log_gamma_ratio(shifted: Any, alpha: Any) -> pt.TensorVariable:
    """``lnGamma(alpha + shift) - lnGamma(alpha)`` for ``shift >= 0``, precise for huge ``alpha``.

    For ``alpha >= 10`` the difference of Stirling series (to ``1/x^5``, error below 1e-10) is
    written so that nothing of size ``alpha ln alpha`` cancels; below, ``gammaln`` is exact.
    """
    shift = pt.as_tensor_variable(shifted)
    end = alpha + shift
    stirling = (
        (alpha - 0.5) * pt.log1p(shift / alpha)
        + shift * pt.log(end)
        - shift
        + (1.0 / end - 1.0 / alpha) / 12.0
        - (1.0 / end**3 - 1.0 / alpha**3) / 360.0
        + (1.0 / end**5 - 1.0 / alpha**5) / 1260.0
    )
    return pt.switch(pt.lt(alpha, 10.0), pt.gammaln(end) - pt.gammaln(alpha), stirling)


def effective_logp(observed: Any, expected: Any, sumw2: Any) -> pt.TensorVariable:
    """Per-bin effective log likelihood (Arguelles, Schneider, Yuan 2019), ``ln k!`` included.

    ``observed`` are the counts ``k``, ``expected`` the sum of weights ``mu`` and ``sumw2`` the sum
    of squared weights ``s2`` (both in events). Evaluated as
    ``-alpha ln(1 + s2/mu) - k ln(1 + mu/s2) + lnGamma(k+alpha) - lnGamma(alpha) - lnGamma(k+1)``,
    which equals the formula above, with the Gamma-function ratio in a form that keeps precision
    for small ``s2`` (huge ``alpha``).
    """
    observed = pt.as_tensor_variable(observed, dtype="float64")
    usable, mu, s2 = _safe_statistics(expected, sumw2)
    alpha = mu**2 / s2 + 1.0
    effective = (
        -alpha * pt.log1p(s2 / mu)
        - observed * pt.log1p(mu / s2)
        + _log_gamma_ratio(observed, alpha)
        - pt.gammaln(observed + 1.0)
    )
    return pt.switch(usable, effective, poisson_logp(observed, expected))


def barlow_beeston_lite_scales(observed: Any, expected: Any, sumw2: Any) -> pt.TensorVariable:
    """Per-bin scales ``b`` that maximise ``Poisson(k | b mu) N(b | 1, sigma)``, in closed form.

    Solving ``k/b - mu - (b - 1)/sigma^2 = 0`` gives
    ``b = (1 - mu sigma^2 + sqrt((1 - mu sigma^2)^2 + 4 k sigma^2)) / 2`` (``b >= 0``; ``b = 1`` in
    bins without usable Monte Carlo uncertainty).
    """
    observed = pt.as_tensor_variable(observed, dtype="float64")
    usable, mu, s2 = _safe_statistics(expected, sumw2)
    relative_variance = s2 / mu**2
    linear = 1.0 - s2 / mu  # 1 - mu sigma^2
    scales = 0.5 * (linear + pt.sqrt(linear**2 + 4.0 * observed * relative_variance))
    return pt.switch(usable, scales, 1.0)


def barlow_beeston_lite_logp(observed: Any, expected: Any, sumw2: Any) -> pt.TensorVariable:
    """Per-bin Barlow-Beeston-lite log likelihood with the scales profiled in closed form.

    ``ln L = ln Poisson(k | b mu) - (b - 1)^2 / (2 sigma^2)`` at the scales of
    :func:`barlow_beeston_lite_scales`. The Gaussian constraint carries no normalisation, as in
    HistFactory, so the value tends to the Poisson one as ``s2 -> 0``.
    """
    observed = pt.as_tensor_variable(observed, dtype="float64")
    usable, mu, s2 = _safe_statistics(expected, sumw2)
    scales = barlow_beeston_lite_scales(observed, expected, sumw2)
    constraint = pt.switch(usable, (scales - 1.0) ** 2 * mu**2 / (2.0 * s2), 0.0)
    return poisson_logp(observed, scales * pt.as_tensor_variable(expected)) - constraint


def barlow_beeston_scaled_logp(
    observed: Any, expected: Any, sumw2: Any, scales: Any
) -> pt.TensorVariable:
    """Per-bin joint log density of counts and *sampled* positive scales ``b``.

    ``ln Poisson(k | b mu) + ln N_+(b | 1, sigma)``, the constraint a normal density truncated to
    ``b > 0`` and fully normalised (``sigma`` depends on the parameters). In bins without usable
    Monte Carlo uncertainty the expectation is ``mu`` itself and the scale has a unit normal
    density truncated to ``b > 0``, which keeps the posterior proper.
    """
    observed = pt.as_tensor_variable(observed, dtype="float64")
    scales = pt.as_tensor_variable(scales)
    usable, mu, s2 = _safe_statistics(expected, sumw2)
    sigma = pt.switch(usable, pt.sqrt(s2) / mu, 1.0)
    log_normal = (
        -0.5 * ((scales - 1.0) / sigma) ** 2
        - pt.log(sigma)
        - 0.5 * np.log(2.0 * np.pi)
        - pt.log(0.5 * pt.erfc(-1.0 / (sigma * np.sqrt(2.0))))  # truncation to b > 0
    )
    rate = pt.switch(usable, scales * pt.as_tensor_variable(expected), expected)
    return poisson_logp(observed, rate) + log_normal
