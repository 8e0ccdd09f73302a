"""Map a task over chunks of work on an executor, with a large payload sent to each worker once.

Toy studies, limit scans and patchsets share one shape of parallel work: a large *payload* (a
compiled objective, a background workspace and its patchset) that every task needs, and many
small *chunks* (toy data, patch names). :func:`map_chunks` calls ``function(payload, chunk)``
for every chunk and returns the results in the order of the chunks, whatever order the workers
finish in; it logs the progress (``logging``, at most every :data:`PROGRESS_SECONDS`).

The payload is pickled once (cloudpickle: user terms may be lambdas) and unpickled once per
worker process, into a per-process cache keyed by the sha256 of the pickle, so that the next
study of the same payload on the same workers reuses it. A worker configures BLAS
(:func:`bayesfit.backend.configure_blas`) before it unpickles (unpickling an objective compiles
its functions). How the pickle reaches the workers depends on the executor:

- ``executor=None``: a ``ProcessPoolExecutor`` of ``n_workers`` made here, whose initializer
  installs the pickle in every worker; the tasks carry only its hash.
- a ``dask.distributed.Client`` (the client itself, not ``client.get_executor()``): the pickle is
  sent to every worker once with ``client.scatter(..., broadcast=True)`` and each task is
  ``client.submit(function, payload_future, chunk)``, the chunks dealt to the workers in turn
  (other workers may steal them).
- any other ``concurrent.futures.Executor`` (a pool of one's own, ``Client.get_executor()``,
  :class:`~bayesfit.inference.toys.SerialExecutor`): every task carries the pickle, and a worker
  unpickles it only the first time it sees its hash. In the calling process (a serial
  executor) the payload is used as it is, never unpickled.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any, TypeVar, Union

import cloudpickle
import numpy as np

from bayesfit.backend import configure_blas

if TYPE_CHECKING:
    import distributed

__all__ = ["PROGRESS_SECONDS", "TASKS_PER_WORKER", "ExecutorLike", "chunk_indices", "is_dask_client", "map_chunks",
           "worker_count"]

#: Where parallel work runs: any ``concurrent.futures.Executor`` or a ``dask.distributed.Client``.
ExecutorLike = Union[Executor, "distributed.Client"]

#: Chunks per worker a job is split into: enough to balance uneven task times, few enough that
#: the per-task overhead (and, on a foreign executor, the payload sent with each task) is small.
TASKS_PER_WORKER = 4

#: Least seconds between two progress messages of one job.
PROGRESS_SECONDS = 5.0

logger = logging.getLogger(__name__)

Chunk = TypeVar("Chunk")
Result = TypeVar("Result")


def is_dask_client(executor: Any) -> bool:
    """Whether ``executor`` is a ``dask.distributed.Client`` (checked without importing dask)."""
    return type(executor).__module__.split(".")[0] == "distributed" and hasattr(executor, "scatter")


def worker_count(executor: ExecutorLike | None, n_workers: int | None = None) -> int:
    """``n_workers`` if given, else the workers of a dask client (at least 1), else the number of cores."""
    if n_workers is not None:
        if n_workers < 1:
            raise ValueError(f"n_workers must be at least 1, got {n_workers}")
        return int(n_workers)
    if is_dask_client(executor):
        return max(1, len(executor.scheduler_info().get("workers", {})))
    return os.cpu_count() or 1


def chunk_indices(n_items: int, n_workers: int) -> list[np.ndarray]:
    """Indices of ``n_items`` split into ``min(n_items, TASKS_PER_WORKER * n_workers)`` contiguous chunks."""
    return np.array_split(np.arange(n_items), min(n_items, TASKS_PER_WORKER * n_workers)) if n_items else []


#: Payloads of this process by the hash of their pickle: the live object of a job started here,
#: or the one unpickled by a worker (a worker keeps only the latest one).
_PAYLOADS: dict[str, Any] = {}
#: Pickles installed by a process pool's initializer, unpickled on first use.
_INSTALLED: dict[str, bytes] = {}
_LOCK = threading.Lock()


class _Payload:
    """The payload of a job by the hash of its pickle; carries the pickle itself unless the
    workers have it already (a pool made by :func:`map_chunks`)."""

    def __init__(self, token: str, data: bytes | None) -> None:
        self.token, self.data = token, data

    def get(self) -> Any:
        with _LOCK:
            if self.token not in _PAYLOADS:
                data = self.data if self.data is not None else _INSTALLED.pop(self.token, None)
                if data is None:
                    raise RuntimeError("the payload of this task was not installed in its worker")
                _PAYLOADS.clear()  # keep only the latest payload in a worker
                configure_blas()  # before unpickling compiles an objective's functions in a fresh process
                _PAYLOADS[self.token] = pickle.loads(data)
            return _PAYLOADS[self.token]


def _install(token: str, data: bytes) -> None:
    """Initializer of the worker processes of a pool made by :func:`map_chunks`."""
    _INSTALLED.clear()
    _INSTALLED[token] = data


def _call(function: Callable[[Any, Any], Any], payload: _Payload, chunk: Any) -> Any:
    return function(payload.get(), chunk)


def map_chunks(
    function: Callable[[Any, Chunk], Result],
    payload: Any,
    chunks: Sequence[Chunk],
    *,
    executor: ExecutorLike | None = None,
    n_workers: int | None = None,
    what: str = "tasks",
) -> list[Result]:
    """``[function(payload, chunk) for chunk in chunks]``, computed on ``executor``.

    Parameters
    ----------
    function:
        A picklable callable (a module-level function, or an object whose pickle is small).
    payload:
        What every task needs; sent to each worker once (see the module docstring).
    chunks:
        The pieces of work, one task each (see :func:`chunk_indices`).
    executor:
        ``None`` (a process pool of ``n_workers`` made for this call), a ``dask.distributed.Client``
        or any ``concurrent.futures.Executor``.
    n_workers:
        Workers of the pool made here; default the number of cores.
    what:
        What the chunks are, for the progress messages (e.g. ``"toys: 8 chunks"``).

    Returns
    -------
    The results, in the order of ``chunks``. The first task that raises cancels the others and
    its exception propagates.
    """
    if not chunks:
        return []
    data = cloudpickle.dumps(payload)
    token = hashlib.sha256(data).hexdigest()
    with _LOCK:
        _PAYLOADS[token] = payload  # tasks run in this process use the object itself
    try:
        if is_dask_client(executor):
            return _on_dask(executor, function, _Payload(token, data), chunks, what)
        if executor is None:
            workers = min(worker_count(None, n_workers), len(chunks))
            with ProcessPoolExecutor(max_workers=workers, initializer=_install, initargs=(token, data)) as pool:
                futures = [pool.submit(_call, function, _Payload(token, None), chunk) for chunk in chunks]
                return _gather(futures, what)
        futures = [executor.submit(_call, function, _Payload(token, data), chunk) for chunk in chunks]
        return _gather(futures, what)
    finally:
        with _LOCK:
            _PAYLOADS.pop(token, None)


def _on_dask(client: Any, function: Callable[..., Any], payload: _Payload, chunks: Sequence[Any],
             what: str) -> list[Any]:
    """The job on a dask client: the payload scattered to every worker, one submitted task per chunk."""
    import distributed

    remote = client.scatter(payload, broadcast=True)
    workers = sorted(client.scheduler_info().get("workers", {})) or [None]
    # chunks dealt to the workers in turn (dask's placement of a burst of new tasks is uneven), any may steal
    futures = [client.submit(_call, function, remote, chunk, pure=False, workers=workers[i % len(workers)],
                             allow_other_workers=True) for i, chunk in enumerate(chunks)]
    try:
        return _collect(futures, distributed.as_completed(futures), what)
    finally:
        client.cancel([remote, *futures])


def _gather(futures: list[Any], what: str) -> list[Any]:
    try:
        return _collect(futures, as_completed(futures), what)
    finally:
        for future in futures:
            future.cancel()


def _collect(futures: list[Any], completed: Any, what: str) -> list[Any]:
    """Results of ``futures`` in their order, consumed as they complete, with progress messages."""
    index = {id(future): i for i, future in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    start = last = time.perf_counter()
    for done, future in enumerate(completed, 1):
        results[index[id(future)]] = future.result()
        now = time.perf_counter()
        if now - last >= PROGRESS_SECONDS and done < len(futures):
            logger.info("%s: %d of %d chunks done in %.0f s", what, done, len(futures), now - start)
            last = now
    logger.debug("%s: %d chunks in %.1f s", what, len(futures), time.perf_counter() - start)
    return results
