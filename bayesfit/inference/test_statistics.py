"""Test statistics, each in one class: how to compute it on data and its asymptotic distribution.

Likelihood-ratio statistics of the parameter of interest ``mu`` (Cowan, Cranmer, Gross and
Vitells, Eur. Phys. J. C 71 (2011) 1554, arXiv:1007.1727), with
``t = -2 ln [L(mu, best others) / L(mu_hat, best others)]``:

=============  ===========================================================================
``tmu``        ``t_mu``: two-sided
``tmu_tilde``  ``t~_mu``: ``mu_hat`` restricted to ``>= 0`` (``L(0, ...)`` in the denominator when ``mu_hat < 0``)
``qmu``        ``q_mu``: ``t_mu`` for ``mu_hat <= mu``, else 0 (upper limits)
``qmu_tilde``  ``q~_mu``: ``t~_mu`` for ``mu_hat <= mu``, else 0 (pyhf's ``qmu_tilde``, ``"qtilde"``)
``q0``         ``q_0``: ``t_0`` for ``mu_hat >= 0``, else 0 (discovery; tested value 0)
=============  ===========================================================================

The non-tilde statistics use the POI's bounds as the model has them (give it a negative lower
bound to let ``mu_hat`` go below 0, as pyhf expects for ``qmu``); the tilde ones restrict the
POI to ``>= 0`` in the unconditional fit.

Asymptotically ``mu_hat ~ Normal(mu', sigma)`` under a true value ``mu'``, with ``sigma`` from
the Asimov data of the alternative (Cowan et al. eq. 32), and every statistic is a function of
``mu_hat`` (:meth:`PoiStatistic.asymptotic_value`). :meth:`PoiStatistic.asymptotic_tail` gives
``P(t > t_obs | mu')`` in closed form; this is pyhf's convention (``1 - F(t_obs)``, so that
``q = 0`` gives ``p = 1/2`` under the tested value). Toy p-values count ``t >= t_obs``.

The expected band (:meth:`PoiStatistic.band_tail`) of the one-sided statistics (``q0``, ``qmu``,
``qmu_tilde``) follows pyhf and ROOT: its p-values are normal tails of ``mu_hat`` (the
``-mu_hat / sigma`` space), not clipped where the statistic is 0 (``mu_hat`` above ``mu`` for
``q_mu``, below it for ``q_0``), where the clipped tail would give every such entry the p-value of
``q = 0``. Where the statistic is positive both are the same.

For :func:`~bayesfit.inference.toys.toy_pvalue` of any hypothesis: :class:`LikelihoodRatio`
(``2 [nll(hypothesis) - nll(best)]``, or against the saturated model when the hypothesis is
empty) and :class:`MaxLikelihood` (ReMU's ``nll`` of the fit under the hypothesis).

Every statistic is a small picklable object: toy workers receive it with the objective.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple

import numpy as np
from scipy import special, stats

from bayesfit.errors import ModelError
from bayesfit.inference.fit import fit
from bayesfit.inference.objective import Objective
from bayesfit.inference.results import FitResult
from bayesfit.likelihood.poisson import saturated_poisson_logp
from bayesfit.model import ObservedData

__all__ = [
    "HYPOTHESIS_STATISTICS",
    "TEST_STATISTICS",
    "LikelihoodRatio",
    "MaxLikelihood",
    "PoiStatistic",
    "Q0",
    "QMu",
    "QMuTilde",
    "StatisticValue",
    "TMu",
    "TMuTilde",
    "poi_statistic",
    "saturated_nll",
]

#: A conditional fit may end this much below the unconditional one (rounding) before the
#: unconditional fit is redone from it.
_REFIT_TOLERANCE = 1e-9


class StatisticValue(NamedTuple):
    """A statistic on some data: ``value``, the fit under the hypothesis (``conditional``) and the
    unconditional fit (``free``, ``None`` where the statistic has none)."""

    value: float
    conditional: FitResult
    free: FitResult | None


def _fit_under(objective: Objective, data: ObservedData, fixed: Mapping[str, float], start: Mapping[str, Any] | None,
               bounds: Mapping[str, Any] | None = None) -> FitResult:
    """A fit without Hessian: from ``start`` alone (toys), or from the default starts (observed data)."""
    starts = None if start is None else [start]
    return fit(objective, observed=data, fixed=fixed, bounds=bounds, starts=starts,
               n_random_starts=0 if start is not None else None, errors=False)


def _free_fit(objective: Objective, data: ObservedData, conditional: FitResult, start: Mapping[str, Any] | None,
              bounds: Mapping[str, Any] | None = None) -> FitResult:
    """The unconditional fit; redone from the conditional solution if it ended above it."""
    free = _fit_under(objective, data, {}, start, bounds)
    if conditional.nll < free.nll - _REFIT_TOLERANCE:
        again = fit(objective, observed=data, bounds=bounds, starts=[conditional.values], n_random_starts=0,
                    errors=False)
        free = again if again.nll < free.nll else free
    return free


# ---------------------------------------------------------------------- statistics of the POI
class PoiStatistic(ABC):
    """A likelihood-ratio statistic of the POI entry ``poi`` at the tested value ``mu``."""

    name: ClassVar[str]
    #: Restrict ``mu_hat >= 0`` in the unconditional fit.
    tilde: ClassVar[bool] = False
    #: Default alternative of the Asimov data and of CLb: the background (0) for limits, 1 for q0.
    default_alternative: ClassVar[float] = 0.0

    def __init__(self, poi: str, mu: float) -> None:
        self.poi = poi
        self.mu = float(mu)

    def __call__(self, objective: Objective, data: ObservedData, start: Mapping[str, Any] | None = None,
                 free: FitResult | None = None) -> StatisticValue:
        """The statistic on ``data``; ``free`` is the unconditional fit if already known (it does
        not depend on ``mu``)."""
        conditional = _fit_under(objective, data, {self.poi: self.mu}, start)
        if free is None or conditional.nll < free.nll - _REFIT_TOLERANCE:
            free = _free_fit(objective, data, conditional, start, self.free_bounds(objective))
        mu_hat = free.x[objective.index(self.poi)]
        twice = max(2.0 * (conditional.nll - free.nll), 0.0)
        return StatisticValue(float(self.from_fits(twice, mu_hat)), conditional, free)

    def free_bounds(self, objective: Objective) -> dict[str, tuple[float, None]] | None:
        """Bounds of the unconditional fit: ``mu >= 0`` for the tilde statistics."""
        if self.tilde and objective.lower[objective.index(self.poi)] < 0:
            return {self.poi: (0.0, None)}
        return None

    @abstractmethod
    def from_fits(self, twice_delta_nll: Any, mu_hat: Any) -> np.ndarray:
        """The statistic from ``2 [nll(mu) - nll(free)]`` and the unconditional ``mu_hat``
        (arrays of toys, or scalars: a 0-d array)."""

    @abstractmethod
    def asymptotic_value(self, mu_hat: float, sigma: float) -> float:
        """The statistic as a function of ``mu_hat`` in the asymptotic limit (Cowan et al. Sec. 3)."""

    @abstractmethod
    def asymptotic_tail(self, t: float, mu_prime: float, sigma: float) -> float:
        """``P(statistic > t | true value mu_prime)`` with ``mu_hat ~ Normal(mu_prime, sigma)``."""

    def direction(self, alternative: float) -> float:
        """``+1`` if the statistic grows as ``mu_hat`` moves from ``mu`` towards the alternative."""
        return 1.0 if alternative > self.mu else -1.0

    def band_tail(self, mu_hat: float, mu_prime: float, sigma: float) -> float:
        """The p-value under ``mu_prime`` of the expected band's point ``mu_hat`` (see
        :class:`~bayesfit.inference.calculators.AsymptoticCalculator`): the tail of the
        statistic's asymptotic distribution at its value there."""
        return self.asymptotic_tail(self.asymptotic_value(mu_hat, sigma), mu_prime, sigma)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.poi!r}, mu={self.mu:g})"


