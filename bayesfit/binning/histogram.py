"""Filled histograms: sum of weights, sum of squared weights and raw entries per data bin."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bayesfit.binning.axes import CategoryAxis, axis_from_hist, edges_match
from bayesfit.binning.base import BinMapping, Binning
from bayesfit.binning.hierarchical import HierarchicalBinning
from bayesfit.binning.product import ProductBinning
from bayesfit.binning.rectilinear import RectilinearBinning
from bayesfit.errors import BinningError
from bayesfit.root_io import is_root_histogram, to_hist

__all__ = ["Histogram", "as_counts", "finite_edges"]


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

    def to_hist(self, storage: Literal["weight", "int64", "double"] = "weight") -> Any:
        """A :class:`hist.Hist` of the contents (rectilinear binnings and products of them).

        Axes are named after the variables and keep their bayesfit description in ``metadata``
        (see :meth:`Axis.to_hist`), so :meth:`from_hist` gives this histogram back exactly. They
        have no flow bins (hist's log axes have empty ones): ``n_outside`` is not carried.
        Hierarchical histograms: convert each :meth:`subhistogram` instead.

        Parameters
        ----------
        storage
            ``"weight"``: ``hist.storage.Weight``, values ``sumw`` and variances ``sumw2``.
            ``"int64"`` or ``"double"``: plain counts, only for an unweighted fill
            (``sumw == sumw2 == entries``).
        """
        import hist

        axes = [axis.to_hist() for axis in _all_axes(self.binning)]
        shape = tuple(len(axis) for axis in axes)
        if storage == "weight":
            histogram = hist.Hist(*axes, storage=hist.storage.Weight())
            view = histogram.view(flow=False)
            view["value"] = self.sumw.reshape(shape)
            view["variance"] = self.sumw2.reshape(shape)
            return histogram
        if storage not in ("int64", "double"):
            raise BinningError(f"storage must be 'weight', 'int64' or 'double', got {storage!r}")
        if not (np.array_equal(self.sumw, self.entries) and np.array_equal(self.sumw2, self.entries)):
            raise BinningError(
                f"a {storage} hist holds counts only; this histogram is weighted (sumw, sumw2 differ "
                "from entries): use storage='weight'"
            )
        histogram = hist.Hist(*axes, storage=hist.storage.Int64() if storage == "int64" else hist.storage.Double())
        histogram.view(flow=False)[...] = self.entries.reshape(shape)
        return histogram

    @staticmethod
    def from_hist(histogram: Any, *, flow: Literal["error", "ignore", "outside"] = "error") -> Histogram:
        """A histogram on a rectilinear binning from a :class:`hist.Hist` or ``boost_histogram.Histogram``.

        Each hist axis becomes a bayesfit axis over the variable of its name (see
        :func:`~bayesfit.binning.axis_from_hist`); axis order and flat bin order (last axis
        fastest) are kept.

        Parameters
        ----------
        histogram
            With ``Weight`` storage (values -> ``sumw``, variances -> ``sumw2``) or a count storage
            (``Int64``, ``Double``, ``AtomicInt64``, ``Unlimited``: ``sumw2 = sumw``); or a
            TH1/TH2/TH3 read by uproot (:func:`bayesfit.root_io.to_hist`: its axes are named
            ``xaxis``, ``yaxis``, ``zaxis``, its flow bins are ROOT's under- and overflow).
        flow
            What to do with under- and overflow bins, which bayesfit histograms do not have
            (events outside count only in ``n_outside``): ``"error"`` (default) if any holds a
            non-zero value or variance, ``"ignore"`` to drop them, ``"outside"`` to count their
            entries in ``n_outside``.

        ``entries`` (hist keeps no raw counts) are the effective numbers ``sumw**2 / sumw2``,
        rounded: the counts themselves for an unweighted fill.

        Raises
        ------
        BinningError
            For non-empty flow bins with ``flow="error"``, mean storages, an axis without a name
            or without a bayesfit equivalent.
        """
        if is_root_histogram(histogram):
            histogram = to_hist(histogram)
        return _from_hist(histogram, flow)

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


# -- hist objects -------------------------------------------------------------------------------


def as_counts(
    counts: Any,
    *,
    binning: Binning | None = None,
    flow: Literal["error", "ignore"] = "error",
    flatten: bool = True,
) -> np.ndarray:
    """Per-bin values as a float array in bayesfit's flat bin order (last axis fastest).

    The one place where histogram objects become arrays: observed counts, templates and response
    matrices go through it, so they may come as arrays, bayesfit histograms, hist histograms or
    ROOT histograms read by uproot alike.

    Parameters
    ----------
    counts
        A :class:`Histogram` (its ``sumw``, ``(n,)``), a :class:`hist.Hist` or
        ``boost_histogram.Histogram`` (its values flattened, ``(n,)``), a TH1/TH2/TH3 read by
        uproot (likewise), a list or tuple of these (stacked, ``(T, n)``; nested lists give
        ``(K, T, n)``), or anything array-like (returned as a float array).
    binning
        If given, histograms must have its axes (same variables in the same order, edges equal
        to rounding, same categories) and arrays ``binning.size`` values along their last axis.
        A ROOT histogram's axes (which carry no variable names) are taken as the binning's in
        order; where a binning axis has an infinite outer edge, ROOT's under- or overflow bin is
        its outer bin (e.g. ROOT edges ``[0, 1, 2]`` with flow fill the edges ``[-inf, 0, 1, 2, inf]``).
    flow
        Under- and overflow bins (that are not bins of ``binning``): ``"error"`` (default) if any
        is non-empty, ``"ignore"`` to drop them.
    flatten
        ``False`` keeps a histogram's axes: values of shape ``(n_0, n_1, ...)`` (e.g. a 2-D
        histogram of a response matrix, ``(n_reco, n_truth)``); ``binning`` then describes the
        leading axes (e.g. the reco axis).

    Raises
    ------
    BinningError
        Naming the first axis that differs from ``binning``, or for non-empty flow bins.
    """
    if isinstance(counts, (list, tuple)) and _holds_histogram(counts):
        return np.stack([as_counts(item, binning=binning, flow=flow, flatten=flatten) for item in counts])
    if is_root_histogram(counts):
        counts = _root_as_hist(counts, binning, leading=not flatten)
    if _is_boost_histogram(counts):
        if flow not in ("error", "ignore"):
            raise BinningError(f"flow must be 'error' or 'ignore', got {flow!r}")
        counts = _from_hist(counts, flow, values_only=True)
    if isinstance(counts, Histogram):
        if flatten:
            if binning is not None:
                _check_same_binning(counts.binning, binning)
            return counts.sumw.copy()
        axes = _rectilinear(counts.binning, "as_counts(flatten=False)").axes
        if binning is not None:
            _check_same_binning(RectilinearBinning(axes[: len(_all_axes(binning))]), binning)
        return counts.sumw.reshape(counts.binning.shape)
    array = np.asarray(counts, dtype=float)
    if binning is not None and array.shape[-1:] != (binning.size,):
        raise BinningError(f"counts of shape {array.shape} do not end in the binning's {binning.size} bins")
    return array


def _root_as_hist(histogram: Any, binning: Binning | None, *, leading: bool) -> Any:
    """A ROOT histogram as a hist one with the axes of ``binning`` (names, open outer bins): all
    its axes, or with ``leading`` its first ones (the others keep ROOT's names)."""
    if binning is None:
        return to_hist(histogram)
    axes = _all_axes(binning)
    n_axes = len(histogram.axes)
    if len(axes) > n_axes or (len(axes) < n_axes and not leading):
        raise BinningError(
            f"the ROOT histogram {histogram.name!r} has {n_axes} axes, the binning {len(axes)} "
            f"({list(binning.variables)})"
        )
    rest = n_axes - len(axes)
    names = [axis.variable for axis in axes] + [None] * rest
    open_ends = [
        (False, False) if isinstance(axis, CategoryAxis)
        else (bool(np.isneginf(axis.edges[0])), bool(np.isposinf(axis.edges[-1])))
        for axis in axes
    ] + [(False, False)] * rest
    return to_hist(histogram, names, open_ends=open_ends)


def _is_boost_histogram(value: Any) -> bool:
    # a boost-histogram object exists only once its module is imported: no import needed to check
    module = sys.modules.get("boost_histogram")
    return module is not None and isinstance(value, module.Histogram)


def _holds_histogram(value: Any) -> bool:
    """Whether ``value`` is a histogram or a (nested) list or tuple with one."""
    if isinstance(value, (list, tuple)):
        return any(_holds_histogram(item) for item in value)
    return isinstance(value, Histogram) or _is_boost_histogram(value) or is_root_histogram(value)


def _from_hist(histogram: Any, flow: str, *, values_only: bool = False) -> Histogram:
    """:meth:`Histogram.from_hist`; with ``values_only`` (for :func:`as_counts`) a histogram whose
    storage does not know its variances (e.g. ``Double`` set by hand) is taken as ``sumw2 = sumw``."""
    binning, values, variances, flow_mask = _hist_contents(histogram, values_only=values_only)
    if flow not in ("error", "ignore", "outside"):
        raise BinningError(f"flow must be 'error', 'ignore' or 'outside', got {flow!r}")
    if flow == "error":
        _refuse_flow(histogram, binning, values, variances, flow_mask)
    inner = ~flow_mask
    sumw, sumw2 = values[inner], variances[inner]
    n_outside = int(_effective_entries(values[flow_mask], variances[flow_mask]).sum()) if flow == "outside" else 0
    return Histogram(binning, sumw, sumw2, _effective_entries(sumw, sumw2), n_outside=n_outside)


def _hist_contents(
    histogram: Any, *, values_only: bool = False
) -> tuple[RectilinearBinning, np.ndarray, np.ndarray, np.ndarray]:
    """Binning, flat ``(n_cells,)`` values and variances with flow, and the mask of flow cells."""
    import boost_histogram as bh

    if not isinstance(histogram, bh.Histogram):
        raise BinningError(f"expected a hist or boost-histogram histogram, got {type(histogram).__name__}")
    if issubclass(histogram.storage_type, (bh.storage.Mean, bh.storage.WeightedMean)):
        raise BinningError(
            f"a {histogram.storage_type.__name__} storage holds means, not counts; use Weight or a count storage"
        )
    if histogram.ndim == 0:
        raise BinningError("a hist histogram without axes has no bins")
    binning = RectilinearBinning([axis_from_hist(axis) for axis in histogram.axes])
    values = np.asarray(histogram.values(flow=True), dtype=np.float64)
    variances = histogram.variances(flow=True)
    if variances is None and values_only:
        variances = values
    if variances is None:
        raise BinningError(
            "the hist histogram has lost its variances (weighted fill of a Double storage); "
            "fill a Weight storage instead"
        )
    mask = np.ones(values.shape, dtype=bool)
    mask[_inner_slices(histogram)] = False
    return binning, values.ravel(), np.asarray(variances, dtype=np.float64).ravel(), mask.ravel()


def _inner_slices(histogram: Any) -> tuple[slice, ...]:
    """The slices of the regular bins in ``values(flow=True)``, axis by axis."""
    return tuple(
        slice(int(axis.traits.underflow), int(axis.traits.underflow) + len(axis)) for axis in histogram.axes
    )


def _refuse_flow(
    histogram: Any, binning: Binning, values: np.ndarray, variances: np.ndarray, flow_mask: np.ndarray
) -> None:
    """Raise naming the first axis whose flow bins hold something."""
    occupied = (flow_mask & ((values != 0) | (variances != 0))).reshape(
        np.shape(histogram.values(flow=True))
    )
    if not occupied.any():
        return
    inner = _inner_slices(histogram)
    for position, variable in enumerate(binning.variables):
        outside_axis = np.ones(occupied.shape[position], dtype=bool)
        outside_axis[inner[position]] = False
        in_flow = np.compress(outside_axis, occupied, axis=position)
        if in_flow.any():
            total = float(np.compress(outside_axis, values.reshape(occupied.shape), axis=position).sum())
            raise BinningError(
                f"hist axis {variable!r} has non-empty flow bins (sum of values {total:g}); bayesfit "
                "histograms have none: pass flow='ignore' to drop them or flow='outside' to count "
                "them in n_outside"
            )


def _effective_entries(sumw: np.ndarray, sumw2: np.ndarray) -> np.ndarray:
    """``round(sumw**2 / sumw2)`` per bin, 0 where ``sumw2`` is 0: the count for unit weights."""
    safe = np.where(sumw2 > 0, sumw2, 1.0)
    return np.where(sumw2 > 0, np.rint(sumw * sumw / safe), 0.0).astype(np.int64)


def _check_same_binning(found: Binning, expected: Binning) -> None:
    """Raise naming the first axis of ``found`` that differs from ``expected``."""
    if found == expected:
        return
    try:
        found_axes, expected_axes = _all_axes(found), _all_axes(expected)
    except BinningError:
        raise BinningError(f"the histogram's binning {found!r} is not the expected {expected!r}") from None
    found_names = [axis.variable for axis in found_axes]
    expected_names = [axis.variable for axis in expected_axes]
    if found_names != expected_names:
        raise BinningError(f"the histogram has axes {found_names}, the binning {expected_names}")
    for have, want in zip(found_axes, expected_axes):
        if isinstance(want, CategoryAxis) or isinstance(have, CategoryAxis):
            same = isinstance(have, CategoryAxis) and getattr(want, "categories", None) == have.categories
        else:
            same = edges_match(have.edges, want.edges)
        if not same:
            raise BinningError(
                f"axis {want.variable!r} of the histogram has edges {_short(have)}, the binning "
                f"{_short(want)}"
            )


def _short(axis: Any) -> str:
    if isinstance(axis, CategoryAxis):
        return f"categories {list(axis.categories)}"
    edges = [f"{edge:.6g}" for edge in axis.edges]
    shown = ", ".join(edges if len(edges) <= 8 else [*edges[:3], "...", *edges[-3:]])
    return f"[{shown}] ({len(edges) - 1} bins)"
