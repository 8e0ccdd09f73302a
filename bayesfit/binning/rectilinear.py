"""The cartesian product of axes: the everyday multi-dimensional binning."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from bayesfit.binning.axes import Axis
from bayesfit.binning.base import BinMapping, Binning, check_finite, check_size, combine_indices
from bayesfit.errors import BinningError
from bayesfit.events import Events

__all__ = ["RectilinearBinning"]


class RectilinearBinning(Binning):
    """Cartesian product of axes over distinct variables, flat index row-major (last axis fastest).

    The HESE seed's binning, in its order (topology, zenith, energy) with energy fastest::

        RectilinearBinning([
            CategoryAxis("topology", (0, 1)),
            CosAxis("zenith", 10),
            Log10Axis("energy", 60.0e3, 1.0e7, 20),
        ])

    Parameters
    ----------
    axes
        The axes, slowest first.
    """

    def __init__(self, axes: Sequence[Axis]) -> None:
        axes = tuple(axes)
        if not axes or not all(isinstance(axis, Axis) for axis in axes):
            raise BinningError(f"a RectilinearBinning needs a non-empty sequence of axes, got {axes!r}")
        names = [axis.variable for axis in axes]
        if not all(isinstance(name, str) and name for name in names):
            raise BinningError(f"every axis needs a non-empty variable name, got {names!r}")
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise BinningError(f"variables {repeated} appear on more than one axis")
        check_size(math.prod(axis.size for axis in axes),
                   f"the rectilinear binning over {names} ({' x '.join(str(axis.size) for axis in axes)})")
        self.axes: tuple[Axis, ...] = axes

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def shape(self) -> tuple[int, ...]:
        """Number of bins per axis."""
        return tuple(axis.size for axis in self.axes)

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(axis.variable for axis in self.axes)

    @property
    def dims(self) -> tuple[str, ...]:
        """Dimension names (the axes' variables), for reshaping flat arrays to :attr:`shape`."""
        return self.variables

    @property
    def coords(self) -> dict[str, np.ndarray]:
        """Variable -> bin edges (``(n + 1,)``); category axes give their ``(n,)`` categories."""
        return {
            axis.variable: np.array(getattr(axis, "categories", axis.edges)) for axis in self.axes
        }

    def axis(self, variable: str) -> Axis:
        """The axis over ``variable``."""
        for axis in self.axes:
            if axis.variable == variable:
                return axis
        raise BinningError(f"no axis over {variable!r}; the binning has {list(self.variables)}")

    def index_events(self, events: Events) -> np.ndarray:
        indices = []
        for axis in self.axes:
            values = events.column(axis.variable, needed_by=f"the axis over {axis.variable!r}")
            check_finite(events, axis.variable, values)
            indices.append(axis.index(values))
        return combine_indices(indices, self.shape)

    def bin_labels(self) -> list[str]:
        return [", ".join(parts) for parts in itertools.product(*(axis.labels for axis in self.axes))]

    def projection(self, variables: Sequence[str]) -> BinMapping:
        """Sum onto the axes over ``variables``, in the order given (so it may also transpose)."""
        variables = list(variables)
        if not variables:
            raise BinningError("project onto at least one variable")
        unknown = [name for name in variables if name not in self.variables]
        if unknown or len(set(variables)) != len(variables):
            raise BinningError(
                f"cannot project onto {variables}: the binning has variables {list(self.variables)}"
            )
        target = RectilinearBinning([self.axis(name) for name in variables])
        multi = np.unravel_index(np.arange(self.size), self.shape)
        kept = tuple(multi[self.variables.index(name)] for name in variables)
        return BinMapping(target, np.ravel_multi_index(kept, target.shape).astype(np.int64))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "rectilinear", "axes": [axis.to_dict() for axis in self.axes]}

    def __repr__(self) -> str:
        return f"RectilinearBinning({list(self.axes)!r})"