def _phi(x: float) -> float:
    return float(special.ndtr(x))


class TMu(PoiStatistic):
    """``t_mu = -2 ln lambda(mu)``, two-sided."""

    name = "tmu"

    def from_fits(self, twice_delta_nll: Any, mu_hat: Any) -> np.ndarray:
        return np.asarray(twice_delta_nll, dtype=float)

    def asymptotic_value(self, mu_hat: float, sigma: float) -> float:
        return ((self.mu - mu_hat) / sigma) ** 2

    def asymptotic_tail(self, t: float, mu_prime: float, sigma: float) -> float:
        root = np.sqrt(max(t, 0.0))
        return _phi((self.mu - sigma * root - mu_prime) / sigma) + _phi(-(self.mu + sigma * root - mu_prime) / sigma)


class TMuTilde(PoiStatistic):
    """``t~_mu``: as ``t_mu`` with ``mu_hat`` restricted to ``>= 0``."""

    name = "tmu_tilde"
    tilde = True

    def from_fits(self, twice_delta_nll: Any, mu_hat: Any) -> np.ndarray:
        return np.asarray(twice_delta_nll, dtype=float)

    def asymptotic_value(self, mu_hat: float, sigma: float) -> float:
        if mu_hat >= 0:
            return ((self.mu - mu_hat) / sigma) ** 2
        return (self.mu**2 - 2.0 * self.mu * mu_hat) / sigma**2

    def asymptotic_tail(self, t: float, mu_prime: float, sigma: float) -> float:
        root = np.sqrt(max(t, 0.0))
        return _phi((_tilde_cut(self.mu, t, sigma) - mu_prime) / sigma) + _phi(-(self.mu + sigma * root - mu_prime) / sigma)


