"""Batched toy fits: many pseudo-experiments minimised at once, with one compiled evaluation.

:class:`BatchedObjective` is the :class:`~bayesfit.inference.objective.Objective`'s own graph
(the model's one log-density builder) vectorised over a leading toy axis with
``pytensor.graph.replace.vectorize_graph``: the entries ``x`` ``(n_toys, size)``, the main counts
``(n_toys, n_bins)`` and the auxiliary data ``(n_toys, n_aux)`` are inputs, ``-ln L`` ``(n_toys,)``
and its gradient ``(n_toys, size)`` the outputs; it is compiled once per objective and process.

:func:`minimise` is a projected quasi-Newton method in numpy, every toy with its own state:

* it works in curvature-scaled units ``x * sqrt(H_ii)`` like :func:`~bayesfit.inference.fit.fit`,
  with the inverse Hessian of every toy started from the exact Hessian at the common start on
  the toys' expected data (the Asimov data of their generating point; :meth:`Objective.hessian`,
  one per fit), then BFGS-updated toy by toy. Toys generated away from the model's best fit (a
  background-only point of a signal-dominated workspace) need the expected data's curvature:
  on the model's data a fifth of the ATLAS workspace's background-only toys did not converge;
* bounds (Bertsekas' projected Newton): an entry within ``epsilon`` of a bound that its gradient
  pushes towards is held there (the epsilon-active set, ``epsilon`` the length of the projected
  gradient step, at most :data:`EPSILON_ACTIVE`), the step solves the Newton system of the other
  entries exactly (a Schur complement of the inverse Hessian over the held entries) and is
  projected onto the bounds. Holding only the entries exactly on a bound let entries near one
  enter and leave the active set at every iteration: at the ATLAS workspace's background-only
  point, where 40 nuisance parameters sit at +-5, a tenth of the toys crawled for 200 iterations;
* the line search backtracks (Armijo) from the full step, each shorter trial at the minimum of
  the parabola through ``f(0)``, ``f'(0)`` and the rejected ``f(t)`` (kept within ``[t/10, t/2]``):
  on strongly curved problems the accepted steps are often 1/100 of the quasi-Newton step, which
  halving reached in 7 evaluations. Infinite ``-ln L`` (a rate of 0 where data are) counts as no
  decrease;
* a toy has converged when ``edm = g^T H^-1 g / 2`` over its free, unheld entries is below
  :data:`BATCH_EDM`: far below the ``edm`` of a converged :func:`fit`, so that ``-ln L`` is at the
  minimum to ~1e-10 and test statistics agree with per-toy fits to ~1e-8 (measured on HESE:
  1e-12 changes them by 2e-10 and costs 10% more evaluations);
* on a large ``-ln L`` (the ATLAS workspace: ~1e4, rounding ~1e-12) that edm may be out of reach:
  a toy whose step promises less decrease than the rounding of ``-ln L`` stops its line search at
  once (instead of halving 40 times, one evaluation each) and has converged if its edm is below
  :data:`BATCH_STALLED_EDM`. Measured on the ATLAS workspace (q~, 15 toys): the batched fits end
  1e-8 .. 1e-6 *below* the per-toy L-BFGS-B fits, whose q~ differ by up to 2.3e-6.

Toy studies fit in batches the models of at most :data:`BATCH_MAX_SIZE` free entries (HESE,
cross sections, workspaces up to the 131-entry ATLAS one and beyond).

A toy's iterations depend on its own data and start only, never on the other toys of its batch,
so the results do not depend on the batch size or on how the toys are shared among workers (the
compiled function sees fixed blocks of :data:`BLOCK_SIZE` toys, so that BLAS rounds alike).

:func:`toy_statistics` computes the toy statistics of :mod:`bayesfit.inference.test_statistics`
(``likelihood_ratio``, ``max_likelihood`` and the POI statistics) for a chunk of toys with the
fits the per-toy statistic does (conditional fit, unconditional fit, the unconditional fit redone
from the conditional solution where it ended above it); a toy whose start has infinite ``-ln L``
fails (NaN) as its per-toy fit does, and a toy whose batched fits did not converge is computed by
the per-toy statistic.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.replace import vectorize_graph

from bayesfit.errors import BayesfitError, ModelError
from bayesfit.inference.fit import _fit_bounds, _start_vector, fit
from bayesfit.inference.objective import Objective
from bayesfit.inference.test_statistics import (
    _REFIT_TOLERANCE,
    LikelihoodRatio,
    MaxLikelihood,
    PoiStatistic,
    saturated_nll,
)
from bayesfit.model import ObservedData

__all__ = ["BATCH_EDM", "BATCH_MAX_SIZE", "BATCH_SIZE", "BATCH_STALLED_EDM", "BLOCK_SIZE", "EPSILON_ACTIVE", "BatchFit",
           "BatchedObjective", "batched_objective", "conditional_start", "minimise", "supports_batches",
           "toy_statistics"]

logger = logging.getLogger(__name__)

#: Largest ``edm`` (units of ``-ln L``) of a converged batched fit.
BATCH_EDM = 1e-10
#: Largest ``edm`` of a batched fit whose line search finds no lower ``-ln L`` (its rounding, ~1e-12
#: relative, hides the decrease of the last steps on large ``-ln L``) that counts as converged:
#: test statistics are then within ~1e-7 of the minimum's.
BATCH_STALLED_EDM = 1e-8
#: Largest number of free entries fitted in batches (the inverse Hessians take ``BATCH_SIZE *
#: size**2`` doubles: 160 MB at 200). Measured on the 131-entry ATLAS workspace (q~ toy CLs,
#: 1000 + 1000 toys, 2 cores): 143 s serial and 59 s on 2 processes, compilation included, no toy
#: left to the per-toy fits, against 3.7 s per toy (null and background-only) with the per-toy fits.
BATCH_MAX_SIZE = 200
#: Toys minimised together (bounds the memory of the inverse Hessians, ``BATCH_SIZE * size**2``).
BATCH_SIZE = 500
#: Rows of one call of the compiled batched function (see :meth:`BatchedObjective.value_and_grad`).
BLOCK_SIZE = 16
#: Iterations before a toy is handed to the per-toy fit.
MAX_ITERATIONS = 200
#: Largest distance (scaled units) from a bound at which an entry pushed towards it is held.
EPSILON_ACTIVE = 1e-2
#: Halvings of the step before the line search gives up on a toy.
MAX_HALVINGS = 40
#: Armijo's sufficient-decrease constant.
_ARMIJO = 1e-4
#: Smallest eigenvalue (curvature-scaled units) kept in the starting inverse Hessian.
_MIN_EIGENVALUE = 1e-8

_COMPILED: weakref.WeakKeyDictionary[Objective, BatchedObjective] = weakref.WeakKeyDictionary()


class BatchedObjective:
    """``-ln L`` and its gradient of an :class:`Objective` over a toy axis (see the module docstring)."""

    def __init__(self, objective: Objective) -> None:
        if objective.kind != "ml":
            raise ModelError(f"batched fits need a maximum-likelihood objective (kind='ml'), got {objective.kind!r}")
        self.objective = objective
        x = pt.matrix("x_toys", dtype="float64")
        main = pt.matrix("main_toys", dtype="float64")
        aux = pt.matrix("aux_toys", dtype="float64")
        replace = {objective._main: main, objective._aux: aux}
        # the variables' tensors of every toy, cut from x as the objective cuts them from one
        # vector: vectorising the objective's own split and set-subtensor would loop over the toys
        for name, tensor in objective.variable_tensors(x).items():
            replace[objective._tensors[name]] = tensor
        value = vectorize_graph(objective._value, replace=replace)
        gradient = pytensor.grad(value.sum(), x)
        self._function = pytensor.function([x, main, aux], [value, gradient], on_unused_input="ignore")
        self._function.trust_input = True
        #: starting inverse Hessians by (point, entries, expected main and auxiliary data): one per
        #: fit of a study, whatever its chunks
        self.start_inverses: dict[tuple[bytes, bytes, bytes, bytes], np.ndarray] = {}
        #: toys evaluated so far (one toy at one point counts one)
        self.evaluations = 0

    def value_and_grad(self, x: np.ndarray, main: np.ndarray, aux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``-ln L`` ``(n,)`` and its gradient ``(n, size)`` of ``n`` toys at ``x`` ``(n, size)``.

        The toys go through the compiled function in blocks of exactly :data:`BLOCK_SIZE` rows
        (the last one padded with copies of its last toy): a BLAS matrix product (the graph's
        sums onto bins) rounds a row differently depending on the number of rows, so fixed
        blocks keep every toy's values independent of how many toys are evaluated with it."""
        n = len(x)
        self.evaluations += n
        padded = -(-n // BLOCK_SIZE) * BLOCK_SIZE
        rows = np.minimum(np.arange(padded), n - 1)
        inputs = [np.ascontiguousarray(np.asarray(array, dtype=np.float64)[rows]) for array in (x, main, aux)]
        values, gradients = np.empty(padded), np.empty((padded, x.shape[1]))
        for start in range(0, padded, BLOCK_SIZE):
            block = slice(start, start + BLOCK_SIZE)
            values[block], gradients[block] = self._function(*(array[block] for array in inputs))
        return values[:n], gradients[:n]


def batched_objective(objective: Objective) -> BatchedObjective:
    """The batched objective of ``objective``, compiled once per objective in this process."""
    if objective not in _COMPILED:
        _COMPILED[objective] = BatchedObjective(objective)
    return _COMPILED[objective]


def supports_batches(statistic: Any, objective: Objective | None = None) -> bool:
    """Whether toys of ``statistic`` (on ``objective``) are fitted in batches by
    :func:`toy_statistics`: the statistics of :mod:`~bayesfit.inference.test_statistics` on
    maximum-likelihood objectives of at most :data:`BATCH_MAX_SIZE` free entries; else the toys
    take the per-toy fits."""
    if not isinstance(statistic, (PoiStatistic, LikelihoodRatio, MaxLikelihood)):
        return False
    return objective is None or (objective.kind == "ml" and objective.size <= BATCH_MAX_SIZE)


class BatchFit(NamedTuple):
    """Batched fits of ``n`` toys: ``x`` ``(n, size)``, ``nll`` ``(n,)``, ``converged`` ``(n,)``
    and ``finite_start`` ``(n,)`` (``False``: ``-ln L`` is infinite at the start, the fit fails)."""

    x: np.ndarray
    nll: np.ndarray
    converged: np.ndarray
    finite_start: np.ndarray


def minimise(
    objective: Objective,
    toys: ObservedData,
    starts: np.ndarray,
    free: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    hessian_at: np.ndarray,
    expected: ObservedData | None = None,
) -> BatchFit:
    """Minimise ``-ln L`` of every toy from its start (see the module docstring).

    Parameters
    ----------
    toys:
        Main counts ``(n, n_bins)`` and auxiliary data ``(n, n_aux)``.
    starts:
        ``(n, size)``, inside ``[lower, upper]``; entries not ``free`` stay at their start.
    free:
        ``(size,)`` booleans: the entries minimised over.
    lower, upper:
        Bounds ``(size,)`` of this fit.
    hessian_at:
        ``(size,)``: where the starting inverse Hessian is computed.
    expected:
        The data of that Hessian: the toys' expected data (the Asimov data of their generating
        point), which suit toys far better than the model's data when they are generated away
        from its best fit; default the model's data.
    """
    batched = batched_objective(objective)
    n_toys = len(starts)
    index = np.flatnonzero(free)
    scale = objective.curvature_scale()[index]
    low, high = lower[index] * scale, upper[index] * scale
    x = np.array(starts, dtype=float)
    nll = np.full(n_toys, np.nan)
    converged = np.zeros(n_toys, dtype=bool)
    value, gradient = batched.value_and_grad(x, toys.main, toys.aux)
    finite = np.isfinite(value) & np.all(np.isfinite(gradient), axis=1)
    nll[finite] = value[finite]
    if index.size == 0:
        return BatchFit(x, nll, finite.copy(), finite)
    inverse0 = _start_inverse(objective, hessian_at, index, scale, expected)
    # the state of the toys still iterating, rows in the order of `alive`
    alive = np.flatnonzero(finite)
    z = x[alive][:, index] * scale
    f = value[alive]
    g = gradient[alive][:, index] / scale
    inverse = np.broadcast_to(inverse0, (alive.size, *inverse0.shape)).copy()
    for iteration in range(MAX_ITERATIONS):
        # Bertsekas' epsilon-active set: entries within epsilon of a bound their gradient pushes
        # towards are held there, epsilon the size of the projected gradient step
        epsilon = np.minimum(EPSILON_ACTIVE, np.linalg.norm(z - np.clip(z - g, low, high), axis=1))[:, None]
        to_low, to_high = (z <= low + epsilon) & (g > 0), (z >= high - epsilon) & (g < 0)
        held = to_low | to_high
        direction = _direction(inverse, g, held)
        direction = np.where(to_low, low - z, np.where(to_high, high - z, direction))
        edm = -0.5 * np.einsum("bi,bi->b", g, direction)
        done = edm < BATCH_EDM
        converged[alive[done]] = True
        going = ~done
        if not going.all():  # (copying the inverse Hessians costs as much as updating them)
            alive, z, f, g, inverse, direction = (alive[going], z[going], f[going], g[going], inverse[going],
                                                  direction[going])
        if alive.size == 0:
            break
        data = ObservedData(toys.main[alive], toys.aux[alive])
        z_new, f_new, g_new, accepted = _line_search(batched, data, x[alive], index, scale, z, f, g, direction,
                                                     low, high)
        # a toy without an acceptable step stops here: converged if -ln L's rounding is what
        # blocks the line search this close to the minimum, else the per-toy fit takes it
        converged[alive[~accepted & (edm[~done] < BATCH_STALLED_EDM)]] = True
        _bfgs_update(inverse, z_new - z, g_new - g, accepted)
        alive, z, f, g = alive[accepted], z_new[accepted], f_new[accepted], g_new[accepted]
        if not accepted.all():
            inverse = inverse[accepted]
        x[alive[:, None], index] = _unscaled(z, scale, lower[index], upper[index])
        nll[alive] = f
    logger.debug("batched fit of %d toys (%d entries): %d converged in %d iterations (%d toy evaluations in this "
                 "process so far)", n_toys, index.size, int(converged.sum()), iteration + 1, batched.evaluations)
    return BatchFit(x, nll, converged, finite)


def _unscaled(z: np.ndarray, scale: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Natural units of scaled entries, inside the bounds (unscaling may round past one)."""
    return np.clip(z / scale, lower, upper)


def _start_inverse(objective: Objective, at: np.ndarray, index: np.ndarray, scale: np.ndarray,
                   expected: ObservedData | None) -> np.ndarray:
    """The inverse Hessian ``(m, m)`` in scaled units of the entries ``index`` at ``at`` on the
    data ``expected`` (``None``: the model's data); eigenvalues below :data:`_MIN_EIGENVALUE` (a
    flat or concave direction) are raised to it, and a Hessian that is not finite gives the identity."""
    batched = batched_objective(objective)
    data = objective.data(expected)
    key = (at.tobytes(), index.tobytes(), data.main.tobytes(), data.aux.tobytes())
    if key not in batched.start_inverses:
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # a step to an infinite -ln L
            hessian = objective.hessian(at, data, index) / np.outer(scale, scale)
        if np.all(np.isfinite(hessian)):
            eigenvalues, vectors = np.linalg.eigh(hessian)
            eigenvalues = np.maximum(np.abs(eigenvalues), _MIN_EIGENVALUE)
            inverse = (vectors / eigenvalues) @ vectors.T
        else:
            inverse = np.eye(index.size)
        batched.start_inverses[key] = 0.5 * (inverse + inverse.T)
    return batched.start_inverses[key]


def _direction(inverse: np.ndarray, gradient: np.ndarray, held: np.ndarray) -> np.ndarray:
    """The quasi-Newton step ``(n, m)`` of every toy over its unheld entries: ``-(H_FF)^-1 g_F``
    from the inverse ``H^-1`` ``(n, m, m)``, by the Schur complement over the held entries
    (``(H_FF)^-1 = (H^-1)_FF - (H^-1)_FA ((H^-1)_AA)^-1 (H^-1)_AF``); 0 in the held entries.

    The systems over the held entries are solved for the toys with the same number of them
    together, each of that size: the toy's step does not depend on which toys share its batch (a
    system padded to the batch's union of held entries is factorised in other blocks, and rounds
    differently)."""
    masked = np.where(held, 0.0, gradient)
    step = np.einsum("bij,bj->bi", inverse, masked)
    counts = held.sum(axis=1)
    for count in np.unique(counts[counts > 0]):
        rows = np.flatnonzero(counts == count)
        entries = np.argsort(~held[rows], axis=1, kind="stable")[:, :count]  # the held ones, in order
        columns = np.take_along_axis(inverse[rows], entries[:, None, :], axis=2)
        system = np.take_along_axis(columns, entries[:, :, None], axis=1)
        weights = np.linalg.solve(system, np.take_along_axis(step[rows], entries, axis=1)[..., None])[..., 0]
        step[rows] -= np.einsum("biu,bu->bi", columns, weights)
    return np.where(held, 0.0, -step)


def _line_search(
    batched: BatchedObjective, toys: ObservedData, x: np.ndarray, index: np.ndarray, scale: np.ndarray,
    z: np.ndarray, f: np.ndarray, g: np.ndarray, direction: np.ndarray, low: np.ndarray, high: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backtracking along the projected step of every toy (``x`` their full entries, ``toys`` their
    data): the first of ``1, 1/2, 1/4, ...`` with Armijo's decrease, rounding of ``-ln L`` allowed;
    a toy gives up once the decrease its step promises is below that rounding. Returns the new
    scaled entries, values, scaled gradients and which toys found a step."""
    n = len(z)
    z_new, f_new, g_new = z.copy(), f.copy(), g.copy()
    accepted = np.zeros(n, dtype=bool)
    pending = np.arange(n)
    step = np.ones(n)
    lower, upper = low / scale, high / scale
    for _ in range(MAX_HALVINGS):
        t = step[pending]
        trial = np.clip(z[pending] + t[:, None] * direction[pending], low, high)
        full = x[pending].copy()
        full[:, index] = _unscaled(trial, scale, lower, upper)
        value, gradient = batched.value_and_grad(full, toys.main[pending], toys.aux[pending])
        gradient = gradient[:, index] / scale
        slope = np.einsum("bi,bi->b", g[pending], trial - z[pending])
        rounding = 8 * np.finfo(float).eps * np.abs(f[pending])
        finite = np.isfinite(value) & np.all(np.isfinite(gradient), axis=1)
        good = finite & (value <= f[pending] + _ARMIJO * slope + rounding)
        chosen = pending[good]
        z_new[chosen], f_new[chosen], g_new[chosen] = trial[good], value[good], gradient[good]
        accepted[chosen] = True
        # the minimum of the parabola through f(0), f'(0) and f(t), kept within [t/10, t/2]
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            curvature = value - f[pending] - slope
            shrink = np.where(finite & (curvature > 0), -0.5 * slope / curvature, 0.1)
        step[pending] = t * np.clip(shrink, 0.1, 0.5)
        # a toy whose step descends by less than the rounding of -ln L stops: halving further
        # cannot show a decrease (near the minimum, BATCH_STALLED_EDM decides whether it converged)
        pending = pending[~good & ~((slope < 0) & (-slope <= rounding))]
        if pending.size == 0:
            break
    return z_new, f_new, g_new, accepted


def _bfgs_update(inverse: np.ndarray, s: np.ndarray, y: np.ndarray, accepted: np.ndarray) -> None:
    """BFGS update of the inverse Hessians in place, for the accepted toys with ``s . y > 0``:
    ``H += s (c s - a)^T - a s^T`` with ``a = H y / s.y`` and ``c = (s.y + y.H y) / (s.y)^2``."""
    sy = np.einsum("bi,bi->b", s, y)
    usable = accepted & (sy > 1e-12 * np.linalg.norm(s, axis=1) * np.linalg.norm(y, axis=1)) & (sy > 0)
    if not usable.any():
        return
    every = usable.all()
    block = inverse if every else inverse[usable]
    s, y, sy = s[usable], y[usable], sy[usable]
    hy = np.einsum("bij,bj->bi", block, y)
    a = hy / sy[:, None]
    c = (sy + np.einsum("bi,bi->b", y, hy)) / sy**2
    # outer products element by element (no BLAS, whose rounding may depend on memory alignment)
    block += s[:, :, None] * (c[:, None] * s - a)[:, None, :]
    block -= a[:, :, None] * s[:, None, :]
    if not every:
        inverse[usable] = block


# ---------------------------------------------------------------------- statistics of a chunk of toys
def toy_statistics(statistic: Any, objective: Objective, toys: ObservedData, start: Mapping[str, Any],
                   conditional_from: Mapping[str, Any] | None = None) -> np.ndarray:
    """The statistic ``(n_toys,)`` of every toy of ``toys``, fits started at ``start``; NaN where a
    fit fails (infinite ``-ln L`` at its start). Equal to ``statistic(objective, toy, start).value``
    toy by toy (the per-toy fits, which also take the toys whose batched fits did not converge).

    ``statistic`` is a :class:`PoiStatistic`, :class:`LikelihoodRatio` or :class:`MaxLikelihood`;
    ``conditional_from``: the start of the conditional fits, :func:`conditional_start` (computed
    here if not given; a study computes it once for all its chunks).
    """
    if not supports_batches(statistic):
        raise ModelError(f"no batched fits of the statistic {statistic!r}")
    if objective.kind != "ml":
        raise ModelError(f"batched fits need a maximum-likelihood objective (kind='ml'), got {objective.kind!r}")
    if conditional_from is None:
        conditional_from = conditional_start(statistic, objective, start)
    expected = _expected_data(objective, start)
    n_toys = len(toys.main)
    values = np.full(n_toys, np.nan)
    fallback = np.zeros(n_toys, dtype=bool)
    for chunk in np.array_split(np.arange(n_toys), max(1, -(-n_toys // BATCH_SIZE))):
        data = ObservedData(toys.main[chunk], toys.aux[chunk])
        values[chunk], fallback[chunk] = _chunk_statistics(statistic, objective, data, start, conditional_from,
                                                           expected)
    for i in np.flatnonzero(fallback):  # the few toys the batched fits did not settle
        try:
            values[i] = statistic(objective, ObservedData(toys.main[i], toys.aux[i]), start).value
        except BayesfitError:  # a failed toy fit is counted, not fatal
            values[i] = np.nan
    if fallback.any():
        logger.debug("batched toys: %d of %d by per-toy fits", int(fallback.sum()), n_toys)
    return values


def _chunk_statistics(statistic: Any, objective: Objective, toys: ObservedData, start: Mapping[str, Any],
                      conditional_from: Mapping[str, Any], expected: ObservedData) -> tuple[np.ndarray, np.ndarray]:
    """The statistic of a batch of toys and which toys need the per-toy fits (``expected``: the
    toys' expected data, :func:`_expected_data`)."""
    hypothesis = _hypothesis(statistic)
    free_bounds = statistic.free_bounds(objective) if isinstance(statistic, PoiStatistic) else None
    conditional = _fit(objective, toys, conditional_from, hypothesis, None, expected)
    ok = conditional.finite_start.copy()
    fallback = ok & ~conditional.converged
    if isinstance(statistic, MaxLikelihood):
        return np.where(ok, conditional.nll, np.nan), fallback
    if not hypothesis:  # goodness of fit against the saturated model
        saturated = saturated_nll(objective, toys)
        return np.where(ok, np.maximum(2.0 * (conditional.nll - saturated), 0.0), np.nan), fallback
    free = _fit(objective, toys, start, {}, free_bounds, expected)
    ok &= free.finite_start
    fallback = ok & (fallback | ~free.converged)
    # as the per-toy statistic: redo the unconditional fit from the conditional solution where it ended above it
    redo = np.flatnonzero(ok & ~fallback & (conditional.nll < free.nll - _REFIT_TOLERANCE))
    if redo.size:
        again = _fit(objective, ObservedData(toys.main[redo], toys.aux[redo]), start, {}, free_bounds, expected,
                     starts=conditional.x[redo])
        fallback[redo[~again.converged]] = True
        lower = again.converged & (again.nll < free.nll[redo])
        free.nll[redo[lower]], free.x[redo[lower]] = again.nll[lower], again.x[lower]
    twice = np.maximum(2.0 * (conditional.nll - free.nll), 0.0)
    if isinstance(statistic, PoiStatistic):
        twice = statistic.from_fits(twice, free.x[:, objective.index(statistic.poi)])
    return np.where(ok, twice, np.nan), fallback


def _expected_data(objective: Objective, start: Mapping[str, Any]) -> ObservedData:
    """The Asimov data at ``start`` completed as the fits complete it: the mean of toys generated there."""
    from bayesfit.inference.toys import asimov_data  # toys imports this module

    lower, upper = _fit_bounds(objective, {})
    return asimov_data(objective, objective.unpack(_start_vector(objective, start, {}, lower, upper)))


def _hypothesis(statistic: Any) -> Mapping[str, float]:
    """The entries a statistic's conditional fits fix."""
    return {statistic.poi: statistic.mu} if isinstance(statistic, PoiStatistic) else statistic.hypothesis


def conditional_start(statistic: Any, objective: Objective, start: Mapping[str, Any]) -> Mapping[str, Any]:
    """The start of the batched conditional fits of toys generated at ``start``: ``start``, or,
    where the statistic's hypothesis moves entries away from it (toys of a background-only point
    tested at a signal strength), the minimum of the toys' expected data under the hypothesis (one
    per-toy fit). From the moved start itself the batched BFGS iterations crawl (measured on the
    ATLAS workspace: no toy converged in 200 iterations), as the other entries must first follow
    the moved ones. :func:`~bayesfit.inference.toys.run_toys` computes it once per study and
    sends it to the workers (a fit of 5-8 s on the ATLAS workspace, once instead of once per worker)."""
    hypothesis = _hypothesis(statistic)
    fixed = objective.entry_indices(hypothesis, "hypothesis")
    lower, upper = _fit_bounds(objective, {})
    free_start = _start_vector(objective, start, {}, lower, upper)
    if np.array_equal(_start_vector(objective, start, fixed, lower, upper), free_start):
        return start
    return fit(objective, observed=_expected_data(objective, start), fixed=dict(hypothesis), starts=[start],
               n_random_starts=0, errors=False).values


def _fit(objective: Objective, toys: ObservedData, start: Mapping[str, Any], fixed: Mapping[str, float],
         bounds: Mapping[str, Any] | None, expected: ObservedData, starts: np.ndarray | None = None) -> BatchFit:
    """Batched fits with ``fixed`` entries and ``bounds`` from ``start`` (or from per-toy
    ``starts``), the start vector completed and clipped as :func:`~bayesfit.inference.fit.fit` does;
    ``expected``: the toys' expected data (see :func:`minimise`)."""
    fixed_entries = objective.entry_indices(fixed, "fixed")
    lower, upper = _fit_bounds(objective, bounds or {})
    free = np.ones(objective.size, dtype=bool)
    free[list(fixed_entries)] = False
    x0 = _start_vector(objective, start, fixed_entries, lower, upper)
    rows = np.broadcast_to(x0, (len(toys.main), x0.size)) if starts is None else np.clip(starts, lower, upper)
    return minimise(objective, toys, rows, free, lower, upper, x0, expected)
