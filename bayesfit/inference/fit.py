"""Maximum-likelihood and MAP fits: the compiled objective minimised with scipy's L-BFGS-B.

:func:`fit` minimises ``-ln L`` (``kind="ml"``: main bins, auxiliary measurements and user
terms; priors ignored, bounds kept) or ``-ln posterior`` (``kind="map"``: priors of every free
entry, hyperparameters included) from several starts, and returns a
:class:`~bayesfit.inference.results.FitResult`.

How it finds the minimum:

* the minimiser works in ``x * scale`` with ``scale = sqrt(H_ii)`` at the model's start
  (:meth:`Objective.curvature_scale`; at the fit's own start when ``fixed`` moves entries away
  from it, e.g. a background-only fit): in those units a HistFactory staterror factor known to
  0.06% and a normalisation known to 50% take similar steps, and the first step is nearly a
  Newton step;
* the value is shifted by its value at the start, so that L-BFGS-B's relative ``ftol`` means the
  same for 10 events and for 10^9;
* starts: the model's start (or the given ones) and, for models of at most
  :data:`RANDOM_STARTS_MAX_SIZE` free entries, :data:`RANDOM_STARTS` random points near it; the
  best minimum wins and ``minima_agree`` says whether the others reached it (kinks of
  piecewise-linear interpolation, several minima); a small model whose best start did not
  converge is polished by Nelder-Mead (a minimum on a kink, or on the edge of the region where
  every rate is >= 0);
* from where L-BFGS-B stopped, one Newton step with the Hessian computed for the errors puts
  the result on the minimum to the gradient's precision (:func:`_newton_step`);
* convergence is judged by the estimated distance to the minimum, ``edm = g^T C g / 2`` over the
  entries not held by an active bound, in units of ``-ln L`` (so 1e9 counts converge as well as
  10), and by a positive-definite Hessian; a singular or flat direction gives
  ``converged=False`` and NaN errors, never an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult, minimize

from bayesfit.errors import InferenceError, ModelError
from bayesfit.inference.objective import Objective, objective_for
from bayesfit.inference.results import FitResult
from bayesfit.model import BinnedModel

__all__ = ["EDM_TOLERANCE", "MINIMIZER_OPTIONS", "RANDOM_STARTS", "RANDOM_STARTS_MAX_SIZE", "fit"]

logger = logging.getLogger(__name__)

#: Largest estimated distance to the minimum (units of ``-ln L``) of a converged fit.
EDM_TOLERANCE = 1e-5

#: Random starts (besides the first) of models with at most :data:`RANDOM_STARTS_MAX_SIZE` free
#: entries; larger models start once (override with ``n_random_starts``).
RANDOM_STARTS = 2
RANDOM_STARTS_MAX_SIZE = 20

#: Starts whose minima differ by more than this in ``-ln L`` disagree.
MINIMA_TOLERANCE = 1e-3

#: Smallest eigenvalue of the Hessian scaled to unit diagonal (a correlation-like matrix) that
#: counts as positive: below it a direction is flat to within the ~1e-9 relative error of the
#: Hessian's finite differences (correlations closer to +-1 than ``1 - 5e-8``).
SINGULAR_TOLERANCE = 1e-7

#: Objective value reported to the minimiser where -ln L is infinite (L-BFGS-B needs finite values).
_IMPOSSIBLE = 1e30

#: L-BFGS-B settings in curvature-scaled units (override with ``fit(options=...)``).
MINIMIZER_OPTIONS = {"ftol": 1e-15, "gtol": 1e-9, "maxiter": 10_000, "maxfun": 20_000, "maxcor": 30}


def fit(
    model: BinnedModel | Objective,
    *,
    kind: str | None = None,
    observed: Any | None = None,
    fixed: Mapping[str, Any] | None = None,
    bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
    starts: Sequence[Mapping[str, Any]] | None = None,
    n_random_starts: int | None = None,
    seed: int | None = 0,
    options: Mapping[str, Any] | None = None,
    errors: bool = True,
) -> FitResult:
    """Minimise ``-ln L`` (``kind="ml"``) or ``-ln posterior`` (``kind="map"``).

    Parameters
    ----------
    model:
        A :class:`BinnedModel` (its objective is compiled once and kept), or an
        :class:`Objective`.
    kind:
        ``"ml"`` (default) or ``"map"``.
    observed:
        Data to fit instead of the model's: main counts ``(n_bins,)`` (with the model's auxiliary
        data) or :class:`~bayesfit.model.ObservedData` (toys, Asimov data; non-integer allowed).
    fixed:
        Entries held fixed, ``{name or entry label: value}`` (profile scans, hypotheses); values
        outside an entry's bounds are an error.
    bounds:
        Tighter ``(lower, upper)`` for some entries in this fit, by name or entry label (e.g. the
        POI at ``>= 0`` for the tilde test statistics).
    starts:
        Start points (partial dicts of variable values, completed with the model's start).
    n_random_starts:
        Random starts near the first one; default :data:`RANDOM_STARTS` for small models, else 0.
    seed:
        Seed of the random starts.
    errors:
        Compute the Hessian for ``errors`` and ``covariance``; ``False`` skips it (toy fits, which
        need only ``-ln L``): both are NaN and ``edm`` uses the start's curvature.
    """
    objective = objective_for(model, kind)
    data = objective.data(observed)
    fixed = dict(fixed or {})
    fixed_entries = objective.entry_indices(fixed, "fixed")
    lower, upper = _fit_bounds(objective, bounds or {})
    free = np.ones(objective.size, dtype=bool)
    free[list(fixed_entries)] = False

    def packed(point: Mapping[str, Any], fix: bool = True) -> np.ndarray:
        return _start_vector(objective, point, fixed_entries if fix else {}, lower, upper)

    if n_random_starts is None:
        n_random_starts = RANDOM_STARTS if objective.size <= RANDOM_STARTS_MAX_SIZE else 0
    rng = np.random.default_rng(seed)
    start_vectors = [packed(s) for s in (starts or [{}])]
    start_vectors += [packed(objective.model.random_point(rng)) for _ in range(n_random_starts)]
    # fixing entries away from the start (a background-only fit, a profile point) can change the
    # curvature by orders of magnitude: scale at the fit's own start then
    moved = not np.array_equal(packed((starts or [{}])[0], fix=False), start_vectors[0])
    full_scale = objective.curvature_scale(start_vectors[0], data) if moved else objective.curvature_scale()
    scale = full_scale[free]
    bounds_scaled = [
        (None if np.isinf(low) else low * s, None if np.isinf(high) else high * s)
        for low, high, s in zip(lower[free], upper[free], scale)
    ]

    results = [_minimise(objective, data, x0, free, scale, bounds_scaled, options) for x0 in start_vectors]
    finite = [r for r in results if r is not None and np.isfinite(r.fun)]
    if not finite:
        raise InferenceError(
            "-ln L is not finite at any start point (an expectation is zero where data are, or negative); "
            "check the starts and the data"
        )
    best = min(finite, key=lambda r: r.fun)
    if not best.converged and objective.size <= RANDOM_STARTS_MAX_SIZE:
        best = _polish(objective, data, best, start_vectors[0], free, scale, bounds_scaled)
    x_best = start_vectors[0].copy()
    x_best[free] = np.clip(best.x / scale, lower[free], upper[free])  # unscaling may round past a bound
    value, gradient = objective.value_and_grad(x_best, data)
    inactive = free & ~_blocked(x_best, gradient, lower, upper)
    covariance = np.full((objective.size, objective.size), np.nan)
    positive = True
    if errors:
        free_indices = np.flatnonzero(free)
        hessian = objective.hessian(x_best, data, free_indices)
        covariance, positive = _covariance(hessian, free_indices, objective.size)
        off_bound = inactive[free_indices]
        if not positive and not off_bound.all():
            # at a minimum on a bound the Hessian need not be positive definite in the entries the
            # bound holds (a POI at 0 correlated with a nuisance): the entries off their bounds
            # keep their covariance, the held ones get NaN errors
            covariance, positive = _covariance(hessian[np.ix_(off_bound, off_bound)], free_indices[off_bound],
                                               objective.size)
            held = free_indices[~off_bound]
            covariance[held, :] = covariance[:, held] = np.nan
        if positive:
            x_best, value, gradient = _newton_step(
                objective, data, x_best, value, gradient, hessian[np.ix_(off_bound, off_bound)],
                free_indices[off_bound], lower, upper,
            )
        edm = _edm(gradient[free_indices], hessian, off_bound)
    else:
        curvature = full_scale**2
        edm = float(0.5 * np.sum(gradient[inactive] ** 2 / curvature[inactive]))
    all_nll = np.array([np.inf if r is None else r.fun for r in results])
    converged_starts = [r.fun for r in results if r is not None and getattr(r, "converged", False)]
    minima_agree = all(abs(v - best.fun) <= MINIMA_TOLERANCE for v in converged_starts)
    if not minima_agree:
        logger.warning(
            "fit: the starts reached different minima (-ln L %s); the best is kept",
            ", ".join(f"{v:.6g}" for v in sorted(converged_starts)),
        )
    variances = np.diag(covariance)
    error_vector = np.where(variances >= 0, np.sqrt(np.abs(variances)), np.nan)
    error_vector[~free] = 0.0
    result = FitResult(
        values=objective.unpack(x_best),
        errors=_errors(objective, error_vector),
        labels=objective.labels(),
        covariance=covariance,
        nll=float(value),
        converged=bool(positive and np.isfinite(edm) and edm < EDM_TOLERANCE),
        edm=float(edm),
        kind=objective.kind,
        message=str(best.message),
        n_starts=len(start_vectors),
        all_nll=all_nll,
        minima_agree=minima_agree,
        x=x_best,
        fixed={objective.labels()[i]: v for i, v in fixed_entries.items()},
        entry_labels={p.name: p.labels for p in objective.model.variables},
    )
    logger.debug("fit (%s, %d free entries, %d start(s)): -ln L %.10g, edm %.2g, converged %s", objective.kind,
                 int(free.sum()), len(start_vectors), result.nll, result.edm, result.converged)
    return result


def _start_vector(objective: Objective, point: Mapping[str, Any], fixed_entries: Mapping[int, float],
                  lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """The start ``x`` of a fit: ``point`` (a partial dict of variable values) completed with the
    model's start, checked against the support, ``fixed_entries`` set, and clipped into this fit's
    own tighter bounds ``[lower, upper]`` (e.g. a POI >= 0)."""
    values = objective.unpack(objective.pack(objective.model.start_point()))
    values.update({name: value for name, value in point.items() if name in values})
    x = objective.checked(objective.pack(values), "start")
    x[list(fixed_entries)] = list(fixed_entries.values())
    return np.clip(x, lower, upper)


def _fit_bounds(objective: Objective, bounds: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The objective's bounds, tightened by ``bounds`` of this fit."""
    lower, upper = objective.lower.copy(), objective.upper.copy()
    for label, pair in bounds.items():
        index = objective.index(label)
        try:
            low, high = pair
        except (TypeError, ValueError):
            raise ModelError(f"bounds of {label!r}: expected a (lower, upper) pair, got {pair!r}") from None
        lower[index] = max(lower[index], -np.inf if low is None else float(low))
        upper[index] = min(upper[index], np.inf if high is None else float(high))
        if not lower[index] < upper[index]:
            raise ModelError(f"bounds of {label!r} leave an empty range [{lower[index]:g}, {upper[index]:g}]")
    return lower, upper


def _minimise(
    objective: Objective,
    data: Any,
    x0: np.ndarray,
    free: np.ndarray,
    scale: np.ndarray,
    bounds: list[tuple[float | None, float | None]],
    options: Mapping[str, Any] | None,
) -> OptimizeResult | None:
    """One L-BFGS-B run from ``x0`` in scaled units; ``None`` if ``-ln L`` is infinite at ``x0``."""
    x = x0.copy()
    offset, _ = objective.value_and_grad(x, data)
    if not np.isfinite(offset):
        return None

    def function(scaled: np.ndarray) -> tuple[float, np.ndarray]:
        x[free] = scaled / scale
        value, gradient = objective.value_and_grad(x, data)
        if not np.isfinite(value) or not np.all(np.isfinite(gradient)):
            # e.g. a step to mu = 0 where data are: a huge finite value makes the line search back off
            return _IMPOSSIBLE, np.zeros_like(scaled)
        return value - offset, gradient[free] / scale

    if not free.any():  # e.g. a profile point of a one-parameter model: nothing to minimise
        return OptimizeResult(x=x0[free], fun=offset, success=True, message="all entries fixed", converged=True)
    result = minimize(
        function, x0[free] * scale, jac=True, method="L-BFGS-B", bounds=bounds,
        options={**MINIMIZER_OPTIONS, **(options or {})},
    )
    result.fun = float(result.fun + offset)
    # a start converged when its scaled projected gradient is small (L-BFGS-B's own flag may say
    # ABNORMAL on rounding noise at the minimum)
    low = np.array([-np.inf if b[0] is None else b[0] for b in bounds])
    high = np.array([np.inf if b[1] is None else b[1] for b in bounds])
    gradient = np.asarray(result.jac)
    blocked = ((result.x <= low) & (gradient > 0)) | ((result.x >= high) & (gradient < 0))
    result.converged = bool(0.5 * np.sum(np.where(blocked, 0.0, gradient) ** 2) < EDM_TOLERANCE)
    return result


def _polish(
    objective: Objective,
    data: Any,
    best: OptimizeResult,
    x_base: np.ndarray,
    free: np.ndarray,
    scale: np.ndarray,
    bounds: list[tuple[float | None, float | None]],
) -> OptimizeResult:
    """Nelder-Mead from the best L-BFGS-B result of a small model that did not converge.

    L-BFGS-B stalls where the minimum lies on the edge of the region where ``-ln L`` is finite
    (a rate reaching 0 in a bin without data, where negative rates are impossible) or on a kink;
    the simplex method needs no gradient and steps back from infinite values. Kept only if lower.
    """
    x = x_base.copy()

    def function(scaled: np.ndarray) -> float:
        x[free] = scaled / scale
        value = objective.value_and_grad(x, data)[0]
        return value if np.isfinite(value) else np.inf

    start = np.asarray(best.x, dtype=float)
    simplex = np.vstack([start, start + 0.5 * np.eye(start.size)])  # half an sd per entry (scaled units)
    low = np.array([-np.inf if b[0] is None else b[0] for b in bounds])
    high = np.array([np.inf if b[1] is None else b[1] for b in bounds])
    result = minimize(function, start, method="Nelder-Mead", bounds=bounds,
                      options={"initial_simplex": np.clip(simplex, low, high), "xatol": 1e-10, "fatol": 1e-13,
                               "maxfev": 2000 * start.size})
    if not result.fun < best.fun - 1e-12:
        return best
    result.converged = False
    result.message = f"{best.message}; polished by Nelder-Mead"
    return result


def _newton_step(
    objective: Objective,
    data: Any,
    x: np.ndarray,
    value: float,
    gradient: np.ndarray,
    hessian: np.ndarray,
    entries: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
) -> tuple[np.ndarray, float, np.ndarray]:
    """``(x, -ln L, gradient)`` after one Newton step in ``entries`` (the free entries off their
    bounds, ``hessian`` their positive-definite block) from where L-BFGS-B stopped.

    L-BFGS-B stops within ``edm ~ 1e-16`` of the minimum, i.e. ~1e-8 standard deviations away
    along a path set by rounding; one Newton step lands on the minimum to the precision of the
    gradient, so fits of two objectives equal to rounding (e.g. compressed and per-event
    simulation) agree to ~1e-12. Kept only if it stays inside the bounds and lowers the estimated
    distance to the minimum (``-ln L`` itself changes below its rounding there).
    """
    if entries.size == 0:
        return x, value, gradient
    try:
        step = -np.linalg.solve(hessian, gradient[entries])
    except np.linalg.LinAlgError:  # singular to working precision
        return x, value, gradient
    candidate = x.copy()
    candidate[entries] += step
    if not (np.all(np.isfinite(candidate)) and np.all(candidate >= lower) and np.all(candidate <= upper)):
        return x, value, gradient
    new_value, new_gradient = objective.value_and_grad(candidate, data)
    if not (np.isfinite(new_value) and np.all(np.isfinite(new_gradient))):
        return x, value, gradient
    before = -gradient[entries] @ step
    after = new_gradient[entries] @ np.linalg.solve(hessian, new_gradient[entries])
    return (candidate, new_value, new_gradient) if after < before else (x, value, gradient)


def _blocked(x: np.ndarray, gradient: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Entries at a bound that the gradient pushes against (where it need not vanish)."""
    return ((x <= lower) & (gradient > 0)) | ((x >= upper) & (gradient < 0))


def _covariance(hessian: np.ndarray, indices: np.ndarray, size: int) -> tuple[np.ndarray, bool]:
    """Inverse of the Hessian of the free entries ``indices``, embedded in a ``(size, size)``
    matrix (zero rows for fixed entries; NaN where the Hessian is not positive definite), and
    whether it is."""
    covariance = np.zeros((size, size))
    if indices.size == 0:
        return covariance, True
    try:
        if not np.all(np.isfinite(hessian)):
            raise np.linalg.LinAlgError("non-finite Hessian")
        factor = np.linalg.cholesky(hessian)
        diagonal = np.sqrt(np.diag(hessian))
        if np.linalg.eigvalsh(hessian / np.outer(diagonal, diagonal))[0] < SINGULAR_TOLERANCE:
            raise np.linalg.LinAlgError("singular Hessian")  # within the differences' error of it
    except np.linalg.LinAlgError:
        covariance[np.ix_(indices, indices)] = np.nan
        return covariance, False
    inverse_factor = np.linalg.solve(factor, np.eye(indices.size))
    covariance[np.ix_(indices, indices)] = inverse_factor.T @ inverse_factor
    return covariance, True


def _edm(gradient: np.ndarray, hessian: np.ndarray, inactive: np.ndarray) -> float:
    """``g^T H^-1 g / 2`` over the entries off their active bounds (NaN if that Hessian block is
    not positive definite); ``gradient``, ``hessian`` and ``inactive`` are of the free entries."""
    g = gradient[inactive]
    if g.size == 0:
        return 0.0
    block = hessian[np.ix_(inactive, inactive)]
    try:
        factor = np.linalg.cholesky(block)
    except np.linalg.LinAlgError:
        return float("nan")
    solved = np.linalg.solve(factor, g)
    return float(0.5 * solved @ solved)


def _errors(objective: Objective, error_vector: np.ndarray) -> dict[str, np.ndarray]:
    """Errors of every variable in full shapes (0 for fixed entries)."""
    errors = {}
    for variable in objective.model.variables:
        if variable.name in objective.slices:
            full = np.zeros(variable.size)
            full[variable.free_index] = error_vector[objective.slices[variable.name]]
            errors[variable.name] = full.reshape(variable.shape)
        elif variable.kind != "hyperparameter" or objective.kind == "map":
            errors[variable.name] = np.zeros(variable.shape)
    return errors
