"""Toy Monte Carlo p-values, with the refits spread over any ``concurrent.futures.Executor``.

Pseudo-data are Poisson counts at a parameter point; with marginalised universes each toy first
picks a universe by its weight. Every toy has its own child of one ``numpy.random.SeedSequence``,
and all toys are generated before the refits are distributed, so a study is reproducible with its
seed whatever the executor and its number of workers (a process pool, a
``dask.distributed.Client.get_executor()``, or :class:`SerialExecutor`).

The compiled :class:`~bayesfit.inference.fit.Objective` is pickled once per study and unpickled
once per worker process (a per-process cache keyed by the pickle's hash, so that further studies
of the same objective on the same pool reuse it), never once per toy. Every task carries the pickled
objective (tens of MB for per-event reweighting), so the toys go out in a few large chunks,
``TASKS_PER_WORKER`` per worker, not one task per toy.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import nullcontext
from typing import Any, NamedTuple

import numpy as np

from bayesfit.errors import BayesfitError, InferenceError, ModelError
from bayesfit.inference.fit import Objective, fit
from bayesfit.inference.pvalues import as_objective, saturated_nll
from bayesfit.likelihood import check_observed
from bayesfit.model import BinnedModel

__all__ = ["STATISTICS", "SerialExecutor", "ToyResult", "generate_toys", "toy_pvalue"]

#: Test statistics of :func:`toy_pvalue`.
STATISTICS = ("likelihood_ratio", "max_likelihood")

#: Tasks per worker a study is split into: enough to balance uneven fit times, few enough that
#: sending the pickled objective with each task costs little (results do not depend on it).
TASKS_PER_WORKER = 4


class ToyResult(NamedTuple):
    """Result of :func:`toy_pvalue`.

    Attributes
    ----------
    observed_statistic:
        The test statistic of the observed counts (large = less compatible).
    toy_statistics:
        The statistic of every toy, ``(n_toys,)``; NaN where a fit failed.
    p_value, p_value_error:
        Fraction of successful toys with a statistic at least the observed one, and its binomial
        Monte Carlo error ``sqrt(p (1 - p) / n)``.
    n_failed:
        Toys whose fit failed (left out of the p-value).
    generating_point:
        Values of the free variables the toys were generated at.
    """

    observed_statistic: float
    toy_statistics: np.ndarray
    p_value: float
    p_value_error: float
    n_failed: int
    generating_point: dict[str, np.ndarray]


class SerialExecutor(Executor):
    """An executor that runs every task at once in the calling process (no pickling)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # handed to the caller through the future, like a pool does
            future.set_exception(error)
        return future


def generate_toys(
    model: BinnedModel | Objective,
    point: Mapping[str, Any],
    n_toys: int,
    *,
    seed: int | np.random.SeedSequence | None,
) -> np.ndarray:
    """Poisson pseudo-data at ``point``, ``(n_toys, n_bins)``.

    With ``K > 1`` universes each toy picks universe ``k`` with probability ``w_k / sum w``.
    Toy ``i`` uses child ``i`` of ``SeedSequence(seed)``, so the first toys do not change when
    ``n_toys`` grows.

    Parameters
    ----------
    point:
        Values of the model's free variables (e.g. :attr:`FitResult.values`).
    """
    binned = model.model if isinstance(model, Objective) else model
    if n_toys < 1:
        raise ModelError(f"n_toys must be at least 1, got {n_toys}")
    try:
        values = binned.predictor_values(point)
    except KeyError as error:
        raise ModelError(f"point lacks free variable {error.args[0]!r}; it has {sorted(point)}") from None
    expected = binned.predictor.evaluate(values)  # (K, n)
    weights = binned.predictor.variation_weights
    probabilities = weights / weights.sum()
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    toys = np.empty((n_toys, expected.shape[1]))
    for i, child in enumerate(sequence.spawn(n_toys)):
        rng = np.random.default_rng(child)
        universe = rng.choice(len(probabilities), p=probabilities) if len(probabilities) > 1 else 0
        toys[i] = rng.poisson(expected[universe])
    return toys


