"""Profile likelihoods: ``-2 Delta ln L`` scans with the other parameters re-fitted.

A scan walks outwards from the best fit, starting each fit from its neighbour's solution (warm
starts), and reuses one compiled objective for every point. Intervals are read off the scan where
``-2 Delta ln L`` crosses the chi-square quantile of the requested level (Wilks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy import stats

from bayesfit.errors import InferenceError
from bayesfit.inference.fit import FitResult, Objective, fit
from bayesfit.model import BinnedModel

__all__ = ["ProfileScan", "ProfileScan2D", "profile_likelihood", "profile_likelihood_2d"]


class ProfileScan(NamedTuple):
    """A 1-D profile-likelihood scan.

    Attributes
    ----------
    parameter:
        The scanned entry (a scalar parameter's name or an entry label such as ``"weights[2]"``).
    values:
        Scanned values, increasing, ``(n,)``.
    twice_delta_nll:
        ``-2 ln L(value, best other parameters) + 2 ln L(best fit)``, ``(n,)``.
    converged:
        Whether each conditional fit converged, ``(n,)``.
    best_fit:
        The fit the scan is relative to (unconditional, or under the values held fixed).
    """

    parameter: str
    values: np.ndarray
    twice_delta_nll: np.ndarray
    converged: np.ndarray
    best_fit: FitResult

    def p_values(self) -> np.ndarray:
        """Wilks p-value of each scanned value, ``chi2.sf(-2 Delta ln L, 1)``, ``(n,)``."""
        return stats.chi2.sf(np.maximum(self.twice_delta_nll, 0.0), 1)

    def interval(self, level: float = 0.682689) -> tuple[float, float]:
        """Lower and upper end of the profile-likelihood interval at ``level`` (Wilks, 1 dof).

        An end that the scan does not reach is returned as ``-inf`` / ``inf``.
        """
        threshold = stats.chi2.ppf(level, 1)
        return _crossings(self.values, self.twice_delta_nll, threshold)


class ProfileScan2D(NamedTuple):
    """A 2-D profile-likelihood scan on the grid ``values_x`` x ``values_y``.

    ``twice_delta_nll[i, j]`` belongs to ``(values_x[i], values_y[j])``; contours of the
    chi-square quantiles with 2 dof (2.30 for 68.3%, 5.99 for 95%) give joint regions.
    """

    parameters: tuple[str, str]
    values_x: np.ndarray
    values_y: np.ndarray
    twice_delta_nll: np.ndarray
    converged: np.ndarray
    best_fit: FitResult


def profile_likelihood(
    model: BinnedModel | Objective,
    parameter: str,
    values: Sequence[float] | np.ndarray,
    *,
    best_fit: FitResult | None = None,
    observed: Any | None = None,
    fixed: Mapping[str, float] | None = None,
) -> ProfileScan:
    """Scan ``-2 Delta ln L`` of one scalar entry over ``values``, re-fitting all others.

    Parameters
    ----------
    model:
        A :class:`~bayesfit.model.BinnedModel` or a compiled :class:`~bayesfit.inference.fit.Objective`
        (pass one to share its compilation between several scans).
    parameter:
        Name of a scalar parameter, or an entry label of a vector one (``"weights[2]"``).
    values:
        Values to scan (sorted internally).
    best_fit:
        The unconditional fit, if already done.
    observed:
        Counts to use instead of the model's.
    fixed:
        Other entries held at these values throughout (a hypothesis, e.g. ``{"model_B": 0.0}``);
        ``-2 Delta ln L`` is then relative to the best fit under that hypothesis, which
        ``best_fit`` must be if given.
    """
    objective = _objective(model)
    _check_entry(objective, parameter)
    fixed = dict(fixed or {})
    if parameter in fixed:
        raise InferenceError(f"cannot profile {parameter!r} while holding it fixed at {fixed[parameter]:g}")
    values = np.unique(np.asarray(values, dtype=float))
    if best_fit is None:
        best_fit = fit(objective, observed=observed, fixed=fixed)
    nll, converged = _scan_line(objective, fixed, parameter, values, best_fit, observed)
    return ProfileScan(parameter, values, 2.0 * (nll - best_fit.nll), converged, best_fit)


def profile_likelihood_2d(
    model: BinnedModel | Objective,
    parameters: tuple[str, str],
    values_x: Sequence[float] | np.ndarray,
    values_y: Sequence[float] | np.ndarray,
    *,
    best_fit: FitResult | None = None,
    observed: Any | None = None,
) -> ProfileScan2D:
    """Scan ``-2 Delta ln L`` over a grid of two scalar entries, re-fitting all others.

    Each row (fixed ``x``) is scanned outwards from the best-fit ``y`` with warm starts; the row
    starts from the solution of its neighbouring row.
    """
    objective = _objective(model)
    name_x, name_y = parameters
    for name in parameters:
        _check_entry(objective, name)
    values_x = np.unique(np.asarray(values_x, dtype=float))
    values_y = np.unique(np.asarray(values_y, dtype=float))
    if best_fit is None:
        best_fit = fit(objective, observed=observed)
    nll = np.empty((len(values_x), len(values_y)))
    converged = np.empty(nll.shape, dtype=bool)

    def row_fit(x_value: float, warm: FitResult) -> FitResult:
        return fit(objective, observed=observed, fixed={name_x: x_value}, starts=[warm.values], n_random_starts=0)

    row_fits = _walk_outwards(values_x, _entry_value(objective, best_fit, name_x), best_fit, row_fit)
    for i, row_start in enumerate(row_fits):
        nll[i], converged[i] = _scan_line(objective, {name_x: values_x[i]}, name_y, values_y, row_start, observed)
    return ProfileScan2D((name_x, name_y), values_x, values_y, 2.0 * (nll - best_fit.nll), converged, best_fit)


def _scan_line(
    objective: Objective,
    fixed: Mapping[str, float],
    parameter: str,
    values: np.ndarray,
    start: FitResult,
    observed: Any | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Conditional fits at each value (``-ln L`` and convergence), warm-started outwards from ``start``."""

    def conditional_fit(value: float, warm: FitResult) -> FitResult:
        return fit(objective, observed=observed, fixed={**fixed, parameter: value}, starts=[warm.values], n_random_starts=0)

    results = _walk_outwards(values, _entry_value(objective, start, parameter), start, conditional_fit)
    return np.array([r.nll for r in results]), np.array([r.converged for r in results])


def _walk_outwards(
    values: np.ndarray, centre: float, start: FitResult, fit_at: Callable[[float, FitResult], FitResult]
) -> list[FitResult]:
    """``fit_at(value, warm_start)`` for every value, from the one nearest ``centre`` outwards.

    Each fit starts from the solution at its inner neighbour (the first from ``start``), so a scan
    follows the valley of the likelihood instead of restarting from afar.
    """
    nearest = int(np.argmin(np.abs(values - centre)))
    results: list[FitResult | None] = [None] * len(values)
    for index in [*range(nearest, len(values)), *range(nearest - 1, -1, -1)]:
        neighbour = index - 1 if index > nearest else index + 1
        warm = results[neighbour] if index != nearest else start
        results[index] = fit_at(float(values[index]), warm)
    return results


def _objective(model: BinnedModel | Objective) -> Objective:
    if isinstance(model, Objective):
        if model.kind != "ml":
            raise InferenceError("profile likelihoods need a maximum-likelihood objective (kind='ml')")
        return model
    return Objective(model, "ml")


def _check_entry(objective: Objective, name: str) -> None:
    scalar_names = {p.name for p in objective.parameters if p.shape == ()}
    if name not in scalar_names and name not in objective.labels():
        raise InferenceError(
            f"cannot profile {name!r}: not a scalar entry of the free parameters {objective.labels()}"
        )


def _entry_value(objective: Objective, result: FitResult, name: str) -> float:
    return float(result.x[objective.labels().index(name)])


def _crossings(values: np.ndarray, curve: np.ndarray, threshold: float) -> tuple[float, float]:
    """Where ``curve`` rises through ``threshold`` left and right of its minimum (linear interpolation)."""
    minimum = int(np.nanargmin(curve))
    lower, upper = -np.inf, np.inf
    for index in range(minimum, 0, -1):
        if curve[index - 1] >= threshold > curve[index] or curve[index - 1] > threshold >= curve[index]:
            lower = float(np.interp(threshold, [curve[index], curve[index - 1]], [values[index], values[index - 1]]))
            break
    for index in range(minimum, len(values) - 1):
        if curve[index + 1] >= threshold > curve[index] or curve[index + 1] > threshold >= curve[index]:
            upper = float(np.interp(threshold, [curve[index], curve[index + 1]], [values[index], values[index + 1]]))
            break
    return lower, upper
