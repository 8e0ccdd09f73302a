"""Cartesian products of binnings (ReMU's ``CartesianProductBinning``).

A cross-section binning is a truth binning times a flux binning: bin ``(i, j)`` is truth bin ``i``
for neutrinos in flux bin ``j``, at flat index ``i * n_flux + j`` (the last binning runs fastest).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from bayesfit.binning.base import BinMapping, Binning, check_size, combine_indices, product_projection
from bayesfit.errors import BinningError
from bayesfit.events import Events

__all__ = ["ProductBinning"]


class ProductBinning(Binning):
    """The cartesian product of binnings over disjoint variables, flat index row-major.

    Parameters
    ----------
    binnings
        The factor binnings, slowest first (any kind, including hierarchical ones).
    """

    def __init__(self, binnings: Sequence[Binning]) -> None:
        binnings = tuple(binnings)
        if len(binnings) < 1 or not all(isinstance(binning, Binning) for binning in binnings):
            raise BinningError(f"a ProductBinning needs a non-empty sequence of binnings, got {binnings!r}")
        names = [name for binning in binnings for name in binning.variables]
        shared = sorted({name for name in names if names.count(name) > 1})
        if shared:
            raise BinningError(f"the binnings of a product must not share variables; shared: {shared}")
        check_size(math.prod(binning.size for binning in binnings),
                   f"the product binning ({' x '.join(str(binning.size) for binning in binnings)})")
        self.binnings: tuple[Binning, ...] = binnings

    @property
    def shape(self) -> tuple[int, ...]:
        """Number of data bins of each factor."""
        return tuple(binning.size for binning in self.binnings)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(name for binning in self.binnings for name in binning.variables)

    def index_events(self, events: Events) -> np.ndarray:
        return combine_indices([binning.index_events(events) for binning in self.binnings], self.shape)

    def bin_labels(self) -> list[str]:
        return [" x ".join(parts) for parts in itertools.product(*(b.bin_labels() for b in self.binnings))]

    def projection(self, variables: Sequence[str]) -> BinMapping:
        """Sum onto ``variables``; each factor keeps the subset of them it bins (order of factors).

        Projecting onto all variables of one factor gives that factor's binning itself.
        """
        requested = list(variables)
        unknown = sorted(set(requested) - set(self.variables))
        if unknown or not requested:
            raise BinningError(
                f"cannot project onto {requested}: the product has variables {list(self.variables)}"
            )
        maps: list[np.ndarray | None] = []
        targets: list[Binning] = []
        for binning in self.binnings:
            own = [name for name in requested if name in binning.variables]
            if not own:
                maps.append(None)
            elif own == list(binning.variables):
                maps.append(np.arange(binning.size))
                targets.append(binning)
            else:
                inner = binning.projection(own)
                maps.append(inner.index)
                targets.append(inner.target)
        target = targets[0] if len(targets) == 1 else ProductBinning(targets)
        index = product_projection(maps, self.shape, [binning.size for binning in targets])
        return BinMapping(target, index)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "product", "binnings": [binning.to_dict() for binning in self.binnings]}

    def __repr__(self) -> str:
        return f"ProductBinning({list(self.binnings)!r})"