def toy_pvalue(
    model: BinnedModel | Objective,
    hypothesis: Mapping[str, float] | None = None,
    *,
    statistic: str = "likelihood_ratio",
    n_toys: int = 200,
    executor: Executor | None = None,
    seed: int | np.random.SeedSequence | None = 0,
    observed: Any | None = None,
    n_workers: int | None = None,
) -> ToyResult:
    """p-value of ``hypothesis`` from the distribution of a test statistic in toy experiments.

    Parameters
    ----------
    hypothesis:
        Fixed entries (e.g. ``{"weights[3]": 0.0}`` for "no model B"); ``None`` tests the model as
        it is.
    statistic:
        ``"likelihood_ratio"``: ``t = 2 [nll(hypothesis, best others) - nll(best fit)]``, toys
        generated at the conditional fit; with ``hypothesis=None`` the best fit is compared with the
        saturated model (goodness of fit). ``"max_likelihood"``: ReMU's maximum-likelihood
        p-value, ``t = nll`` of the fit with the hypothesis fixed (``-max ln L``), toys generated at
        that fit; ``p`` is the fraction of toys with a lower maximised likelihood than the data.
    executor:
        Where the toy fits run; default a ``ProcessPoolExecutor`` with ``n_workers`` workers.
        A ``dask.distributed.Client(...).get_executor()`` works as it is.
    seed:
        Seed of the toys; the result does not depend on the executor or its workers.
    observed:
        Counts to test instead of the model's.
    n_workers:
        Workers of ``executor`` (or of the default pool), used to split the toys into
        ``TASKS_PER_WORKER`` tasks per worker; default the number of cores.
    """
    if statistic not in STATISTICS:
        raise ModelError(f"unknown statistic {statistic!r}; valid: {list(STATISTICS)}")
    objective = as_objective(model)
    hypothesis = dict(hypothesis or {})
    objective.fixed_entries(hypothesis)  # validates the names before any fit
    binned = objective.model
    counts = binned.observed
    if observed is not None:
        counts = check_observed(observed, binned.predictor.n_out, allow_noninteger=True)
    observed_statistic, generating_point = _statistic(objective, counts, statistic, hypothesis, None)
    toys = generate_toys(objective, generating_point, n_toys, seed=seed)
    task = _ToyTask(objective, statistic, hypothesis, generating_point)
    try:
        toy_statistics = _run(task, toys, executor, n_workers or os.cpu_count() or 1)
    finally:
        _OBJECTIVES.pop(task.token, None)
    valid = np.isfinite(toy_statistics)
    n_valid = int(valid.sum())
    if n_valid == 0:
        raise InferenceError(f"all {n_toys} toy fits failed; check the model at {generating_point}")
    p_value = float(np.mean(toy_statistics[valid] >= observed_statistic))
    error = math.sqrt(p_value * (1.0 - p_value) / n_valid)
    return ToyResult(observed_statistic, toy_statistics, p_value, error, n_toys - n_valid, generating_point)


# ---------------------------------------------------------------------- statistics
def _statistic(
    objective: Objective,
    counts: np.ndarray,
    statistic: str,
    hypothesis: Mapping[str, float],
    start: Mapping[str, Any] | None,
) -> tuple[float, dict[str, np.ndarray]]:
    """The test statistic of ``counts`` and the best fit under the hypothesis.

    Toys start from the generating point (``start``) without random starts; the observed counts get
    the default multi-start fit. Only ``-ln L`` and the best values are used: the fits skip the Hessian.
    """
    starts = None if start is None else [start]
    n_random_starts = 2 if start is None else 0
    conditional = fit(
        objective, observed=counts, fixed=hypothesis, starts=starts, n_random_starts=n_random_starts, errors=False
    )
    if statistic == "max_likelihood":
        return conditional.nll, conditional.values
    if not hypothesis:
        return max(2.0 * (conditional.nll - saturated_nll(objective, counts)), 0.0), conditional.values
    best = fit(objective, observed=counts, starts=[conditional.values], n_random_starts=n_random_starts, errors=False)
    return max(2.0 * (conditional.nll - best.nll), 0.0), conditional.values


#: Objectives of toy studies in this process, by the hash of their pickle (one unpickling per worker).
_OBJECTIVES: dict[str, Objective] = {}


class _ToyTask:
    """Picklable refit of a chunk of toys; carries the objective pickled once, cached per process."""

    def __init__(
        self, objective: Objective, statistic: str, hypothesis: Mapping[str, float], start: Mapping[str, Any]
    ) -> None:
        self.objective_bytes = pickle.dumps(objective)
        self.token = hashlib.sha256(self.objective_bytes).hexdigest()
        _OBJECTIVES[self.token] = objective
        self.statistic = statistic
        self.hypothesis = dict(hypothesis)
        self.start = dict(start)

    def objective(self) -> Objective:
        if self.token not in _OBJECTIVES:
            _OBJECTIVES.clear()  # keep only the latest objective in a worker
            _OBJECTIVES[self.token] = pickle.loads(self.objective_bytes)
        return _OBJECTIVES[self.token]

    def __call__(self, toys: np.ndarray) -> np.ndarray:
        objective = self.objective()
        statistics = np.full(len(toys), np.nan)
        for i, counts in enumerate(toys):
            try:
                value, _ = _statistic(objective, counts, self.statistic, self.hypothesis, self.start)
            except BayesfitError:  # a failed toy fit is counted, not fatal
                continue
            statistics[i] = value
        return statistics


def _run(task: _ToyTask, toys: np.ndarray, executor: Executor | None, n_workers: int) -> np.ndarray:
    """Statistics of all toys, in order, computed in ``TASKS_PER_WORKER * n_workers`` chunks on ``executor``."""
    chunks = np.array_split(toys, min(len(toys), TASKS_PER_WORKER * n_workers))
    with nullcontext(executor) if executor is not None else ProcessPoolExecutor(max_workers=n_workers) as pool:
        return np.concatenate([f.result() for f in [pool.submit(task, chunk) for chunk in chunks]])
