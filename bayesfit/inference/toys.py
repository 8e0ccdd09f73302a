"""Toy Monte Carlo: pseudo-data, toy studies on any executor (or a dask client), toy p-values.

Pseudo-data are the observed data of a new experiment: Poisson main counts at a parameter point
(with marginalised universes each toy first picks a universe by its weight) and the auxiliary
measurements of every constraint drawn from their own distributions around the point. Every toy
has its own child of one ``numpy.random.SeedSequence`` and all toys are generated before the
refits are distributed, so a study is reproducible with its seed whatever the executor and its
number of workers (a process pool, a ``dask.distributed.Client`` or its ``get_executor()``, or
:class:`SerialExecutor`).

The refits run through :func:`~bayesfit.inference.executors.map_chunks`: the compiled
:class:`~bayesfit.inference.objective.Objective` is the payload, sent to each worker once and
cached there by the hash of its pickle (a process pool made here gets it from its initializer, a
``dask.distributed.Client`` by ``scatter``; another executor's tasks carry it), and the toys go
out in chunks, ``TASKS_PER_WORKER`` per worker, not one task per toy.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from typing import Any

import cloudpickle
import numpy as np

from bayesfit.errors import BayesfitError, InferenceError, ModelError
from bayesfit.inference.batched import conditional_start, supports_batches, toy_statistics
from bayesfit.inference.executors import TASKS_PER_WORKER, ExecutorLike, chunk_indices, map_chunks, worker_count
from bayesfit.inference.objective import Objective, check_entry_value, objective_for
from bayesfit.inference.results import TestResult, ToyResult
from bayesfit.inference.test_statistics import hypothesis_statistic
from bayesfit.model import BinnedModel, ObservedData

__all__ = ["TASKS_PER_WORKER", "SerialExecutor", "asimov_data", "generate_toys", "run_toys", "toy_pvalue"]

logger = logging.getLogger(__name__)


class SerialExecutor(Executor):
    """An executor that runs every task at once in the calling process (no pickling)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # handed to the caller through the future, like a pool does
            future.set_exception(error)
        return future


def _model(model: BinnedModel | Objective) -> BinnedModel:
    return model.model if isinstance(model, Objective) else model


def _expected(binned: BinnedModel, point: Mapping[str, Any], what: str) -> np.ndarray:
    """Expected counts ``(K, n)`` at ``point``, after checking every entry of it against its bounds
    with the message every entry point gives (:func:`~bayesfit.inference.objective.check_entry_value`)."""
    for variable in binned.variables:
        if variable.name not in point:
            continue
        try:
            values = np.broadcast_to(np.asarray(point[variable.name], dtype=float), variable.shape).ravel()
        except ValueError:
            raise ModelError(
                f"{what}: {variable.name!r} has shape {np.shape(point[variable.name])}, expected {variable.shape}"
            ) from None
        for label, value, lower, upper in zip(variable.labels, values, variable.lower.ravel(), variable.upper.ravel()):
            check_entry_value(label, float(value), float(lower), float(upper), what)
    return binned.predictor.evaluate(binned.predictor_values(point))


def generate_toys(
    model: BinnedModel | Objective,
    point: Mapping[str, Any],
    n_toys: int,
    *,
    seed: int | np.random.SeedSequence | None,
) -> ObservedData:
    """Pseudo-data at ``point``: main counts ``(n_toys, n_bins)`` and auxiliary data ``(n_toys, n_aux)``.

    With ``K > 1`` universes each toy picks universe ``k`` with probability ``w_k / sum w``.
    The draws come from separate streams of ``SeedSequence(seed)`` (:func:`toy_streams`): the
    universes, the main counts and each constraint's auxiliary data, every stream drawn toy after
    toy, so the first toys do not change when ``n_toys`` grows.

    Parameters
    ----------
    point:
        Values of the model's variables (e.g. :attr:`FitResult.values`; missing fixed ones take
        their values).
    """
    binned = _model(model)
    if n_toys < 1:
        raise ModelError(f"n_toys must be at least 1, got {n_toys}")
    expected = _expected(binned, point, "toys")
    weights = binned.predictor.variation_weights
    universes_rng, main_rng, *aux_rngs = toy_streams(seed, 2 + len(binned.constraints))
    universes = (universes_rng.choice(len(weights), size=n_toys, p=weights / weights.sum()) if len(weights) > 1
                 else np.zeros(n_toys, dtype=np.int64))
    main = main_rng.poisson(expected[universes]).astype(float)
    return ObservedData(main, binned.sample_aux(point, aux_rngs, n_toys))


