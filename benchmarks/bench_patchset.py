"""Limits of the example patchset (``models/inputs/patchset``): serial vs 2 processes vs dask.

:func:`bayesfit.inference.limit_scan` over the first ``n`` patches of the 75-point patchset of
``examples/patchset_inputs.py`` (asymptotic CLs, observed and expected band), on a
:class:`~bayesfit.inference.toys.SerialExecutor`, a ``ProcessPoolExecutor(2)`` made per call by
``limit_scan`` (its start-up and the payload installed by its initializer included) and a dask
``LocalCluster(n_workers=2, threads_per_worker=1)`` client (started and warmed up once on two
other patches, its start-up reported separately). The patches go in rounds of
``ROUND`` patches, every executor in turn on each round, so that all see the same load of the
shared machine; the seconds per patch are the totals over the rounds. The limits must be
identical whatever the executor (``max rel diff``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from bench_common import Row, SkipCase, relative_difference

INPUTS = Path(__file__).resolve().parents[1] / "models" / "inputs" / "patchset"
N_WORKERS = 2
#: Patches per round of the interleaved timing.
ROUND = 4


def _limits(hypotheses, names, executor) -> tuple[np.ndarray, float]:
    from bayesfit.inference import limit_scan

    tick = time.perf_counter()
    result = limit_scan(hypotheses, names=names, executor=executor, n_workers=N_WORKERS)
    return np.column_stack([result.observed, result.expected]), time.perf_counter() - tick


def patchset_limits(sizes: Sequence[int]) -> list[Row]:
    """Seconds per patch of the patchset's limits on each executor, for the first ``n`` patches."""
    try:
        import distributed
    except ImportError as error:
        raise SkipCase("dask.distributed is not installed") from error
    from bayesfit.histfactory import PatchsetHypotheses
    from bayesfit.inference import SerialExecutor

    hypotheses = PatchsetHypotheses(INPUTS / "background.json", INPUTS / "patchset.json")
    rows = []
    with distributed.LocalCluster(n_workers=N_WORKERS, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
        tick = time.perf_counter()
        _limits(hypotheses, hypotheses.names[-2:], client)  # workers import bayesfit and compile once
        startup = time.perf_counter() - tick
        for n in sizes:
            executors = {"serial": SerialExecutor(), "ProcessPoolExecutor(2) (new per call)": None,
                         "dask LocalCluster(2 workers), Client": client}
            seconds = dict.fromkeys(executors, 0.0)
            limits: dict[str, list[np.ndarray]] = {name: [] for name in executors}
            for start in range(0, n, ROUND):
                names = hypotheses.names[start:min(n, start + ROUND)]
                for name, executor in executors.items():
                    values, wall = _limits(hypotheses, names, executor)
                    seconds[name] += wall
                    limits[name].append(values)
            serial = np.concatenate(limits["serial"])
            for name in list(executors)[1:]:
                rows.append(Row("patchset_limits", n, f"{name}: s per patch", seconds[name] / n, "serial: s per patch",
                                seconds["serial"] / n, relative_difference([np.concatenate(limits[name])], [serial]),
                                f"{n} patches in rounds of {ROUND}, asymptotic CLs; dask start-up + warm-up "
                                f"{startup:.1f} s (once)", {"speedup": seconds["serial"] / seconds[name],
                                                             "patches": float(n)}))
    return rows
