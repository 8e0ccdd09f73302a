"""Frequentist inference on a workspace: ML fit, POI profile, asymptotic CLs, upper limit.

The objective is ``-2 log L`` of :class:`~bayesfit.histfactory.model.HistFactoryModel` (pyhf's
``twice_nll``), minimised with scipy's L-BFGS-B within the measurement's bounds, value and gradient
from one compiled PyTensor function, in parameters scaled by the square root of the Hessian diagonal
at the start (which makes the first step nearly a Newton step); fixed parameters stay at their
initial values. Errors come from
the inverse Hessian (automatic differentiation).

CLs uses the test statistic ``q~_mu`` of Cowan, Cranmer, Gross and Vitells, Eur. Phys. J. C 71
(2011) 1554, in the asymptotic approximation, with the Asimov dataset of the background-only
(``mu = 0``) conditional fit to the data, exactly as ``pyhf.infer.hypotest(test_stat="qtilde")``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from bayesfit.errors import InferenceError
from bayesfit.histfactory.model import HistFactoryModel, ObservedData

__all__ = [
    "FitResult",
    "ProfileResult",
    "HypotestResult",
    "UpperLimitResult",
    "fit",
    "fixed_poi_fit",
    "profile_poi",
    "hypotest",
    "upper_limit",
    "AsymptoticCLs",
]

# Test-statistic shifts of the expected band, in pyhf's order: CLs from the -2 sigma to the +2 sigma
# band (the first entry gives the lowest expected limit).
EXPECTED_SIGMAS = np.array([2.0, 1.0, 0.0, -1.0, -2.0])


@dataclass(frozen=True)
class FitResult:
    """A maximum-likelihood fit.

    ``values``, ``errors``: flat parameter vector and its standard errors ``(n_parameters,)``
    (``errors`` zero for fixed parameters, NaN when not computed); ``covariance``
    ``(n_parameters, n_parameters)`` or ``None``; ``twice_nll``: ``-2 log L`` at the minimum.
    """

    values: np.ndarray
    errors: np.ndarray
    covariance: np.ndarray | None
    twice_nll: float
    poi: float
    poi_error: float
    success: bool
    n_evaluations: int
    message: str


@dataclass(frozen=True)
class ProfileResult:
    """``twice_delta_nll[i] = -2 log(L(poi_values[i], best nuisance) / L(best fit))``."""

    poi_values: np.ndarray
    twice_nll: np.ndarray
    twice_delta_nll: np.ndarray
    best_fit: FitResult


@dataclass(frozen=True)
class HypotestResult:
    """Asymptotic CLs at ``poi``: observed values and the expected band (-2..+2 sigma, as pyhf)."""

    poi: float
    cls: float
    clsb: float
    clb: float
    cls_expected: np.ndarray
    q_tilde: float
    q_tilde_asimov: float


@dataclass(frozen=True)
class UpperLimitResult:
    """Upper limit on the POI at confidence level ``1 - alpha``: observed and expected (-2..+2 sigma)."""

    observed: float
    expected: np.ndarray
    alpha: float


def _minimize(model: HistFactoryModel, data: ObservedData, init: np.ndarray, fixed: np.ndarray,
              errors: bool) -> FitResult:
    free = ~fixed
    theta = np.array(init, dtype=float)
    scale = _curvature_scale(model, data, theta, free)
    n_calls = 0

    def objective(scaled: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal n_calls
        n_calls += 1
        theta[free] = scaled / scale
        value, gradient = model.twice_nll_and_grad(theta, data)
        if not np.isfinite(value):  # a trial step left the region of positive rates: step back
            return _OUTSIDE, np.zeros(len(scale))
        return value, gradient[free] / scale

    result = optimize.minimize(
        objective, theta[free] * scale, jac=True, method="L-BFGS-B", bounds=model.bounds[free] * scale[:, None],
        options={"maxiter": 10_000, "maxfun": 20_000, "ftol": 1e-15, "gtol": 1e-9, "maxcor": 30},
    )
    theta[free] = result.x / scale
    value = model.twice_nll_and_grad(theta, data)[0]
    if not np.isfinite(value):
        raise InferenceError(f"fit of {model.measurement['name']!r}: -2 log L is {value} at the minimum")
    covariance, uncertainties = None, np.full(model.n_parameters, np.nan)
    if errors:
        hessian = model.twice_nll_hessian(theta, data)[np.ix_(free, free)]
        try:
            free_covariance = 2.0 * np.linalg.inv(hessian)
        except np.linalg.LinAlgError:
            raise InferenceError(f"fit of {model.measurement['name']!r}: the Hessian is singular") from None
        covariance = np.zeros((model.n_parameters, model.n_parameters))
        covariance[np.ix_(free, free)] = free_covariance
        uncertainties = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    return FitResult(
        values=theta.copy(), errors=uncertainties, covariance=covariance, twice_nll=value,
        poi=float(theta[model.poi_index]), poi_error=float(uncertainties[model.poi_index]),
        success=bool(result.success), n_evaluations=n_calls, message=str(result.message),
    )


_OUTSIDE = 1e300


def _curvature_scale(model: HistFactoryModel, data: ObservedData, theta: np.ndarray, free: np.ndarray) -> np.ndarray:
    """sqrt of the Hessian diagonal at the start: in these units the problem is well conditioned."""
    curvature = np.abs(np.diag(model.twice_nll_hessian(theta, data)))[free]
    return np.sqrt(np.where(np.isfinite(curvature) & (curvature > 0), curvature, 1.0))


def fit(model: HistFactoryModel, data: ObservedData | None = None, *, init: np.ndarray | None = None,
        errors: bool = True) -> FitResult:
    """Maximum-likelihood fit of all free parameters (pyhf's ``infer.mle.fit``)."""
    init = model.inits if init is None else np.asarray(init, dtype=float)
    return _minimize(model, model.data if data is None else data, init, model.fixed, errors)


def fixed_poi_fit(model: HistFactoryModel, poi: float, data: ObservedData | None = None, *,
                  init: np.ndarray | None = None, errors: bool = False) -> FitResult:
    """Fit with the POI fixed at ``poi`` (the conditional fit of the profile likelihood)."""
    low, high = model.bounds[model.poi_index]
    if not low <= poi <= high:
        raise InferenceError(f"{model.poi_name} = {poi:g} is outside its bounds [{low:g}, {high:g}]")
    init = np.array(model.inits if init is None else init, dtype=float)
    init[model.poi_index] = poi
    fixed = model.fixed.copy()
    fixed[model.poi_index] = True
    return _minimize(model, model.data if data is None else data, init, fixed, errors)


def profile_poi(model: HistFactoryModel, poi_values: Sequence[float], data: ObservedData | None = None) -> ProfileResult:
    """``-2 Delta log L`` of the POI profile at ``poi_values`` (nuisance parameters refitted)."""
    data = model.data if data is None else data
    best = fit(model, data)
    values = np.asarray(poi_values, dtype=float)
    twice_nll = np.array([fixed_poi_fit(model, poi, data).twice_nll for poi in values])
    return ProfileResult(values, twice_nll, twice_nll - best.twice_nll, best)


class AsymptoticCLs:
    """Asymptotic ``q~_mu`` CLs for one dataset; fits independent of the tested POI are done once.

    Calling the object with a POI value returns a :class:`HypotestResult`.
    """

    def __init__(self, model: HistFactoryModel, data: ObservedData | None = None) -> None:
        low = model.bounds[model.poi_index][0]
        if low != 0.0:
            raise InferenceError(f"q~_mu needs the lower bound of {model.poi_name} at 0, it is {low:g}")
        self.model = model
        self.data = model.data if data is None else data
        self.free_fit = fit(model, self.data, errors=False)
        background = fixed_poi_fit(model, 0.0, self.data)
        self.asimov = model.asimov_data(background.values)
        self.free_fit_asimov = fit(model, self.asimov, errors=False)

    @staticmethod
    def _q_tilde(model: HistFactoryModel, poi: float, data: ObservedData, free_fit: FitResult) -> float:
        conditional = fixed_poi_fit(model, poi, data)
        q = max(conditional.twice_nll - free_fit.twice_nll, 0.0)
        return 0.0 if free_fit.poi > poi else q

    def q_tilde(self, poi: float) -> float:
        """Observed ``q~_mu``."""
        return self._q_tilde(self.model, poi, self.data, self.free_fit)

    def q_tilde_asimov(self, poi: float) -> float:
        """``q~_mu`` of the background-only Asimov dataset."""
        return self._q_tilde(self.model, poi, self.asimov, self.free_fit_asimov)

    def expected_cls(self, poi: float) -> np.ndarray:
        """Expected CLs band at ``poi``, -2 to +2 sigma (pyhf's order)."""
        sqrt_qa = np.sqrt(self.q_tilde_asimov(poi))
        return _cls(EXPECTED_SIGMAS, sqrt_qa)[2]

    def __call__(self, poi: float) -> HypotestResult:
        q, q_asimov = self.q_tilde(poi), self.q_tilde_asimov(poi)
        sqrt_q, sqrt_qa = np.sqrt(q), np.sqrt(q_asimov)
        if sqrt_q <= sqrt_qa:
            statistic = sqrt_q - sqrt_qa
        else:
            statistic = (q - q_asimov) / (2.0 * sqrt_qa)
        clsb, clb, cls = _cls(statistic, sqrt_qa)
        return HypotestResult(float(poi), float(cls), float(clsb), float(clb),
                              _cls(EXPECTED_SIGMAS, sqrt_qa)[2], float(q), float(q_asimov))


def _cls(statistic: np.ndarray | float, sqrt_qa: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CLs+b, CLb and CLs for a test statistic in ``-mu_hat/sigma`` space."""
    clsb = stats.norm.cdf(-(np.asarray(statistic) + sqrt_qa))
    clb = stats.norm.cdf(-np.asarray(statistic))
    return clsb, clb, clsb / clb


def hypotest(model: HistFactoryModel, poi: float, data: ObservedData | None = None) -> HypotestResult:
    """Asymptotic CLs at ``poi`` with its expected band (pyhf's ``hypotest(..., "qtilde")``)."""
    return AsymptoticCLs(model, data)(poi)


def _root(function: Callable[[float], float], low: float, high: float, what: str) -> float:
    if function(high) > 0:
        raise InferenceError(f"{what}: CLs is still above alpha at the POI upper bound {high:g}")
    return float(optimize.brentq(function, low, high, xtol=1e-6, rtol=1e-8))


def upper_limit(model: HistFactoryModel, data: ObservedData | None = None, alpha: float = 0.05) -> UpperLimitResult:
    """Upper limit on the POI where CLs falls to ``alpha``, by root finding (observed and expected)."""
    calculator = AsymptoticCLs(model, data)
    low, high = model.bounds[model.poi_index]
    low = low + 1e-6 * (high - low)  # q~ vanishes at the lower bound: start just above it
    observed = _root(lambda poi: calculator(poi).cls - alpha, low, high, "observed limit")
    expected = np.array([
        _root(lambda poi, i=i: calculator.expected_cls(poi)[i] - alpha, low, high, f"expected limit ({-s:+g} sigma)")
        for i, s in enumerate(EXPECTED_SIGMAS)
    ])
    return UpperLimitResult(observed, expected, alpha)