def toy_streams(seed: int | np.random.SeedSequence | None, n_streams: int) -> list[np.random.Generator]:
    """Generators of the children ``0 .. n_streams - 1`` of ``seed`` (a ``SeedSequence`` is not
    advanced: the same one gives the same toys every time)."""
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return [
        np.random.default_rng(np.random.SeedSequence(sequence.entropy, spawn_key=(*sequence.spawn_key, k),
                                                     pool_size=sequence.pool_size))
        for k in range(n_streams)
    ]


def asimov_data(model: BinnedModel | Objective, point: Mapping[str, Any]) -> ObservedData:
    """The Asimov data at ``point``: expected main counts (averaged over universes with their
    weights) and expected auxiliary data."""
    binned = _model(model)
    weights = binned.predictor.variation_weights
    main = (weights / weights.sum()) @ _expected(binned, point, "asimov data")
    return ObservedData(main, binned.expected_aux(point))


def toy_pvalue(
    model: BinnedModel | Objective,
    hypothesis: Mapping[str, float] | None = None,
    *,
    statistic: str = "likelihood_ratio",
    n_toys: int = 200,
    executor: ExecutorLike | None = None,
    seed: int | np.random.SeedSequence | None = 0,
    observed: Any | None = None,
    n_workers: int | None = None,
    batched: bool = True,
) -> TestResult:
    """p-value of ``hypothesis`` from the distribution of a test statistic in toy experiments.

    Parameters
    ----------
    hypothesis:
        Fixed entries (e.g. ``{"weights[3]": 0.0}`` for "no model B"); ``None`` tests the model as
        it is (goodness of fit against the saturated model).
    statistic:
        ``"likelihood_ratio"``: ``t = 2 [nll(hypothesis, best others) - nll(best fit)]``, toys
        generated at the conditional fit. ``"max_likelihood"``: ReMU's maximum-likelihood
        p-value, ``t = nll`` of the fit with the hypothesis fixed, toys generated at that fit.
    executor:
        Where the toy fits run: any ``concurrent.futures.Executor`` or a ``dask.distributed.Client``
        (the objective is scattered to its workers once); default a ``ProcessPoolExecutor`` with
        ``n_workers`` workers made for the study.
    seed:
        Seed of the toys; the result does not depend on the executor or its workers.
    observed:
        Data to test instead of the model's (counts or ObservedData).
    n_workers:
        Workers of ``executor`` (or of the default pool), used to split the toys into
        ``TASKS_PER_WORKER`` tasks per worker; default the workers of a dask client, else the
        number of cores.
    batched:
        Fit the toys of a task together (the default; same statistics as one fit per toy,
        ``False``); see :func:`run_toys`.

    Returns
    -------
    A :class:`TestResult` with ``method="toys"``: ``p = P(t >= t_obs)`` (ties within a relative
    1e-9 count), its error, an upper limit when no toy reaches ``t_obs``, and the toy study.
    """
    objective = objective_for(model)
    if objective.kind != "ml":
        raise ModelError(f"toy p-values need a maximum-likelihood objective (kind='ml'), got {objective.kind!r}")
    test = hypothesis_statistic(statistic, dict(hypothesis or {}))
    objective.entry_indices(test.hypothesis, "hypothesis")  # validates the names before any fit
    data = objective.data(observed)
    observed_value = test(objective, data)
    generating_point = observed_value.conditional.values
    study = run_toys(objective, test, generating_point, n_toys, seed=seed, executor=executor, n_workers=n_workers,
                     batched=batched)
    if study.n_failed == study.n_toys:
        raise InferenceError(f"all {n_toys} toy fits failed; check the model at {generating_point}")
    p_value, error, upper = study.tail_fraction(observed_value.value)
    return TestResult(
        method="toys", statistic=observed_value.value, p_value=p_value, p_value_error=error,
        p_value_upper_limit=upper, hypothesis=test.hypothesis, best_fit=observed_value.free,
        conditional_fit=observed_value.conditional, toys=study, statistic_name=test.name,
    )