class QMu(PoiStatistic):
    """``q_mu``: ``t_mu`` for ``mu_hat <= mu``, else 0 (one-sided, for upper limits)."""

    name = "qmu"

    def from_fits(self, twice_delta_nll: Any, mu_hat: Any) -> np.ndarray:
        return np.where(np.asarray(mu_hat) <= self.mu, twice_delta_nll, 0.0)

    def asymptotic_value(self, mu_hat: float, sigma: float) -> float:
        return ((self.mu - mu_hat) / sigma) ** 2 if mu_hat <= self.mu else 0.0

    def asymptotic_tail(self, t: float, mu_prime: float, sigma: float) -> float:
        return _phi((self.mu - sigma * np.sqrt(max(t, 0.0)) - mu_prime) / sigma)

    def band_tail(self, mu_hat: float, mu_prime: float, sigma: float) -> float:
        return _phi((mu_hat - mu_prime) / sigma)  # unclipped (module docstring)


class QMuTilde(PoiStatistic):
    """``q~_mu``: ``t~_mu`` for ``mu_hat <= mu``, else 0 (pyhf's ``qmu_tilde``)."""

    name = "qmu_tilde"
    tilde = True

    def from_fits(self, twice_delta_nll: Any, mu_hat: Any) -> np.ndarray:
        return np.where(np.asarray(mu_hat) <= self.mu, twice_delta_nll, 0.0)

    def asymptotic_value(self, mu_hat: float, sigma: float) -> float:
        if mu_hat > self.mu:
            return 0.0
        if mu_hat >= 0:
            return ((self.mu - mu_hat) / sigma) ** 2
        return (self.mu**2 - 2.0 * self.mu * mu_hat) / sigma**2

    def asymptotic_tail(self, t: float, mu_prime: float, sigma: float) -> float:
        return _phi((_tilde_cut(self.mu, t, sigma) - mu_prime) / sigma)

    def band_tail(self, mu_hat: float, mu_prime: float, sigma: float) -> float:
        return _phi((mu_hat - mu_prime) / sigma)  # unclipped (module docstring)


class Q0(PoiStatistic):
    """``q_0``: ``t_0`` for ``mu_hat >= mu`` (the tested value, normally 0), else 0 (discovery)."""

    name = "q0"
    default_alternative = 1.0

    def from_fits(self, twice_delta_nll: Any, mu_hat: Any) -> np.ndarray:
        return np.where(np.asarray(mu_hat) >= self.mu, twice_delta_nll, 0.0)

    def asymptotic_value(self, mu_hat: float, sigma: float) -> float:
        return ((mu_hat - self.mu) / sigma) ** 2 if mu_hat >= self.mu else 0.0

    def asymptotic_tail(self, t: float, mu_prime: float, sigma: float) -> float:
        return _phi(-(self.mu + sigma * np.sqrt(max(t, 0.0)) - mu_prime) / sigma)

    def band_tail(self, mu_hat: float, mu_prime: float, sigma: float) -> float:
        return _phi(-(mu_hat - mu_prime) / sigma)  # unclipped (module docstring)


def _tilde_cut(mu: float, t: float, sigma: float) -> float:
    """The ``mu_hat`` below which ``t~_mu > t`` on the low side: on the parabola while it stays at
    ``mu_hat >= 0``, else on the linear branch ``(mu^2 - 2 mu mu_hat) / sigma^2``."""
    root = np.sqrt(max(t, 0.0))
    if sigma * root <= mu:
        return mu - sigma * root
    return (mu**2 - sigma**2 * t) / (2.0 * mu) if mu > 0 else -np.inf


