"""Calculators of :func:`~bayesfit.inference.hypotest`: the distribution of a test statistic under
the tested value and under the alternative, asymptotically or from toys.

Both take a compiled objective, observed data, a POI statistic of
:mod:`bayesfit.inference.test_statistics` and the alternative value (the background, 0, for
limits; 1 for ``q0``), and give a :class:`~bayesfit.inference.results.HypotestResult` per tested
value:

* :class:`AsymptoticCalculator`: ``mu_hat ~ Normal(mu', sigma)`` with ``sigma`` from the Asimov
  data of the alternative (its conditional fit to the observed data, main and auxiliary data at
  their expectations): ``sigma = |mu - mu_alt| / sqrt(t_A)``. Fits that do not depend on the
  tested value (unconditional fits to the data and to the Asimov data) are done once. The same
  numbers as pyhf's ``AsymptoticCalculator``.
* :class:`ToyCalculator`: toys generated at the conditional fits of the tested value and of the
  alternative to the observed data, auxiliary measurements resampled; ``p = P(t >= t_obs)``.
  The toys are fitted in batches (:mod:`bayesfit.inference.batched`; ``batched=False``: one
  fit per toy, same statistics).
  The expected band evaluates the p-values at the quantiles ``Phi(n)`` of the alternative's toy
  statistics.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayesfit.errors import InferenceError
from bayesfit.inference.executors import ExecutorLike
from bayesfit.inference.fit import fit
from bayesfit.inference.objective import Objective
from bayesfit.inference.results import EXPECTED_SIGMAS, FitResult, HypotestResult
from bayesfit.inference.test_statistics import PoiStatistic, poi_statistic
from bayesfit.inference.toys import asimov_data, run_toys
from bayesfit.model import ObservedData

__all__ = ["CALCULATORS", "AsymptoticCalculator", "ToyCalculator"]

#: Smallest ``t_A`` taken for the Asimov width (a model with no sensitivity at the tested value).
_TINY = 1e-300


def _ratio(numerator: np.ndarray | float, denominator: np.ndarray | float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(numerator, dtype=float) / np.asarray(denominator, dtype=float)


class _Calculator:
    """What both calculators share: the objective, data, statistic family and fits that do not
    depend on the tested value."""

    name = ""

    def __init__(self, objective: Objective, data: ObservedData, test_statistic: str, poi: str,
                 alternative: float | None) -> None:
        self.objective = objective
        self.data = data
        self.test_statistic = test_statistic
        self.poi = poi
        prototype = poi_statistic(test_statistic, poi, 0.0)
        self.alternative = float(type(prototype).default_alternative if alternative is None else alternative)
        self._conditional: dict[tuple[str, float], FitResult] = {}
        self.free_bounds = prototype.free_bounds(objective)
        self.free_observed = fit(objective, observed=data, bounds=self.free_bounds, errors=False)
        self.alternative_fit = self.conditional(self.alternative, "observed")
        # the alternative's fit generates the Asimov data and the toys: also from the model's own
        # start (from the free fit, a background-only fit can stop in another minimum: on the
        # ATLAS workspace 67 above in -ln L, with most nuisance parameters at their bounds)
        from_start = fit(objective, observed=data, fixed={poi: self.alternative}, errors=False)
        if from_start.nll < self.alternative_fit.nll:
            self.alternative_fit = self._conditional[("observed", self.alternative)] = from_start
        if self.alternative_fit.nll < self.free_observed.nll - 1e-9:  # the free fit missed the minimum
            self.free_observed = fit(objective, observed=data, bounds=self.free_bounds,
                                     starts=[self.alternative_fit.values, self.free_observed.values], errors=False)

    def statistic(self, mu: float) -> PoiStatistic:
        return poi_statistic(self.test_statistic, self.poi, mu)

    def conditional(self, mu: float, which: str) -> FitResult:
        """The fit at ``poi = mu`` to the observed (or Asimov) data, cached."""
        key = (which, float(mu))
        if key not in self._conditional:
            if which == "observed":
                data, starts, n_random = self.data, [self.free_observed.values], None
            else:
                data, starts, n_random = self.asimov, [self.alternative_fit.values], 0
            self._conditional[key] = fit(self.objective, observed=data, fixed={self.poi: mu}, starts=starts,
                                         n_random_starts=n_random, errors=False)
        return self._conditional[key]

    def observed_statistic(self, mu: float) -> float:
        statistic = self.statistic(mu)
        conditional = self.conditional(mu, "observed")
        return self._value(statistic, conditional, self.free_observed)

    def _value(self, statistic: PoiStatistic, conditional: FitResult, free: FitResult) -> float:
        mu_hat = free.x[self.objective.index(self.poi)]
        return float(statistic.from_fits(max(2.0 * (conditional.nll - free.nll), 0.0), mu_hat))

    def check_tested(self, mu: float) -> None:
        if np.isclose(mu, self.alternative):
            raise InferenceError(
                f"{self.poi} = {mu:g} is the alternative hypothesis itself; test another value "
                "(or set alternative=)"
            )


class AsymptoticCalculator(_Calculator):
    """Asymptotic distributions of the POI statistics (see the module docstring)."""

    name = "asymptotic"

    def __init__(self, objective: Objective, data: ObservedData, test_statistic: str, poi: str,
                 alternative: float | None = None) -> None:
        super().__init__(objective, data, test_statistic, poi, alternative)
        self.asimov = asimov_data(objective, self.alternative_fit.values)
        self.free_asimov = fit(objective, observed=self.asimov, bounds=self.free_bounds,
                               starts=[self.alternative_fit.values], n_random_starts=0, errors=False)

    def sigma(self, mu: float) -> tuple[float, float]:
        """``sigma`` of ``mu_hat`` at the tested ``mu`` and the Asimov statistic ``t_A``."""
        statistic = self.statistic(mu)
        t_asimov = self._value(statistic, self.conditional(mu, "asimov"), self.free_asimov)
        return abs(mu - self.alternative) / np.sqrt(max(t_asimov, _TINY)), t_asimov

    def expected(self, mu: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(clsb, clb, cls)`` of the expected band at ``mu``, each ``(5,)``."""
        self.check_tested(mu)
        statistic = self.statistic(mu)
        sigma, _ = self.sigma(mu)
        return self._expected(statistic, sigma)

    def _expected(self, statistic: PoiStatistic, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        direction = statistic.direction(self.alternative)
        mu_hats = [self.alternative + n * sigma * direction for n in EXPECTED_SIGMAS]
        clsb = np.array([statistic.band_tail(mu_hat, statistic.mu, sigma) for mu_hat in mu_hats])
        clb = np.array([statistic.band_tail(mu_hat, self.alternative, sigma) for mu_hat in mu_hats])
        return clsb, clb, _ratio(clsb, clb)

    def hypotest(self, mu: float) -> HypotestResult:
        self.check_tested(mu)
        statistic = self.statistic(mu)
        observed = self.observed_statistic(mu)
        sigma, t_asimov = self.sigma(mu)
        clsb = statistic.asymptotic_tail(observed, mu, sigma)
        clb = statistic.asymptotic_tail(observed, self.alternative, sigma)
        expected = self._expected(statistic, sigma)
        return HypotestResult(
            poi=self.poi, poi_value=float(mu), test_statistic=statistic.name, calculator=self.name,
            statistic=float(observed), clsb=float(clsb), clb=float(clb), cls=float(_ratio(clsb, clb)),
            clsb_expected=expected[0], clb_expected=expected[1], cls_expected=expected[2],
            statistic_asimov=float(t_asimov),
        )


class ToyCalculator(_Calculator):
    """Toy distributions of the POI statistics (see the module docstring)."""

    name = "toys"

    def __init__(self, objective: Objective, data: ObservedData, test_statistic: str, poi: str,
                 alternative: float | None = None, *, n_toys: int = 1000, n_toys_alternative: int | None = None,
                 seed: Any = 0, executor: ExecutorLike | None = None, n_workers: int | None = None,
                 batched: bool = True) -> None:
        super().__init__(objective, data, test_statistic, poi, alternative)
        self.n_toys = int(n_toys)
        self.n_toys_alternative = int(n_toys if n_toys_alternative is None else n_toys_alternative)
        self.seeds = np.random.SeedSequence(seed).spawn(2)
        self.executor, self.n_workers, self.batched = executor, n_workers, batched

    def hypotest(self, mu: float) -> HypotestResult:
        self.check_tested(mu)
        statistic = self.statistic(mu)
        observed = self.observed_statistic(mu)
        options = dict(executor=self.executor, n_workers=self.n_workers, batched=self.batched)
        null = run_toys(self.objective, statistic, self.conditional(mu, "observed").values, self.n_toys,
                        seed=self.seeds[0], **options)
        alternative = run_toys(self.objective, statistic, self.alternative_fit.values, self.n_toys_alternative,
                               seed=self.seeds[1], **options)
        if null.n_failed == null.n_toys or alternative.n_failed == alternative.n_toys:
            raise InferenceError(f"every toy fit failed at {self.poi} = {mu:g}")
        clsb = null.tail_fraction(observed)[0]
        clb = alternative.tail_fraction(observed)[0]
        quantiles = alternative.quantile(_normal_cdf(EXPECTED_SIGMAS))
        clsb_expected = np.array([null.tail_fraction(t)[0] for t in quantiles])
        clb_expected = np.array([alternative.tail_fraction(t)[0] for t in quantiles])
        return HypotestResult(
            poi=self.poi, poi_value=float(mu), test_statistic=statistic.name, calculator=self.name,
            statistic=float(observed), clsb=float(clsb), clb=float(clb), cls=float(_ratio(clsb, clb)),
            clsb_expected=clsb_expected, clb_expected=clb_expected, cls_expected=_ratio(clsb_expected, clb_expected),
            toys_null=null, toys_alternative=alternative,
        )


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    from scipy import special

    return special.ndtr(x)


#: The calculators by name.
CALCULATORS: dict[str, type[_Calculator]] = {"asymptotic": AsymptoticCalculator, "toys": ToyCalculator}
