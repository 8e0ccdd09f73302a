"""Limits of the example patchset (``models/inputs/patchset``): serial vs 2 processes vs dask.

:func:`bayesfit.inference.limit_scan` over the first ``n`` patches of the 75-point patchset of
``examples/patchset_inputs.py`` (asymptotic CLs, observed and expected band), on a
:class:`~bayesfit.inference.toys.SerialExecutor`, a ``ProcessPoolExecutor(2)`` made per call
(its start-up and each worker's first compilation included) and a dask
``LocalCluster(n_workers=2, threads_per_worker=1)`` client (started and warmed up once on two
other patches, its start-up reported separately). One call each, in turn (a call takes minutes
at full size). The limits must be identical whatever the executor (``max rel diff``).
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
            names = hypotheses.names[:n]
            serial, serial_seconds = _limits(hypotheses, names, SerialExecutor())
            runs = {"ProcessPoolExecutor(2) (new per call)": _limits(hypotheses, names, None),
                    "dask LocalCluster(2 workers), Client": _limits(hypotheses, names, client)}
            for name, (limits, seconds) in runs.items():
                rows.append(Row("patchset_limits", n, f"{name}: s per patch", seconds / n, "serial: s per patch",
                                serial_seconds / n, relative_difference([limits], [serial]),
                                f"{n} patches, asymptotic CLs; dask start-up + warm-up {startup:.1f} s (once)",
                                {"speedup": serial_seconds / seconds, "patches": float(n)}))
    return rows