#: The POI statistics by name.
TEST_STATISTICS: dict[str, type[PoiStatistic]] = {cls.name: cls for cls in (Q0, QMu, QMuTilde, TMu, TMuTilde)}
#: pyhf's calculator names for them.
_ALIASES = {"q": "qmu", "qtilde": "qmu_tilde", "q_mu": "qmu", "q~_mu": "qmu_tilde", "t_mu": "tmu", "t~_mu": "tmu_tilde"}


def poi_statistic(name: str, poi: str, mu: float) -> PoiStatistic:
    """The statistic called ``name`` (or pyhf's alias ``"q"``, ``"qtilde"``) of ``poi`` at ``mu``."""
    key = _ALIASES.get(name, name)
    if key not in TEST_STATISTICS:
        raise ModelError(f"unknown test statistic {name!r}; valid: {sorted(TEST_STATISTICS)} (or 'q', 'qtilde')")
    return TEST_STATISTICS[key](poi, mu)


# ---------------------------------------------------------------------- any hypothesis (toy p-values)
def saturated_nll(objective: Objective, data: ObservedData) -> float | np.ndarray:
    """``-ln L`` of the saturated model: Poisson with ``mu = k`` in every bin (``ln k!`` included)
    and every constraint at its maximum; the user's terms have no saturated value (they count
    at the fit's point in the statistic). A float for one data set, ``(n_toys,)`` for toys
    (main ``(n_toys, n_bins)``, aux ``(n_toys, n_aux)``).

    For the finite-MC-statistics likelihoods this is the limit of infinite simulation, so the
    statistic is approximate there.
    """
    value = -(saturated_poisson_logp(data.main) + objective.model.saturated_aux_logp(data.aux))
    return float(value) if np.ndim(value) == 0 else value


class LikelihoodRatio:
    """``t = 2 [nll(hypothesis, best others) - nll(best fit)]``; with an empty hypothesis the best
    fit against the saturated model (goodness of fit)."""

    name = "likelihood_ratio"

    def __init__(self, hypothesis: Mapping[str, float]) -> None:
        self.hypothesis = dict(hypothesis)

    def __call__(self, objective: Objective, data: ObservedData, start: Mapping[str, Any] | None = None,
                 free: FitResult | None = None) -> StatisticValue:
        conditional = _fit_under(objective, data, self.hypothesis, start)
        if not self.hypothesis:
            return StatisticValue(max(2.0 * (conditional.nll - saturated_nll(objective, data)), 0.0), conditional, None)
        if free is None or conditional.nll < free.nll - _REFIT_TOLERANCE:
            free = _free_fit(objective, data, conditional, start if start is not None else conditional.values)
        return StatisticValue(max(2.0 * (conditional.nll - free.nll), 0.0), conditional, free)


class MaxLikelihood:
    """ReMU's maximum-likelihood statistic: ``t = nll`` of the fit under the hypothesis; a larger
    value is less compatible."""

    name = "max_likelihood"

    def __init__(self, hypothesis: Mapping[str, float]) -> None:
        self.hypothesis = dict(hypothesis)

    def __call__(self, objective: Objective, data: ObservedData, start: Mapping[str, Any] | None = None,
                 free: FitResult | None = None) -> StatisticValue:
        conditional = _fit_under(objective, data, self.hypothesis, start)
        return StatisticValue(conditional.nll, conditional, None)


#: Statistics of :func:`~bayesfit.inference.toys.toy_pvalue`.
HYPOTHESIS_STATISTICS: dict[str, type] = {LikelihoodRatio.name: LikelihoodRatio, MaxLikelihood.name: MaxLikelihood}


def hypothesis_statistic(name: str, hypothesis: Mapping[str, float]) -> LikelihoodRatio | MaxLikelihood:
    """The statistic called ``name`` of ``hypothesis``."""
    if name not in HYPOTHESIS_STATISTICS:
        raise ModelError(f"unknown statistic {name!r}; valid: {list(HYPOTHESIS_STATISTICS)}")
    return HYPOTHESIS_STATISTICS[name](hypothesis)


def chi2_sf(statistic: float, dof: int) -> float:
    """The chi-square tail probability (Wilks)."""
    return float(stats.chi2.sf(statistic, dof))
