"""Profile likelihoods: ``-2 Delta ln L`` scans with the other entries re-fitted.

A scan walks outwards from the best fit, starting each fit from its neighbour's solution (warm
starts), and reuses the model's one compiled objective for every point. Intervals are read off
the scan where ``-2 Delta ln L`` crosses the chi-square quantile of the requested level (Wilks),
and end at a parameter's bound when the scan reaches it (see
:meth:`~bayesfit.inference.results.ProfileResult.interval`). Scanned values outside an entry's
bounds are refused.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from bayesfit.errors import InferenceError
from bayesfit.inference.fit import fit
from bayesfit.inference.objective import Objective, check_entry_value, objective_for
from bayesfit.inference.results import FitResult, ProfileResult
from bayesfit.model import BinnedModel

__all__ = ["profile_likelihood", "profile_likelihood_2d"]

logger = logging.getLogger(__name__)


def profile_likelihood(
    model: BinnedModel | Objective,
    parameter: str,
    values: Sequence[float] | np.ndarray,
    *,
    best_fit: FitResult | None = None,
    observed: Any | None = None,
    fixed: Mapping[str, float] | None = None,
) -> ProfileResult:
    """Scan ``-2 Delta ln L`` of one scalar entry over ``values``, re-fitting all others.

    Parameters
    ----------
    model:
        A :class:`~bayesfit.model.BinnedModel` (its compiled objective is reused) or an objective.
    parameter:
        A scalar parameter's name or an entry label (``"weights[2]"``, ``"weights[background]"``).
    values:
        Values to scan (sorted internally), inside the entry's bounds.
    best_fit:
        The fit the scan is relative to, if already done (under ``fixed``, if given).
    observed:
        Data to use instead of the model's (counts or ObservedData).
    fixed:
        Other entries held at these values throughout (a hypothesis, e.g. ``{"model_B": 0.0}``).
    """
    objective = _ml_objective(model)
    label = _scalar_entry(objective, parameter)
    fixed = dict(fixed or {})
    if label in _labels_of(objective, fixed):
        raise InferenceError(f"cannot profile {parameter!r} while holding it fixed")
    values = _grid(objective, label, values)
    logger.info("profile of %s: %d conditional fits", label, len(values))
    start = time.perf_counter()
    if best_fit is None:
        best_fit = fit(objective, observed=observed, fixed=fixed)
    nll, converged = _scan_line(objective, fixed, label, values, best_fit, observed)
    _log_done(label, converged, start)
    return ProfileResult(
        (label,), (values,), 2.0 * (nll - best_fit.nll), converged, best_fit, fixed, (_bounds(objective, label),)
    )


def profile_likelihood_2d(
    model: BinnedModel | Objective,
    parameters: tuple[str, str],
    values_x: Sequence[float] | np.ndarray,
    values_y: Sequence[float] | np.ndarray,
    *,
    best_fit: FitResult | None = None,
    observed: Any | None = None,
    fixed: Mapping[str, float] | None = None,
) -> ProfileResult:
    """Scan ``-2 Delta ln L`` over a grid of two scalar entries, re-fitting all others.

    ``twice_delta_nll[i, j]`` belongs to ``(values_x[i], values_y[j])``; contours of the
    chi-square quantiles with 2 dof (2.30 for 68.3%, 5.99 for 95%) give joint regions. Each row
    (fixed ``x``) is scanned outwards from the best-fit ``y`` with warm starts; a row starts from
    the solution of its neighbouring row.
    """
    objective = _ml_objective(model)
    name_x, name_y = (_scalar_entry(objective, name) for name in parameters)
    if name_x == name_y:
        raise InferenceError(f"a 2-D profile needs two different entries, got {name_x!r} twice")
    fixed = dict(fixed or {})
    values_x, values_y = _grid(objective, name_x, values_x), _grid(objective, name_y, values_y)
    logger.info("profile of %s and %s: %d x %d conditional fits", name_x, name_y, len(values_x), len(values_y))
    start = time.perf_counter()
    if best_fit is None:
        best_fit = fit(objective, observed=observed, fixed=fixed)
    nll = np.empty((len(values_x), len(values_y)))
    converged = np.empty(nll.shape, dtype=bool)

    def row_fit(x_value: float, warm: FitResult) -> FitResult:
        return fit(objective, observed=observed, fixed={**fixed, name_x: x_value}, starts=[warm.values],
                   n_random_starts=0, errors=False)

    row_fits = _walk_outwards(values_x, best_fit.x[objective.index(name_x)], best_fit, row_fit)
    for i, row_start in enumerate(row_fits):
        nll[i], converged[i] = _scan_line(objective, {**fixed, name_x: values_x[i]}, name_y, values_y, row_start,
                                          observed)
    _log_done(f"{name_x} and {name_y}", converged, start)
    return ProfileResult(
        (name_x, name_y), (values_x, values_y), 2.0 * (nll - best_fit.nll), converged, best_fit, fixed,
        (_bounds(objective, name_x), _bounds(objective, name_y)),
    )


def _scan_line(
    objective: Objective,
    fixed: Mapping[str, float],
    label: str,
    values: np.ndarray,
    start: FitResult,
    observed: Any | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Conditional fits at each value (``-ln L`` and convergence), warm-started outwards from ``start``."""

    def conditional_fit(value: float, warm: FitResult) -> FitResult:
        point = {**fixed, label: value}
        try:
            return fit(objective, observed=observed, fixed=point, starts=[warm.values], n_random_starts=0,
                       errors=False)
        except InferenceError:  # -ln L infinite at the warm start (a rate < 0 there): the model's starts
            try:
                return fit(objective, observed=observed, fixed=point, errors=False)
            except InferenceError as error:
                raise InferenceError(f"profile of {label} at {label} = {value:g}: {error}") from None

    results = _walk_outwards(values, start.x[objective.index(label)], start, conditional_fit)
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


def _log_done(what: str, converged: np.ndarray, start: float) -> None:
    logger.debug("profile of %s: %d of %d fits converged, %.1f s", what, int(converged.sum()), converged.size,
                 time.perf_counter() - start)


def _ml_objective(model: BinnedModel | Objective) -> Objective:
    objective = objective_for(model)
    if objective.kind != "ml":
        raise InferenceError("profile likelihoods need a maximum-likelihood objective (kind='ml')")
    return objective


def _scalar_entry(objective: Objective, name: str) -> str:
    """The canonical label of the free scalar entry ``name``."""
    try:
        return objective.labels()[objective.index(name)]
    except Exception as error:
        raise InferenceError(f"cannot profile {name!r}: {error}") from None


def _labels_of(objective: Objective, values: Mapping[str, Any]) -> set[str]:
    labels = objective.labels()
    return {labels[i] for i in objective.entry_indices(values, "fixed")}


def _bounds(objective: Objective, label: str) -> tuple[float, float]:
    index = objective.index(label)
    return float(objective.lower[index]), float(objective.upper[index])


def _grid(objective: Objective, label: str, values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Sorted unique scan values, each inside the entry's bounds."""
    grid = np.unique(np.asarray(values, dtype=float))
    if grid.size == 0:
        raise InferenceError(f"profile of {label!r}: no values to scan")
    lower, upper = _bounds(objective, label)
    for value in (grid[0], grid[-1]):
        check_entry_value(label, float(value), lower, upper, "profile")
    return grid
