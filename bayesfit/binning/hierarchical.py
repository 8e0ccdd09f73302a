"""Hierarchical binnings: a top binning whose bins may each hold a finer sub-binning.

This is ReMU's ``subbinnings``. The data bins are laid out top bin by top bin: a top bin without a
sub-binning is one data bin, a top bin with one contributes ``subbinning.size`` data bins. ReMU's
example 05 truth binning (event type -1/0/1 = noise/background/signal) gives 1 + 6x8 + 10x12 = 169.

Events only need the variables of a sub-binning if they fall into its top bin: noise events may
lack ``true_x`` entirely (column absent, or NaN in those rows) as long as no event of the sub-binned
categories does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bayesfit.binning.base import BinMapping, Binning, check_size
from bayesfit.errors import BinningError
from bayesfit.events import Events

__all__ = ["HierarchicalBinning", "bin_number"]


class HierarchicalBinning(Binning):
    """A top binning with sub-binnings replacing some of its bins.

    Parameters
    ----------
    top
        The coarse binning (e.g. a category axis over ``event_type``).
    subbinnings
        Top-level flat bin index -> the binning that replaces that bin.
    """

    def __init__(self, top: Binning, subbinnings: Mapping[int, Binning]) -> None:
        if not isinstance(top, Binning):
            raise BinningError(f"the top of a hierarchical binning must be a Binning, got {top!r}")
        checked: dict[int, Binning] = {}
        for bin_index, subbinning in sorted(subbinnings.items()):
            if not (isinstance(bin_index, (int, np.integer)) and 0 <= bin_index < top.size):
                raise BinningError(
                    f"sub-binning key {bin_index!r} is not a bin of the top binning (0..{top.size - 1})"
                )
            if not isinstance(subbinning, Binning):
                raise BinningError(f"sub-binning of bin {bin_index} is not a Binning: {subbinning!r}")
            checked[int(bin_index)] = subbinning
        check_size(top.size - len(checked) + sum(subbinning.size for subbinning in checked.values()),
                   "the hierarchical binning")
        self.top = top
        self.subbinnings: dict[int, Binning] = checked
        self._offsets = _offsets(top.size, checked)

    @property
    def size(self) -> int:
        return int(self._offsets[-1])

    @property
    def variables(self) -> tuple[str, ...]:
        names = list(self.top.variables)
        for subbinning in self.subbinnings.values():
            names += [name for name in subbinning.variables if name not in names]
        return tuple(names)

    def data_slice(self, top_bin: int) -> slice:
        """The flat data bins that belong to top-level bin ``top_bin``."""
        if not 0 <= top_bin < self.top.size:
            raise BinningError(f"top-level bin {top_bin} does not exist (0..{self.top.size - 1})")
        return slice(int(self._offsets[top_bin]), int(self._offsets[top_bin + 1]))

    @property
    def top_bin_of(self) -> np.ndarray:
        """``(size,)``: the top-level bin each data bin belongs to."""
        return np.repeat(np.arange(self.top.size), np.diff(self._offsets))

    def index_events(self, events: Events) -> np.ndarray:
        top_index = self.top.index_events(events)
        flat = np.where(top_index >= 0, self._offsets[np.maximum(top_index, 0)], -1)
        for bin_index, subbinning in self.subbinnings.items():
            rows = np.flatnonzero(top_index == bin_index)
            if len(rows) == 0:
                continue
            sub_index = subbinning.index_events(events.take(rows))
            flat[rows] = np.where(sub_index >= 0, self._offsets[bin_index] + sub_index, -1)
        return flat

    def bin_labels(self) -> list[str]:
        labels: list[str] = []
        for bin_index, top_label in enumerate(self.top.bin_labels()):
            subbinning = self.subbinnings.get(bin_index)
            if subbinning is None:
                labels.append(top_label)
            else:
                labels += [f"{top_label} / {label}" for label in subbinning.bin_labels()]
        return labels

    def marginalization(self, bins: Sequence[int] | None = None) -> BinMapping:
        """Collapse the sub-binnings of top-level ``bins`` (default: all) into their parent bins.

        The target is a hierarchical binning with the remaining sub-binnings, or the top binning
        itself when none remain.
        """
        collapse = set(self.subbinnings) if bins is None else {int(bin_index) for bin_index in bins}
        missing = sorted(collapse - set(self.subbinnings))
        if missing:
            raise BinningError(
                f"top-level bins {missing} have no sub-binning; sub-binned bins are "
                f"{sorted(self.subbinnings)}"
            )
        remaining = {key: value for key, value in self.subbinnings.items() if key not in collapse}
        target: Binning = HierarchicalBinning(self.top, remaining) if remaining else self.top
        target_offsets = _offsets(self.top.size, remaining)
        top_bin = self.top_bin_of
        index = target_offsets[top_bin].copy()
        for bin_index in remaining:
            part = self.data_slice(bin_index)
            index[part] += np.arange(part.stop - part.start)
        return BinMapping(target, index)

    def marginalize_subbinnings(self, bins: Sequence[int] | None = None) -> Binning:
        """The binning with the sub-binnings of ``bins`` (default: all) collapsed (ReMU's name)."""
        return self.marginalization(bins).target

    def insert_subbinning(self, bin_index: int, subbinning: Binning) -> HierarchicalBinning:
        """A copy with top-level bin ``bin_index`` (which must have none yet) sub-binned."""
        if bin_index in self.subbinnings:
            raise BinningError(f"top-level bin {bin_index} already has a sub-binning")
        return HierarchicalBinning(self.top, {**self.subbinnings, bin_index: subbinning})

    def projection(self, variables: Sequence[str]) -> BinMapping:
        """Project onto variables of the top binning (all sub-binnings are summed into their bins)."""
        if not set(variables) <= set(self.top.variables):
            raise BinningError(
                f"a hierarchical binning projects only onto its top variables "
                f"{list(self.top.variables)}, not {list(variables)}; project a sub-histogram instead"
            )
        collapsed = self.marginalization()
        if list(variables) == list(self.top.variables):
            return collapsed
        inner = self.top.projection(variables)
        return BinMapping(inner.target, inner.index[collapsed.index])

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "hierarchical",
            "top": self.top.to_dict(),
            "subbinnings": {key: value.to_dict() for key, value in self.subbinnings.items()},
        }

    def __repr__(self) -> str:
        return f"HierarchicalBinning({self.top!r}, {self.subbinnings!r})"


def _offsets(top_size: int, subbinnings: Mapping[int, Binning]) -> np.ndarray:
    widths = np.ones(top_size, dtype=np.int64)
    for bin_index, subbinning in subbinnings.items():
        widths[bin_index] = subbinning.size
    return np.concatenate([[0], np.cumsum(widths)])


def bin_number(key: Any) -> int:
    """A ``subbinnings`` key as a bin number (YAML may give ``1`` or ``"1"``), else a :class:`BinningError`."""
    if isinstance(key, bool) or not isinstance(key, (int, str)) or not str(key).lstrip("-").isdigit():
        raise BinningError(f"sub-binning key {key!r} is not a bin number of the top binning")
    return int(key)