def run_toys(
    objective: Objective,
    statistic: Callable[..., Any],
    point: Mapping[str, Any],
    n_toys: int,
    *,
    seed: int | np.random.SeedSequence | None,
    executor: ExecutorLike | None = None,
    n_workers: int | None = None,
    batched: bool = True,
) -> ToyResult:
    """The statistic of ``n_toys`` pseudo-experiments generated at ``point`` (each fit starts from
    ``point``); toys whose fits fail are NaN. ``statistic(objective, data, start)`` returns a
    :class:`~bayesfit.inference.test_statistics.StatisticValue`.

    ``batched``: fit the toys of a chunk together (:func:`~bayesfit.inference.batched.toy_statistics`;
    the statistics of :mod:`~bayesfit.inference.test_statistics`, same results as the per-toy
    fits), else one fit after the other (``False``, and any other statistic)."""
    toys = generate_toys(objective, point, n_toys, seed=seed)
    n_workers = worker_count(executor, n_workers)
    where = type(executor).__name__ if executor is not None else "ProcessPoolExecutor"
    logger.info("toys: %d fits on %d worker(s) of a %s", n_toys, n_workers, where)
    start = time.perf_counter()
    chunks = [ObservedData(toys.main[b], toys.aux[b]) for b in chunk_indices(n_toys, n_workers)]
    in_batches = batched and supports_batches(statistic, objective)
    # the start of the conditional fits, once for every worker (see batched.conditional_start)
    fits = _ToyFits(statistic, point, conditional_start(statistic, objective, point) if in_batches else None)
    statistics = np.concatenate(map_chunks(fits, objective, chunks, executor=executor, n_workers=n_workers,
                                           what=f"toys ({n_toys})"))
    study = ToyResult(statistics, {k: np.asarray(v) for k, v in point.items()}, seed if not isinstance(
        seed, np.random.SeedSequence) else seed.entropy)
    logger.info("toys: %d fits in %.1f s, %d failed", n_toys, time.perf_counter() - start, study.n_failed)
    return study


class _ToyFits:
    """The statistic of a chunk of toys (refits from ``start``); small to pickle, the objective
    comes as the payload of :func:`~bayesfit.inference.executors.map_chunks`."""

    def __init__(self, statistic: Callable[..., Any], start: Mapping[str, Any],
                 conditional_from: Mapping[str, Any] | None) -> None:
        #: the start of the batched conditional fits; ``None``: the toys take the per-toy fits
        self.conditional_from = conditional_from
        self.statistic = statistic
        self.start = dict(start)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "statistic": cloudpickle.dumps(self.statistic)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({**state, "statistic": pickle.loads(state["statistic"])})

    def __call__(self, objective: Objective, toys: ObservedData) -> np.ndarray:
        if self.conditional_from is not None:
            return toy_statistics(self.statistic, objective, toys, self.start, self.conditional_from)
        statistics = np.full(len(toys.main), np.nan)
        for i, (main, aux) in enumerate(zip(toys.main, toys.aux)):
            try:
                statistics[i] = self.statistic(objective, ObservedData(main, aux), self.start).value
            except BayesfitError:  # a failed toy fit is counted, not fatal
                continue
        return statistics
