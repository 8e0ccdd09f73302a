"""Hypothesis tests of the parameter of interest, and upper limits.

:func:`hypotest` is pyhf's ``hypotest`` for any :class:`~bayesfit.model.BinnedModel`: a test
statistic of :mod:`bayesfit.inference.test_statistics` by name (``q0``, ``qmu``, ``qmu_tilde``,
``tmu``, ``tmu_tilde``) and a calculator of :mod:`bayesfit.inference.calculators`
(``asymptotic`` or ``toys``) give CLs, CLs+b and CLb, observed and the expected band.

:func:`upper_limit` gives the value of the POI where CLs falls to ``1 - level`` (root finding, or
interpolation on a scan), with the expected limits of the band, or the Bayesian credible upper
limit (the ``level`` quantile of the POI's marginal posterior).

>>> result = hypotest(model, 1.0)                           # doctest: +SKIP
>>> result.cls, result.cls_expected                         # doctest: +SKIP
>>> hypotest(model, 0.0, test_statistic="q0").significance  # doctest: +SKIP
>>> upper_limit(model).observed                             # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import optimize

from bayesfit.errors import InferenceError, LimitNotFoundError, ModelError
from bayesfit.inference.calculators import CALCULATORS, AsymptoticCalculator, ToyCalculator
from bayesfit.inference.executors import ExecutorLike
from bayesfit.inference.objective import Objective, check_entry_value, objective_for
from bayesfit.inference.results import HypotestResult, UpperLimitResult
from bayesfit.model import BinnedModel

__all__ = ["LIMIT_METHODS", "hypotest", "upper_limit"]

#: Kinds of upper limits.
LIMIT_METHODS = ("cls", "credible")


def _poi(objective: Objective, poi: str | None) -> str:
    """The canonical label of the POI (the model's unless ``poi`` is given)."""
    name = poi or objective.model.poi
    if name is None:
        raise ModelError("no parameter of interest: give poi= here or BinnedModel(..., poi=...)")
    return objective.labels()[objective.index(name)]


def _calculator(
    model: BinnedModel | Objective,
    test_statistic: str,
    calculator: str,
    poi: str | None,
    alternative: float | None,
    observed: Any,
    toy_options: Mapping[str, Any],
) -> AsymptoticCalculator | ToyCalculator:
    if calculator not in CALCULATORS:
        raise ModelError(f"unknown calculator {calculator!r}; valid: {list(CALCULATORS)}")
    objective = objective_for(model)
    if objective.kind != "ml":
        raise ModelError("hypothesis tests need a maximum-likelihood objective (kind='ml')")
    label = _poi(objective, poi)
    data = objective.data(observed)
    if calculator == "asymptotic":
        return AsymptoticCalculator(objective, data, test_statistic, label, alternative)
    return ToyCalculator(objective, data, test_statistic, label, alternative, **toy_options)


def hypotest(
    model: BinnedModel | Objective,
    poi_value: float,
    *,
    test_statistic: str = "qmu_tilde",
    calculator: str = "asymptotic",
    poi: str | None = None,
    alternative: float | None = None,
    observed: Any | None = None,
    n_toys: int = 1000,
    n_toys_alternative: int | None = None,
    seed: Any = 0,
    executor: ExecutorLike | None = None,
    n_workers: int | None = None,
) -> HypotestResult:
    """Test ``poi = poi_value`` against the alternative.

    Parameters
    ----------
    poi_value:
        The tested value (0 for a discovery test with ``q0``).
    test_statistic:
        ``"qmu_tilde"`` (default, as pyhf), ``"qmu"``, ``"q0"``, ``"tmu"``, ``"tmu_tilde"`` (or
        pyhf's ``"q"``, ``"qtilde"``).
    calculator:
        ``"asymptotic"`` or ``"toys"`` (toy data include the auxiliary measurements).
    poi:
        The parameter of interest; default the model's.
    alternative:
        The POI value of the alternative (of CLb and of the Asimov data): 0 for limits, 1 for q0.
    observed:
        Data to test instead of the model's.
    n_toys, n_toys_alternative, seed, executor, n_workers:
        Toys under the tested value and under the alternative, their seed and where they run
        (see :func:`~bayesfit.inference.toys.toy_pvalue`).
    """
    toy_options = dict(n_toys=n_toys, n_toys_alternative=n_toys_alternative, seed=seed, executor=executor,
                       n_workers=n_workers)
    engine = _calculator(model, test_statistic, calculator, poi, alternative, observed, toy_options)
    index = engine.objective.index(engine.poi)
    check_entry_value(engine.poi, float(poi_value), engine.objective.lower[index], engine.objective.upper[index],
                      "hypotest")
    return engine.hypotest(float(poi_value))


def upper_limit(
    model: BinnedModel | Objective,
    *,
    level: float = 0.95,
    method: str = "cls",
    test_statistic: str = "qmu_tilde",
    calculator: str = "asymptotic",
    poi: str | None = None,
    scan: Sequence[float] | np.ndarray | None = None,
    observed: Any | None = None,
    idata: Any = None,
    sampling: Mapping[str, Any] | None = None,
    n_toys: int = 1000,
    n_toys_alternative: int | None = None,
    seed: Any = 0,
    executor: ExecutorLike | None = None,
    n_workers: int | None = None,
) -> UpperLimitResult:
    """Upper limit on the parameter of interest at ``level``.

    ``method="cls"``: the POI value where CLs (of ``test_statistic``, by ``calculator``) falls to
    ``1 - level``, observed and the expected band (-2 to +2 sigma). Without ``scan`` the roots are
    found to 1e-6 relative by Brent's method between the POI's lower bound and its upper bound
    (asymptotic calculator); with ``scan`` (needed for toys) CLs is evaluated there and the
    limits interpolated linearly at the first crossing.

    ``method="credible"``: the ``level`` quantile of the POI's marginal posterior, from ``idata``
    or a NUTS run with ``sampling`` options (see :func:`~bayesfit.inference.sample_posterior`).
    """
    if method not in LIMIT_METHODS:
        raise ModelError(f"unknown limit method {method!r}; valid: {list(LIMIT_METHODS)}")
    if not 0.0 < level < 1.0:
        raise ModelError(f"level must lie in (0, 1), got {level}")
    if method == "credible":
        return _credible_limit(model, level, poi, idata, sampling)
    toy_options = dict(n_toys=n_toys, n_toys_alternative=n_toys_alternative, seed=seed, executor=executor,
                       n_workers=n_workers)
    engine = _calculator(model, test_statistic, calculator, poi, None, observed, toy_options)
    alpha = 1.0 - level
    if scan is not None:
        return _scanned_limit(engine, np.asarray(scan, dtype=float), alpha, level)
    if not isinstance(engine, AsymptoticCalculator):
        raise ModelError("upper limits from toys need scan= (CLs from toys is noisy for root finding)")
    index = engine.objective.index(engine.poi)
    low, high = float(engine.objective.lower[index]), float(engine.objective.upper[index])
    low = max(low, engine.alternative)
    width = (high - low) if np.isfinite(high) else max(1.0, abs(low))
    low += 1e-6 * width  # the alternative itself cannot be tested
    observed_limit = _root(lambda mu: engine.hypotest(mu).cls - alpha, low, high, width, "observed limit")
    expected_limits = np.array([
        _root(lambda mu, i=i: engine.expected(mu)[2][i] - alpha, low, high, width, f"expected limit (band entry {i})")
        for i in range(5)
    ])
    return UpperLimitResult(engine.poi, level, "cls", observed_limit, expected_limits,
                            test_statistic=test_statistic, calculator=engine.name)


def _root(function: Callable[[float], float], low: float, high: float, width: float, what: str) -> float:
    """The root of the decreasing ``function`` above ``low``: bracketed by doubling a step from
    ``low`` (up to the bound ``high``), then found by Brent's method."""
    if function(low) < 0:
        return low
    step, top = 0.05 * width, low
    while True:
        bottom, top = top, min(low + step, high)
        if function(top) <= 0:
            break
        if top >= high:
            raise LimitNotFoundError(f"{what}: CLs is still above 1 - level at the POI's upper bound {high:g}")
        step *= 2.0
        if step > 1e12 * width:
            raise LimitNotFoundError(f"{what}: CLs does not fall below 1 - level; the POI is not constrained")
    return float(optimize.brentq(function, bottom, top, xtol=1e-10 * width, rtol=1e-7))


def _scanned_limit(engine: AsymptoticCalculator | ToyCalculator, scan: np.ndarray, alpha: float,
                   level: float) -> UpperLimitResult:
    scan = np.unique(scan)
    index = engine.objective.index(engine.poi)
    for value in (scan[0], scan[-1]):
        check_entry_value(engine.poi, float(value), engine.objective.lower[index], engine.objective.upper[index],
                          "upper_limit scan")
    results = [engine.hypotest(float(mu)) for mu in scan]
    observed = np.array([r.cls for r in results])
    expected = np.array([r.cls_expected for r in results])  # (n, 5)
    limits = [_crossing(scan, observed, alpha)] + [_crossing(scan, expected[:, i], alpha) for i in range(5)]
    return UpperLimitResult(engine.poi, level, "cls", limits[0], np.array(limits[1:]), scan, observed, expected,
                            test_statistic=engine.test_statistic, calculator=engine.name)


def _crossing(values: np.ndarray, cls: np.ndarray, alpha: float) -> float:
    """The first value where ``cls`` falls through ``alpha`` (linear interpolation); NaN if it never does."""
    below = np.flatnonzero(cls <= alpha)
    if below.size == 0:
        return float("nan")
    first = int(below[0])
    if first == 0:
        return float(values[0])
    return float(np.interp(alpha, [cls[first], cls[first - 1]], [values[first], values[first - 1]]))


def _credible_limit(model: BinnedModel | Objective, level: float, poi: str | None, idata: Any,
                    sampling: Mapping[str, Any] | None) -> UpperLimitResult:
    binned = model.model if isinstance(model, Objective) else model
    name = poi or binned.poi
    if name is None:
        raise ModelError("no parameter of interest: give poi= here or BinnedModel(..., poi=...)")
    variable, entry = binned.entry(name, "poi")
    if idata is None:
        from bayesfit.inference.posterior import sample_posterior

        idata = sample_posterior(binned, **{"progressbar": False, **dict(sampling or {})})
    if variable.name not in idata.posterior:
        raise InferenceError(f"the posterior has no variable {variable.name!r}: is idata from this model?")
    draws = np.asarray(idata.posterior[variable.name].values, dtype=float)
    samples = draws.reshape(draws.shape[0] * draws.shape[1], -1)[:, entry]
    return UpperLimitResult(variable.labels[entry], level, "credible", float(np.quantile(samples, level)))
