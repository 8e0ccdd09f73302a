"""Filled histograms: sum of weights, sum of squared weights and raw entries per data bin."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bayesfit.binning.base import BinMapping, Binning
from bayesfit.binning.hierarchical import HierarchicalBinning
from bayesfit.binning.product import ProductBinning
from bayesfit.binning.rectilinear import RectilinearBinning
from bayesfit.errors import BinningError

__all__ = ["Histogram", "finite_edges"]


@dataclass(frozen=True, eq=False)
class Histogram:
    """The contents of a binning after a fill.

    Attributes
    ----------
    binning
        The binning the contents live on.
    sumw, sumw2
        ``(binning.size,)`` float64: sum of weights and of squared weights per bin.
    entries
        ``(binning.size,)`` int64: number of events per bin.
    n_outside
        Events that fell outside every bin.
    """

    binning: Binning
    sumw: np.ndarray
    sumw2: np.ndarray
    entries: np.ndarray
    n_outside: int = 0

    def __post_init__(self) -> None:
        for name, dtype in (("sumw", np.float64), ("sumw2", np.float64), ("entries", np.int64)):
            array = np.asarray(getattr(self, name), dtype=dtype)
            if array.shape != (self.binning.size,):
                raise BinningError(
                    f"histogram {name} has shape {array.shape}, the binning has {self.binning.size} bins"
                )
            object.__setattr__(self, name, array)

    def view(self) -> np.ndarray:
        """``sumw`` reshaped to the axes of a rectilinear binning (``binning.shape``)."""
        return self.sumw.reshape(_rectilinear(self.binning, "view()").shape)

    # -- reshaping the binning --------------------------------------------------------------------

    def mapped(self, mapping: BinMapping) -> Histogram:
        """The histogram summed through a :class:`BinMapping` (projection or marginalisation)."""
        return Histogram(
            mapping.target,
            mapping.apply(self.sumw),
            mapping.apply(self.sumw2),
            mapping.apply(self.entries),
            n_outside=self.n_outside,
        )

    def project(self, variables: Sequence[str] | str) -> Histogram:
        """Sum over every variable except ``variables`` (in the order given where possible)."""
        names = [variables] if isinstance(variables, str) else list(variables)
        return self.mapped(self.binning.projection(names))

    def marginalize_subbinnings(self, bins: Sequence[int] | None = None) -> Histogram:
        """Sum the sub-binnings of top-level ``bins`` (default all) into their parent bins."""
        if not isinstance(self.binning, HierarchicalBinning):
            raise BinningError("only a histogram on a hierarchical binning has sub-binnings")
        return self.mapped(self.binning.marginalization(bins))

    def subhistogram(self, top_bin: int) -> Histogram:
        """The part of a hierarchical histogram inside top-level bin ``top_bin``, on its sub-binning."""
        binning = self.binning
        if not isinstance(binning, HierarchicalBinning) or top_bin not in binning.subbinnings:
            raise BinningError(f"top-level bin {top_bin} has no sub-binning")
        part = binning.data_slice(top_bin)
        return Histogram(binning.subbinnings[top_bin], self.sumw[part], self.sumw2[part], self.entries[part])

    # -- export -----------------------------------------------------------------------------------

    def to_hist(self) -> Any:
        """A :class:`hist.Hist` with weighted storage (rectilinear binnings and products of them).

        Hierarchical histograms: convert each :meth:`subhistogram` instead.
        """
        import hist

        axes = [axis.to_boost() for axis in _all_axes(self.binning)]
        for axis in axes:
            axis.name = axis.metadata
            axis.label = axis.metadata
        histogram = hist.Hist(*axes, storage=hist.storage.Weight())
        shape = tuple(axis.size for axis in axes)
        view = histogram.view(flow=False)
        view["value"] = self.sumw.reshape(shape)
        view["variance"] = self.sumw2.reshape(shape)
        return histogram

    def to_dict(self) -> dict[str, Any]:
        """Binning and contents as plain data."""
        return {
            "binning": self.binning.to_dict(),
            "contents": {
                "sumw": self.sumw.tolist(),
                "sumw2": self.sumw2.tolist(),
                "entries": self.entries.tolist(),
                "n_outside": int(self.n_outside),
            },
        }

    def to_yaml(self, path: str | Path | None = None, *, overwrite: bool = False) -> str:
        """Binning and contents as YAML text (exact floats); also written to ``path`` if given.

        The file is written atomically; an existing one is replaced only with ``overwrite=True``.
        """
        from bayesfit.binning.yaml_io import dump_yaml

        return dump_yaml(self.to_dict(), path, overwrite=overwrite)

    @staticmethod
    def from_yaml(source: str | Path) -> Histogram:
        """Read a histogram written by :meth:`to_yaml` (file path or YAML text)."""
        from bayesfit.binning.yaml_io import binning_from_dict, load_yaml

        content = load_yaml(source)
        if not isinstance(content, dict) or {"binning", "contents"} - set(content):
            raise BinningError("a histogram YAML needs the keys 'binning' and 'contents'")
        contents = content["contents"]
        try:
            return Histogram(
                binning_from_dict(content["binning"]),
                contents["sumw"],
                contents["sumw2"],
                contents["entries"],
                n_outside=int(contents.get("n_outside", 0)),
            )
        except KeyError as error:
            raise BinningError(f"histogram YAML 'contents' lacks {error}") from None

    # -- plotting ---------------------------------------------------------------------------------

    def plot(self, variables: Sequence[str] | str | None = None, ax: Any = None, **style: Any) -> Any:
        """Plot a 1-D or 2-D projection; returns the matplotlib Axes.

        1-D: steps of ``sumw`` with ``sqrt(sumw2)`` error bars. 2-D: colour map of ``sumw`` (first
        variable on x). ``variables`` defaults to all variables of a binning with one or two.
        Infinite edges are drawn one neighbouring bin width beyond the last finite edge.
        """
        import matplotlib.pyplot as plt

        names = list(self.binning.variables) if variables is None else (
            [variables] if isinstance(variables, str) else list(variables)
        )
        if len(names) not in (1, 2):
            raise BinningError(f"plot one or two variables, not {names}")
        projected = self.project(names)
        axes_1d = _all_axes(projected.binning)
        if ax is None:
            _, ax = plt.subplots()
        if len(axes_1d) == 1:
            edges = finite_edges(axes_1d[0].edges)
            centers = 0.5 * (edges[:-1] + edges[1:])
            ax.stairs(projected.sumw, edges, **style)
            ax.errorbar(centers, projected.sumw, yerr=np.sqrt(projected.sumw2), fmt="none", ecolor="black")
            ax.set_ylabel("sum of weights")
        else:
            x_edges, y_edges = (finite_edges(axis.edges) for axis in axes_1d)
            mesh = ax.pcolormesh(x_edges, y_edges, projected.view().T, **style)
            ax.figure.colorbar(mesh, ax=ax, label="sum of weights")
            ax.set_ylabel(axes_1d[1].variable)
            _category_ticks(ax.yaxis, axes_1d[1])
        ax.set_xlabel(axes_1d[0].variable)
        _category_ticks(ax.xaxis, axes_1d[0])
        return ax

    def __repr__(self) -> str:
        return (
            f"Histogram(size={self.binning.size}, sum of weights={self.sumw.sum():.6g}, "
            f"entries={int(self.entries.sum())}, n_outside={self.n_outside})"
        )


def _rectilinear(binning: Binning, what: str) -> RectilinearBinning:
    if not isinstance(binning, RectilinearBinning):
        raise BinningError(f"{what} needs a rectilinear binning, not a {type(binning).__name__}")
    return binning


def _all_axes(binning: Binning) -> list:
    """The axes of a rectilinear binning or of a product of rectilinear binnings, in flat order."""
    if isinstance(binning, ProductBinning):
        return [axis for factor in binning.binnings for axis in _all_axes(factor)]
    if isinstance(binning, RectilinearBinning):
        return list(binning.axes)
    raise BinningError(
        f"a {type(binning).__name__} has no plain axes; use subhistogram(top_bin) per sub-binning"
    )


def finite_edges(edges: np.ndarray) -> np.ndarray:
    """Edges with infinite outer ones replaced by steps of the neighbouring bin width, for drawing."""
    edges = np.array(edges, dtype=np.float64)
    finite = np.flatnonzero(np.isfinite(edges))
    if len(finite) == 0:
        return np.arange(len(edges), dtype=np.float64)
    first, last = finite[0], finite[-1]
    width_low = edges[first + 1] - edges[first] if last > first else 1.0
    width_high = edges[last] - edges[last - 1] if last > first else 1.0
    edges[:first] = edges[first] - width_low * np.arange(first, 0, -1)
    edges[last + 1 :] = edges[last] + width_high * np.arange(1, len(edges) - last)
    return edges


def _category_ticks(axis: Any, binning_axis: Any) -> None:
    categories = getattr(binning_axis, "categories", None)
    if categories is not None:
        axis.set_ticks(np.arange(len(categories)), [str(category) for category in categories])
