"""Shared pieces of the benchmark harness: the result row, interleaved timing, value agreement.

Every case module (``bench_*.py``) returns a list of :class:`Row`; ``run.py`` registers the cases
and writes the tables.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Row:
    """One measurement: ``ours`` against ``reference`` at one size (seconds per call).

    ``extra`` holds further numbers of the row (e.g. ESS per second, ``-ln L`` differences),
    written into the JSON file and the note column of the table.
    """

    case: str
    size: int
    ours: str
    ours_seconds: float
    reference: str
    reference_seconds: float
    max_relative_difference: float | None = None
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.ours_seconds / self.reference_seconds


class SkipCase(Exception):
    """Raised by a case that cannot run here (e.g. an optional reference package is missing)."""


def interleaved_medians(
    functions: Sequence[Callable[[], object]], *, min_repeats: int = 5, budget: float = 1.5, warmup: bool = True
) -> list[float]:
    """Median wall time (s) of each function, called in turn: at least ``min_repeats`` rounds,
    more while the ``budget`` (s) lasts (at most 1000). ``warmup`` calls each function once first,
    untimed."""
    if warmup:
        for function in functions:
            function()
    times: list[list[float]] = []
    start = time.perf_counter()
    while len(times) < min_repeats or (time.perf_counter() - start < budget and len(times) < 1000):
        round_times = []
        for function in functions:
            tick = time.perf_counter()
            function()
            round_times.append(time.perf_counter() - tick)
        times.append(round_times)
    return [float(t) for t in np.median(np.array(times), axis=0)]


def relative_difference(ours: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> float:
    """Largest difference, relative to the largest reference entry, over matching outputs."""
    return max(
        float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))
        for a, b in zip(ours, reference)
    )
