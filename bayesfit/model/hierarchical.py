"""Hierarchical priors that sample: the adaptive map of Normal and LogNormal priors and its transforms.

A Normal or LogNormal prior whose arguments are hyperparameters (``Normal(1, tau)`` for a set of
normalisations, ``tau ~ HalfNormal(s)``) is sampled entry by entry as ``theta = a + v * u``
(LogNormal: ``ln theta = a + v * u``), ``u`` the sampled ``<name>_offset``, with

    ``v = sigma / sqrt(1 + sigma^2 F)``,  ``a = mu + (c - mu) * sigma^2 F / (1 + sigma^2 F)``,

``F`` the expected Fisher information of the main bins for that entry (:func:`information`) and
``c`` its start value: centred where the data dominate the prior (``sigma^2 F >> 1``),
non-centred where the prior dominates, partially centred in between, with the weight following
the sampled ``sigma`` (see :mod:`bayesfit.model.pymc_model` for the reasoning). For given
``mu`` and ``sigma`` the map is a change of variables, so the prior in natural units is exactly
the centred one.

Transforms (sampling coordinates ``y``): a one-sided bound ``b`` of an offset as
``u = b + softplus(y - b)``; a HalfNormal hyperparameter of scale ``s`` as ``s * softplus(y)``.
Both are logarithmic near the bound and linear far from it, where ``ln`` would compress or
exponentiate the coordinate and bring the funnel back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pytensor.tensor as pt

from bayesfit.errors import ModelError
from bayesfit.model.variables import ModelParameter, PriorGroup

if TYPE_CHECKING:
    from bayesfit.model.binned import BinnedModel

__all__ = ["INFORMATION_STEP", "hyperparameter_variable", "information", "location_scale_group", "start_values"]

#: Relative step of the finite differences of the predictor that measure the information (see
#: :func:`information`); the predictor is linear in most normalisations, and the information
#: only sets the sampling coordinates, never the density.
INFORMATION_STEP = 1e-4


def start_values(variable: ModelParameter, indices: np.ndarray) -> np.ndarray:
    """The start values of the entries ``indices`` of ``variable``."""
    return variable.start.ravel()[indices].astype(float)


def hyperparameter_variable(hyper: ModelParameter, variables: Mapping[str, Any]) -> Any:
    """The random variable of a hyperparameter; one with a HalfNormal prior of scale ``s`` is
    sampled as ``s * softplus(y)`` (see the module docstring)."""
    import pymc as pm

    prior = hyper.prior
    if prior.distribution != "HalfNormal":
        return prior.create(hyper.name, variables, initval=float(hyper.start))
    sigma = float(prior.arguments["sigma"])
    return pm.HalfNormal(hyper.name, sigma=sigma, initval=float(hyper.start), default_transform=_soft_positive(sigma))


def _soft_positive(scale: float) -> Any:
    """The transform ``value = scale * softplus(y)`` of a positive variable."""
    from pymc.logprob.transforms import Transform

    class SoftPositive(Transform):
        name = "soft_positive"

        def forward(self, value: Any, *inputs: Any) -> Any:
            ratio = value / scale
            return ratio + pt.log(-pt.expm1(-ratio))  # softplus^-1

        def backward(self, value: Any, *inputs: Any) -> Any:
            return scale * pt.softplus(value)

        def log_jac_det(self, value: Any, *inputs: Any) -> Any:
            return np.log(scale) - pt.softplus(-value)

    return SoftPositive()


def information(model: BinnedModel, variable: ModelParameter, group: PriorGroup) -> np.ndarray:
    """Expected Fisher information of the main bins for each entry of ``group`` given the others,
    ``(n,)``: ``F_i = sum_kb p_k (d lambda_kb / d theta_i)^2 / lambda_kb`` at the model's start
    point (``p_k`` the universe weights, bins with ``lambda_kb <= 0`` left out), by central finite
    differences of the predictor (one-sided at a bound). In the units of the prior's ``mu``: for
    LogNormal priors per unit of ``ln theta`` (``F_i theta_i^2``)."""
    point = model.start_point()
    expected = model.predictor.evaluate(model.predictor_values(point))  # (K, n_bins)
    weights = model.predictor.variation_weights / np.sum(model.predictor.variation_weights)
    start = variable.start.astype(float).ravel()
    with np.errstate(divide="ignore"):
        inverse = np.where(expected > 0, 1.0 / expected, 0.0)
    information = np.zeros(group.indices.size)
    for j, (index, lower, upper) in enumerate(zip(group.indices, group.lower, group.upper)):
        step = INFORMATION_STEP * max(abs(start[index]), 1.0)
        ends = []
        for end in (max(start[index] - step, lower), min(start[index] + step, upper)):
            shifted = start.copy()
            shifted[index] = end
            ends.append((end, model.predictor.evaluate(model.predictor_values(
                {**point, variable.name: shifted.reshape(variable.shape)}))))
        (low, expected_low), (high, expected_high) = ends
        derivative = (expected_high - expected_low) / (high - low)  # (K, n_bins)
        information[j] = float(weights @ np.sum(derivative**2 * inverse, axis=1))
    if group.prior.distribution == "LogNormal":
        information *= start[group.indices] ** 2
    return information


def location_scale_group(
    name: str, group: PriorGroup, variable: ModelParameter, variables: Mapping[str, Any], information: np.ndarray
) -> Any:
    """The entries of a Normal or LogNormal group as ``theta = a + v * u`` (LogNormal:
    ``exp(a + v * u)``), elementwise, with ``u`` (``<name>_offset``) normal and truncated to the
    bounds, ``v = sigma / sqrt(1 + sigma^2 F)`` and ``a = mu + (c - mu) sigma^2 F / (1 + sigma^2 F)``
    for the likelihood's ``information`` ``F`` ``(n,)`` (in the units of ``mu``) and the start
    values ``c`` (see the module docstring); ``F = 0`` is the plain non-centred
    ``theta = mu + sigma * u``. Returns the natural values ``(n,)``."""
    import pymc as pm

    arguments = group.prior.resolved(variables)
    mu, sigma = pt.as_tensor_variable(arguments["mu"]), pt.as_tensor_variable(arguments["sigma"])
    log_normal = group.prior.distribution == "LogNormal"
    lower, upper = group.lower, group.upper
    starts = start_values(variable, group.indices)
    if log_normal:
        with np.errstate(divide="ignore"):
            lower, upper, centre = np.log(np.maximum(lower, 0.0)), np.log(upper), np.log(starts)
    else:
        centre = starts
    shape = (group.indices.size,)
    # products of exponentials rather than quotients: PyTensor 2.38's algebraic canonicaliser does
    # not terminate on the quotients of sigma and sqrt(1 + sigma^2 F) that the bounds would hold
    log_sigma = pt.log(sigma)
    log_spread = 0.5 * pt.log1p(sigma**2 * information)  # ln(sigma / v)
    spread = pt.exp(log_spread)  # the prior sd of u
    scale, inverse_scale = pt.exp(log_sigma - log_spread), pt.exp(log_spread - log_sigma)  # v, 1 / v
    location = mu - (centre - mu) * pt.expm1(-2.0 * log_spread)  # a
    mu_start, sigma_start = _numeric(arguments["mu"]), _numeric(arguments["sigma"])
    initval = (centre - mu_start) / (sigma_start * np.sqrt(1.0 + sigma_start**2 * information))
    has_lower, has_upper = bool(np.all(np.isfinite(lower))), bool(np.all(np.isfinite(upper)))
    u_name = f"{name}_offset"
    u_mean = (mu - location) * inverse_scale
    if not (has_lower or has_upper):
        u = pm.Normal(u_name, u_mean, spread, shape=shape, initval=initval)
    else:
        ends = [((bound - location) * inverse_scale, (bound - mu) * pt.exp(-log_sigma)) if finite else (None, None)
                for bound, finite in ((lower, has_lower), (upper, has_upper))]
        u = _truncated_offset(u_name, u_mean, spread, *ends[0], *ends[1], shape=shape, initval=initval)
    value = location + scale * u
    return pt.exp(value) if log_normal else value


def _truncated_offset(
    name: str, mean: Any, sd: Any, lower: Any, lower_standard: Any, upper: Any, upper_standard: Any, *,
    shape: tuple[int, ...], initval: np.ndarray,
) -> Any:
    """``u ~ Normal(mean, sd)`` truncated to ``[lower, upper]`` (``None``: unbounded on that side),
    normalised with the standardised bounds ``(bound - mean) / sd`` given directly
    (``lower_standard``, ``upper_standard``, which do not depend on the map).

    Written as a ``pm.CustomDist`` rather than ``pm.TruncatedNormal``: PyTensor 2.38 does not
    finish rewriting the gradient of ``pm.TruncatedNormal`` when its ``sigma`` and bounds share the
    factor ``sqrt(1 + sigma^2 F)``, which cancels in the standardised bound."""
    import pymc as pm
    from pymc.distributions.dist_math import log_diff_normal_cdf, normal_lccdf, normal_lcdf
    from pymc.distributions.transforms import Interval

    has_lower, has_upper = lower is not None, upper is not None
    infinite = np.full(shape, np.inf)
    parameters = [pt.broadcast_to(pt.as_tensor_variable(value), shape) for value in (
        mean, sd, lower if has_lower else -infinite, upper if has_upper else infinite,
        lower_standard if has_lower else -infinite, upper_standard if has_upper else infinite,
    )]

    def logp(value: Any, mean: Any, sd: Any, lower: Any, upper: Any, low: Any, high: Any) -> Any:
        if has_lower and has_upper:
            normaliser = log_diff_normal_cdf(0.0, 1.0, high, low)
        elif has_lower:
            normaliser = normal_lccdf(0.0, 1.0, low)
        else:
            normaliser = normal_lcdf(0.0, 1.0, high)
        inside = pt.and_(pt.ge(value, lower), pt.le(value, upper))
        density = -0.5 * ((value - mean) / sd) ** 2 - pt.log(sd) - 0.5 * np.log(2.0 * np.pi) - normaliser
        return pt.switch(inside, density, -np.inf)

    def random(mean: Any, sd: Any, lower: Any, upper: Any, low: Any, high: Any,
               rng: np.random.Generator | None = None, size: Any = None) -> np.ndarray:
        from scipy import stats

        return mean + sd * stats.truncnorm.rvs(low, high, size=size, random_state=rng)

    if has_lower and has_upper:
        def bounds(*inputs: Any) -> tuple[Any, Any]:  # inputs: rng, size, then the parameters
            return inputs[4], inputs[5]

        transform: Any = Interval(bounds_fn=bounds)
    else:
        transform = _soft_bound(lower=has_lower)
    return pm.CustomDist(
        name, *parameters, logp=logp, random=random, signature="(),(),(),(),(),()->()", shape=shape,
        initval=initval, transform=transform,
    )


def _soft_bound(*, lower: bool) -> Any:
    """The transform ``u = b + softplus(y - b)`` (a lower bound ``b``; ``u = b - softplus(b - y)``
    for an upper one) of an offset from its sampling coordinate ``y``: ``u = y`` a few units away
    from the bound, logarithmic close to it. The bound is the offset's 3rd (lower) or 4th (upper)
    parameter, a graph of the hyperparameters (``(bound - a) / v``). A log transform
    ``y = ln(u - b)`` instead compresses ``y`` by the distance to the bound, ``~1 / sigma`` for a
    norm ``Normal(1, sigma)`` truncated at 0, and so puts back the funnel that the map removes."""
    from pymc.logprob.transforms import Transform

    class SoftBound(Transform):
        name = "soft_lower" if lower else "soft_upper"

        @staticmethod
        def _distance(value: Any, inputs: tuple[Any, ...]) -> tuple[Any, Any]:
            bound = inputs[4] if lower else inputs[5]  # inputs: rng, size, then the parameters
            return bound, (value - bound) if lower else (bound - value)

        def forward(self, value: Any, *inputs: Any) -> Any:
            bound, distance = self._distance(value, inputs)
            inverse = distance + pt.log(-pt.expm1(-distance))  # softplus^-1, stable for large distances
            return bound + inverse if lower else bound - inverse

        def backward(self, value: Any, *inputs: Any) -> Any:
            bound, distance = self._distance(value, inputs)
            return bound + pt.softplus(distance) if lower else bound - pt.softplus(distance)

        def log_jac_det(self, value: Any, *inputs: Any) -> Any:
            _, distance = self._distance(value, inputs)
            return -pt.softplus(-distance)  # ln sigmoid

    return SoftBound()


def _numeric(value: Any) -> np.ndarray:
    """A prior argument as a number: a hyperparameter is taken at its initial value."""
    if isinstance(value, np.ndarray):
        return value
    import pymc as pm

    initval = pm.modelcontext(None).rvs_to_initial_values.get(value)
    if initval is None or isinstance(initval, str):
        raise ModelError(f"prior argument {value} has no numeric initial value")
    return np.asarray(initval, dtype=float)
