"""The interface every binning shares, and the flat-index arithmetic behind it.

A binning turns events into one flat data-bin index per event (``-1`` outside), computed once and
vectorised. Three kinds implement :class:`Binning`:

- :class:`~bayesfit.binning.rectilinear.RectilinearBinning`: cartesian product of axes,
- :class:`~bayesfit.binning.hierarchical.HierarchicalBinning`: a top binning whose bins may hold
  their own sub-binnings (ReMU's ``subbinnings``),
- :class:`~bayesfit.binning.product.ProductBinning`: cartesian product of binnings (ReMU's
  ``CartesianProductBinning``).

Flat indices are row-major: the last axis (or binning) runs fastest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from bayesfit.binning.axes import MAX_BINS
from bayesfit.errors import BinningError, EventsError
from bayesfit.events import Events, as_weights, load_events

if TYPE_CHECKING:
    from bayesfit.binning.hierarchical import HierarchicalBinning
    from bayesfit.binning.histogram import Histogram

__all__ = ["Binning", "BinMapping"]


class BinMapping(NamedTuple):
    """A many-to-one map of the bins of one binning onto the bins of ``target``.

    ``index[i]`` is the target bin that source bin ``i`` goes to. Projections and marginalisations
    are bin mappings; :meth:`apply` sums values accordingly.
    """

    target: Binning
    index: np.ndarray

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Sum ``(..., n_source)`` values into ``(..., target.size)`` along the last axis."""
        values = np.asarray(values)
        if values.shape[-1:] != self.index.shape:
            raise BinningError(
                f"values have {values.shape[-1] if values.ndim else 0} bins along their last axis, "
                f"the mapping expects {len(self.index)}"
            )
        result = np.zeros(values.shape[:-1] + (self.target.size,), dtype=values.dtype)
        np.add.at(result.T, self.index, values.T)
        return result


class Binning(ABC):
    """A partition of the event space into ``size`` data bins with a flat, row-major index.

    ``Binning(axes)`` builds the cartesian product of axes (a
    :class:`~bayesfit.binning.rectilinear.RectilinearBinning`); use :meth:`from_yaml` /
    :meth:`from_dict` to read any kind of binning (bayesfit's YAML or ReMU's tagged YAML), or build
    one of the concrete classes directly.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Binning:
        if cls is Binning:
            from bayesfit.binning.rectilinear import RectilinearBinning

            return super().__new__(RectilinearBinning)
        return super().__new__(cls)

    @property
    @abstractmethod
    def size(self) -> int:
        """Number of data bins."""

    @property
    @abstractmethod
    def variables(self) -> tuple[str, ...]:
        """Every variable the binning may read, in order of first use."""

    @abstractmethod
    def index_events(self, events: Events) -> np.ndarray:
        """``(n_events,)`` int64 flat bin index of already loaded ``events``, ``-1`` outside."""

    @abstractmethod
    def bin_labels(self) -> list[str]:
        """One readable label per data bin (length ``size``)."""

    @abstractmethod
    def projection(self, variables: Sequence[str]) -> BinMapping:
        """The mapping that sums over all variables except ``variables``."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A plain description (``kind: ...``), read back by :meth:`from_dict`."""

    # -- events to bins ---------------------------------------------------------------------------

    def bin_index(self, events: Any) -> np.ndarray:
        """Flat data-bin index of every event, ``-1`` for events outside all bins.

        Parameters
        ----------
        events
            Anything :func:`bayesfit.load_events` accepts (dict of arrays, structured array,
            DataFrame, file path, :class:`~bayesfit.events.Events`).

        Returns
        -------
        numpy.ndarray
            ``(n_events,)`` int64.

        Raises
        ------
        EventsError
            If a needed variable is missing (the message lists those present) or holds NaN (the
            message gives the count).
        """
        return self.index_events(load_events(events))

    def fill(
        self,
        events: Any,
        weights: Any = None,
        *,
        strict: bool = False,
        allow_negative_weights: bool = False,
    ) -> Histogram:
        """Histogram the events: sum of weights, sum of squared weights and entries per bin.

        Parameters
        ----------
        events
            Anything :func:`bayesfit.load_events` accepts.
        weights
            ``None`` (each event counts 1), a scalar, or an ``(n_events,)`` array.
        strict
            Raise a :class:`BinningError` if any event falls outside the binning, instead of
            counting them in ``Histogram.n_outside``.
        allow_negative_weights
            Accept negative weights (e.g. NLO generators); by default they are an error.
        """
        from bayesfit.binning.histogram import Histogram

        loaded = load_events(events)
        index = self.index_events(loaded)
        if weights is None:
            weight_array = None
        else:
            weight_array = as_weights(weights, loaded.n_events, allow_negative=allow_negative_weights)
        # shift by one: bin 0 collects the events outside, so no mask is needed
        shifted = index + 1
        entries = np.bincount(shifted, minlength=self.size + 1)
        n_outside = int(entries[0])
        if strict and n_outside:
            raise BinningError(
                f"{n_outside} of {loaded.n_events} events fall outside the binning over "
                f"{list(self.variables)} (strict fill)"
            )
        if weight_array is None:
            sumw = entries[1:].astype(np.float64)
            sumw2 = sumw.copy()
        else:
            sumw = np.bincount(shifted, weights=weight_array, minlength=self.size + 1)[1:]
            sumw2 = np.bincount(shifted, weights=weight_array * weight_array, minlength=self.size + 1)[1:]
        return Histogram(self, sumw, sumw2, entries[1:].astype(np.int64), n_outside=n_outside)

    # -- structure --------------------------------------------------------------------------------

    def insert_subbinning(self, bin_index: int, subbinning: Binning) -> HierarchicalBinning:
        """A hierarchical binning where data bin ``bin_index`` is replaced by ``subbinning``."""
        from bayesfit.binning.hierarchical import HierarchicalBinning

        return HierarchicalBinning(self, {bin_index: subbinning})

    # -- YAML -------------------------------------------------------------------------------------

    def to_yaml(self, path: str | Path | None = None, *, overwrite: bool = False) -> str:
        """The binning as bayesfit YAML text; also written to ``path`` if given.

        The file is written atomically; an existing one is replaced only with ``overwrite=True``.
        """
        from bayesfit.binning.yaml_io import dump_yaml

        return dump_yaml(self.to_dict(), path, overwrite=overwrite)

    @staticmethod
    def from_dict(spec: Mapping[str, Any]) -> Binning:
        """Any binning from its :meth:`to_dict` description."""
        from bayesfit.binning.yaml_io import binning_from_dict

        return binning_from_dict(spec)

    @staticmethod
    def from_yaml(source: str | Path) -> Binning:
        """Read a binning from a YAML file path or YAML text: bayesfit's format or ReMU's tags.

        Returns whichever kind the file holds (rectilinear, hierarchical or product binning).
        """
        from bayesfit.binning.yaml_io import load_binning

        return load_binning(source)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Binning) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self.to_dict()))


