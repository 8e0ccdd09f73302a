"""Upper limits over many labelled hypotheses (the signal points of a patchset), spread over an executor.

:func:`limit_scan` takes *labelled hypotheses*: any object with ``labels`` (the names of the
values that place a hypothesis, e.g. two masses), ``names``, ``values`` (one tuple per name) and
``model(name)`` returning that hypothesis's :class:`~bayesfit.model.BinnedModel`; e.g.
:class:`bayesfit.histfactory.PatchsetHypotheses`. The object is the payload of
:func:`~bayesfit.inference.executors.map_chunks`, sent to each worker once; every task builds
the model of one hypothesis and computes :func:`~bayesfit.inference.upper_limit` there (toys of
a hypothesis run serially in its worker), so the limits are those of one ``upper_limit`` call
per hypothesis whatever the executor.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from bayesfit.errors import LimitNotFoundError, ModelError
from bayesfit.inference.executors import ExecutorLike, map_chunks, worker_count
from bayesfit.inference.hypotest import upper_limit
from bayesfit.inference.results import LimitScanResult, UpperLimitResult
from bayesfit.inference.toys import SerialExecutor
from bayesfit.model import BinnedModel

__all__ = ["LabelledHypotheses", "limit_scan"]

logger = logging.getLogger(__name__)


class LabelledHypotheses(Protocol):
    """Hypotheses placed by the values of ``labels``, each with its model (see the module docstring)."""

    @property
    def labels(self) -> Sequence[str]: ...

    @property
    def names(self) -> Sequence[str]: ...

    @property
    def values(self) -> Sequence[tuple[Any, ...]]: ...

    def model(self, name: str) -> BinnedModel: ...


class _Limits:
    """The limits of a chunk of hypothesis names (picklable; the hypotheses are the payload)."""

    def __init__(self, options: Mapping[str, Any], credible: Mapping[str, Any] | None) -> None:
        self.options, self.credible = dict(options), None if credible is None else dict(credible)

    def __call__(self, hypotheses: LabelledHypotheses, names: Sequence[str]) -> list[tuple[Any, Any, str | None]]:
        results = []
        for name in names:
            model = hypotheses.model(name)
            limit = credible = failure = None
            try:
                limit = upper_limit(model, executor=SerialExecutor(), n_workers=1, **self.options)
            except LimitNotFoundError as error:  # e.g. CLs above 1 - level up to the POI's bound: recorded
                failure = str(error)
                logger.warning("no CLs limit for %s: %s", name, error)
            if self.credible is not None:
                credible = upper_limit(model, method="credible", **self.credible)
            results.append((limit, credible, failure))
        return results


def limit_scan(
    hypotheses: LabelledHypotheses,
    *,
    names: Sequence[str] | None = None,
    level: float = 0.95,
    test_statistic: str = "qmu_tilde",
    calculator: str = "asymptotic",
    poi: str | None = None,
    scan: Sequence[float] | np.ndarray | None = None,
    n_toys: int = 1000,
    n_toys_alternative: int | None = None,
    seed: Any = 0,
    credible: bool = False,
    sampling: Mapping[str, Any] | None = None,
    executor: ExecutorLike | None = None,
    n_workers: int | None = None,
) -> LimitScanResult:
    """The CLs upper limit (observed and expected band) of every hypothesis, and optionally its
    credible upper limit, computed in parallel.

    Parameters
    ----------
    hypotheses:
        The labelled hypotheses (see :class:`LabelledHypotheses`).
    names:
        A subset of ``hypotheses.names`` (in this order); default all.
    level, test_statistic, calculator, poi, scan, n_toys, n_toys_alternative, seed:
        Options of :func:`~bayesfit.inference.upper_limit`, the same for every hypothesis
        (``calculator="toys"`` needs ``scan``).
    credible, sampling:
        Also the credible upper limit at ``level``, from a NUTS run with ``sampling`` options.
    executor:
        Where the hypotheses run, one task each: any ``concurrent.futures.Executor`` or a
        ``dask.distributed.Client``; default a process pool of ``n_workers`` (default the cores).

    Returns
    -------
    A :class:`~bayesfit.inference.results.LimitScanResult`; a hypothesis whose CLs limit is not
    found within the POI's bounds has ``None`` and its reason in ``failures``.
    """
    known = list(hypotheses.names)
    chosen = known if names is None else list(names)
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise ModelError(f"limit_scan: no hypotheses named {unknown[:5]}; {len(known)} hypotheses, e.g. {known[:5]}")
    if calculator == "toys" and scan is None:
        raise ModelError("limit_scan: upper limits from toys need scan= (CLs from toys is noisy for root finding)")
    options = dict(level=level, test_statistic=test_statistic, calculator=calculator, poi=poi,
                   scan=None if scan is None else np.asarray(scan, dtype=float), n_toys=n_toys,
                   n_toys_alternative=n_toys_alternative, seed=seed)
    credible_options = dict(level=level, poi=poi, sampling={"progressbar": False, **dict(sampling or {})}) if credible else None
    values = dict(zip(known, hypotheses.values))
    logger.info("limits of %d hypotheses on %d worker(s)", len(chosen), worker_count(executor, n_workers))
    start = time.perf_counter()
    # one hypothesis a task: each takes seconds (a model to build and compile), the payload is cached per worker
    chunks = [[name] for name in chosen]
    outcomes = [outcome for chunk in map_chunks(_Limits(options, credible_options), hypotheses, chunks,
                                                executor=executor, n_workers=n_workers, what="limits")
                for outcome in chunk]
    limits: list[UpperLimitResult | None] = [limit for limit, _, _ in outcomes]
    result = LimitScanResult(
        labels=tuple(hypotheses.labels), names=chosen, values=[tuple(values[name]) for name in chosen], limits=limits,
        credible=[other for _, other, _ in outcomes] if credible else None,
        failures={name: failure for name, (_, _, failure) in zip(chosen, outcomes) if failure is not None},
    )
    logger.info("limits of %d hypotheses in %.1f s, %d without a CLs limit", len(chosen),
                time.perf_counter() - start, len(result.failures))
    return result
