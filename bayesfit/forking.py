"""Work mapped over processes forked from the caller, which inherit its state.

Chains of NUTS on compiled PyTensor functions and the figures of a run are drawn in processes
forked from the caller: they inherit what the caller built (compiled functions, figure jobs), so
nothing is pickled on the way in, only results on the way back. Workers ignore SIGINT: Ctrl-C
reaches the whole process group, and the caller alone handles it, stopping the workers at once.
Where ``fork`` is not available (macOS, Windows), or in a daemonic process (which may not have
children), the work runs in the caller, one item after the other.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

__all__ = ["can_fork", "forked_imap"]


def can_fork() -> bool:
    """Whether this process may fork workers (Linux, not itself a daemonic worker)."""
    return (sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
            and not multiprocessing.current_process().daemon)


def forked_imap(function: Callable[[Any], Any], arguments: Iterable[Any], processes: int) -> Iterator[Any]:
    """``function(argument)`` for every argument, in order, computed by up to ``processes``
    forked workers (``function`` a module-level function: it is sent by name); in the caller
    when ``processes < 2``, for a single argument, or where forking is not possible."""
    arguments = list(arguments)
    processes = min(processes, len(arguments))
    if processes < 2 or not can_fork():
        for argument in arguments:
            yield function(argument)
        return
    pool = multiprocessing.get_context("fork").Pool(processes, initializer=_ignore_interrupts)
    try:
        yield from pool.imap(function, arguments, chunksize=1)
        pool.close()
    finally:
        pool.terminate()  # an interrupt or an error here stops the other workers at once
        pool.join()


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