def check_finite(events: Events, variable: str, values: np.ndarray) -> None:
    """Raise an :class:`EventsError` naming the variable and the count if ``values`` hold NaN or +-inf."""
    bad = ~np.isfinite(values)
    if bad.any():
        n_nan = int(np.isnan(values).sum())
        kind = "NaN" if n_nan == bad.sum() else "infinite" if n_nan == 0 else "NaN or infinite"
        raise EventsError(
            f"variable {variable!r} is {kind} for {int(bad.sum())} of the {events.n_events} events "
            f"binned by it (first at event {int(events.source_rows[np.argmax(bad)])})"
        )


def check_size(size: int, what: str) -> int:
    """``size`` (an exact Python integer) if at most :data:`~bayesfit.binning.axes.MAX_BINS`, else a
    :class:`BinningError` naming ``what`` (the binning and its factors)."""
    if size > MAX_BINS:
        raise BinningError(f"{what} has {size} bins, more than a binning may have ({MAX_BINS})")
    return size


def combine_indices(indices: Sequence[np.ndarray], sizes: Sequence[int]) -> np.ndarray:
    """Row-major flat index from per-component indices (last fastest); -1 if any is -1."""
    flat = np.zeros(len(indices[0]), dtype=np.int64)
    outside = np.zeros(len(indices[0]), dtype=bool)
    for index, size in zip(indices, sizes):
        flat *= size
        flat += index
        outside |= index < 0
    flat[outside] = -1
    return flat


def product_projection(
    component_maps: Sequence[np.ndarray | None], sizes: Sequence[int], target_sizes: Sequence[int]
) -> np.ndarray:
    """Index map of a product projection.

    ``component_maps[k]`` maps the bins of component ``k`` onto its target bins, or is ``None`` to
    sum component ``k`` away. Returns, for every flat source bin, its flat target bin.
    """
    multi = np.unravel_index(np.arange(int(np.prod(sizes))), tuple(sizes))
    kept = [mapping[position] for mapping, position in zip(component_maps, multi) if mapping is not None]
    if not kept:
        return np.zeros(len(multi[0]), dtype=np.int64)
    return np.ravel_multi_index(tuple(kept), tuple(target_sizes)).astype(np.int64)
