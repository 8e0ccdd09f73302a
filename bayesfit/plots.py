"""The plots physicists expect from a binned fit.

The array-level functions (:func:`plot_counts`, :func:`plot_ratio`, :func:`plot_profile`, ...)
draw on a matplotlib ``Axes`` (created if not given) and return it; inputs are plain arrays (bin
edges, counts), so the plots know nothing of binnings or models. Projections of a
multi-dimensional binning are made by the caller (``Histogram.project``) before plotting. The
data/MC figure (:func:`plot_data_mc`: counts over a ratio panel) and the figures of results
objects (:func:`plot_correlation`, :func:`plot_cls_scan`, :func:`plot_ranking`,
:func:`plot_pulls`, :func:`plot_corner`, :func:`plot_posterior_vs_prior`) return a ``Figure``.

Style: with mplhep installed (``pip install bayesfit[plot]``) the figures these functions create
are drawn in mplhep's ROOT style, scaled to their size (:func:`hep_style`); the style is applied
while a function draws, never globally. Without mplhep they are plain matplotlib.
:func:`compact_minor_ticks` makes a finished figure quicker to save without changing its picture.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, NamedTuple, TypeVar

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, NullLocator
from scipy import ndimage, stats

from bayesfit.binning.histogram import finite_edges

__all__ = [
    "compact_minor_ticks",
    "data_mc_axes",
    "finite_edges",
    "garwood_interval",
    "hep_style",
    "plot_counts",
    "plot_data_mc",
    "plot_ratio",
    "plot_correlation",
    "plot_cls_scan",
    "plot_exclusion",
    "plot_posterior_vs_prior",
    "plot_profile",
    "plot_pulls",
    "plot_ranking",
    "plot_pvalue_scan",
    "plot_throw_band",
    "plot_corner",
    "plot_traces",
]


def garwood_interval(counts: np.ndarray, level: float = 0.682689) -> tuple[np.ndarray, np.ndarray]:
    """Central Poisson (Garwood) confidence interval ``(lower, upper)`` for observed counts."""
    counts = np.asarray(counts, dtype=float)
    alpha = 1.0 - level
    lower = np.where(counts > 0, stats.gamma.ppf(alpha / 2, np.maximum(counts, 1e-300)), 0.0)
    upper = stats.gamma.ppf(1 - alpha / 2, counts + 1)
    return lower, upper


#: mplhep's ROOT style is made for 10 x 10 inch figures; these figures are about 6 x 4.5 inches.
_SCALED_TO_FIGURES = {
    "font.size": 12,
    "axes.linewidth": 1.0,
    "xtick.major.size": 6,
    "xtick.minor.size": 3,
    "ytick.major.size": 6,
    "ytick.minor.size": 3,
    "xaxis.labellocation": "center",
    "yaxis.labellocation": "center",
}


def hep_style() -> AbstractContextManager[Any]:
    """A context drawing in mplhep's ROOT style (ticks inside on all sides, minor ticks, HEP fonts),
    scaled to figures of about 6 inches; without mplhep installed, a context that changes nothing."""
    try:
        import mplhep
    except ImportError:
        return nullcontext()
    # matplotlib's own mathtext fonts: mplhep's are looked up when a figure is saved, outside the style
    style = {key: value for key, value in mplhep.style.ROOT.items() if not key.startswith("mathtext.")}
    return plt.style.context({**style, **_SCALED_TO_FIGURES})


_Plot = TypeVar("_Plot", bound=Callable[..., Any])


def _styled(function: _Plot) -> _Plot:
    """Draw ``function`` inside :func:`hep_style`. Its figure's first ticks are made inside the
    style too (matplotlib makes ticks lazily and copies the first one's look to the others)."""

    @functools.wraps(function)
    def draw(*args: Any, **kwargs: Any) -> Any:
        with hep_style():
            result = function(*args, **kwargs)
            figure = result if isinstance(result, Figure) else getattr(np.ravel(result)[0], "figure", None)
            for ax in figure.axes if figure is not None else ():
                for axis in (ax.xaxis, ax.yaxis):
                    axis.get_major_ticks(1)
                    axis.get_minor_ticks(1)
        return result

    return draw  # type: ignore[return-value]


class _MinorTickMarks(Artist):
    """The minor tick marks of one axis, drawn as one marker line per side of the axes.

    They are the marks matplotlib's minor ticks would draw (same places, from the axis' minor
    locator at draw time, with the marker, size, width and colour of its first minor tick), without
    a ``Tick`` (two lines and two texts) per mark, whose making, updating and measuring were most of
    the figures' drawing time. Made by :func:`compact_minor_ticks`.
    """

    def __init__(self, axis: Any, locator: Any, templates: Sequence[tuple[Line2D, float]]) -> None:
        super().__init__()
        self._axis, self._locator = axis, locator
        self._templates = [(Line2D([], []), position) for _, position in templates]
        for (line, _), (template, _) in zip(self._templates, templates):
            line.update_from(template)
        self.set_zorder(axis.get_zorder())
        self.set_in_layout(False)

    def _locations(self) -> np.ndarray:
        """The minor locations inside the view limits, none on a major tick (as matplotlib's)."""
        axis, ticker = self._axis, self._axis.minor
        replaced = ticker.locator
        ticker.locator = self._locator
        self._locator.set_axis(axis)
        try:
            locations = np.asarray(axis.get_minorticklocs(), dtype=float)
        finally:
            ticker.locator = replaced
        transform = axis.get_transform()
        low, high = np.sort(transform.transform(np.asarray(axis.get_view_interval(), dtype=float)))
        with np.errstate(invalid="ignore", divide="ignore"):
            scaled = transform.transform(locations) if locations.size else locations
        tolerance = 1e-10 * max(abs(high - low), np.finfo(float).tiny)
        return locations[(scaled >= low - tolerance) & (scaled <= high + tolerance)]

    def draw(self, renderer: Any) -> None:
        if not self.get_visible():
            return
        locations = self._locations()
        horizontal = self._axis.axis_name == "x"
        ax = self._axis.axes
        transform = ax.get_xaxis_transform() if horizontal else ax.get_yaxis_transform()
        for line, position in self._templates:
            across = np.full(locations.size, position)
            line.set_data((locations, across) if horizontal else (across, locations))
            line.set_transform(transform)
            line.set_figure(ax.figure)
            line.set_clip_on(False)
            line.draw(renderer)
        self.stale = False


def compact_minor_ticks(figure: Figure) -> Figure:
    """Draw the minor tick marks of a finished ``figure`` as one marker line per axis side
    (:class:`_MinorTickMarks`): the same picture, drawn in about half the time for mplhep's ROOT
    style (minor ticks on all four sides) and log axes. Axes whose minor ticks carry labels or
    grid lines keep matplotlib's ticks. Call it when the figure is complete, just before saving:
    the marks follow later limits, but not a later change of scale or minor locator."""
    converted = []
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            locator = axis.get_minor_locator()
            if isinstance(locator, NullLocator) or not axis.get_visible():
                continue
            tick = axis.get_minor_ticks(1)[0]
            locations = axis.get_minorticklocs()
            labelled = (tick.label1.get_visible() or tick.label2.get_visible()) and any(
                axis.get_minor_formatter().format_ticks(locations))
            if labelled or tick.gridline.get_visible():
                continue
            templates = [(line, position) for line, position in ((tick.tick1line, 0.0), (tick.tick2line, 1.0))
                         if line.get_visible()]
            converted.append((ax, axis, locator, templates))
    for ax, axis, locator, templates in converted:
        if templates:
            ax.add_artist(_MinorTickMarks(axis, locator, templates))
        axis.minor.locator = NullLocator()  # shared axes share it: after every axis took its own
        axis.minorTicks.clear()
    return figure


def _title_y(ax: Axes) -> float | None:
    """Where the title of ``ax`` (whose limits are final) goes: on its top edge (``1.0``), where
    matplotlib puts it when nothing stands above the axes, if there are no top tick labels and no
    offset text; else ``None``: matplotlib places it at every draw, measuring every tick label of
    the axes (a good part of a data/MC figure's drawing time)."""
    top_labels = ax.xaxis.get_major_ticks(1)[0].label2.get_visible()
    formatter = ax.yaxis.get_major_formatter()
    formatter.set_locs(ax.yaxis.get_majorticklocs())
    return None if top_labels or formatter.get_offset() else 1.0


def _axes(ax: Axes | None) -> Axes:
    """``ax``, or the axes of a new 6.4 x 4.4 inch figure with the data/MC figures' margins."""
    if ax is not None:
        return ax
    figure, ax = plt.subplots(figsize=(6.4, 4.4))
    _margins(figure, **_DATA_MC_MARGINS)
    return ax


@_styled
def plot_counts(
    edges: np.ndarray,
    observed: np.ndarray | None = None,
    components: Mapping[str, np.ndarray] | None = None,
    *,
    expected: np.ndarray | None = None,
    expected_label: str = "best fit",
    band: tuple[np.ndarray, np.ndarray] | None = None,
    band_label: str = "posterior predictive 68%",
    pre_fit: np.ndarray | None = None,
    pre_fit_label: str = "pre-fit",
    xlabel: str = "",
    ylabel: str = "events per bin",
    log_x: bool = False,
    log_y: bool = False,
    ax: Axes | None = None,
) -> Axes:
    """Observed counts with Poisson error bars over stacked expected components.

    Parameters
    ----------
    edges:
        Bin edges, shape ``(n + 1,)`` (infinite outer edges are drawn one bin wide).
    observed:
        Observed counts, shape ``(n,)``.
    components:
        Expected counts per component (e.g. ``{"atmospheric": ..., "astrophysical": ...}``), each
        ``(n,)``, drawn stacked in the given order.
    expected:
        Total expectation ``(n,)`` drawn as a line labelled ``expected_label``, if given.
    band:
        ``(lower, upper)`` per bin, e.g. posterior-predictive quantiles, drawn hatched over the
        components.
    pre_fit:
        Total expectation before the fit ``(n,)`` (at the start values), drawn dashed and
        labelled ``pre_fit_label``, if given.
    """
    ax = _axes(ax)
    edges = finite_edges(edges)
    bottom = np.zeros(len(edges) - 1)
    for index, (label, counts) in enumerate((components or {}).items()):
        counts = np.asarray(counts, dtype=float)
        ax.stairs(bottom + counts, edges, baseline=bottom, fill=True, alpha=0.55, color=f"C{index}", label=label)
        bottom = bottom + counts
    if expected is not None:
        ax.stairs(np.asarray(expected, float), edges, color="k", linewidth=1.5, label=expected_label)
    if pre_fit is not None:
        ax.stairs(np.asarray(pre_fit, float), edges, color="0.35", linewidth=1.2, linestyle="--", label=pre_fit_label)
    if band is not None:  # hatched over the components, which stay readable through it
        _draw_band(ax, edges, *band, label=band_label)
    if observed is not None:
        observed = np.asarray(observed, dtype=float)
        centres = np.sqrt(edges[:-1] * edges[1:]) if log_x else 0.5 * (edges[:-1] + edges[1:])
        lower, upper = garwood_interval(observed)
        shown = observed > 0 if log_y else np.ones(len(observed), dtype=bool)  # no zeros on a log scale
        ax.errorbar(
            centres[shown],
            observed[shown],
            yerr=[(observed - lower)[shown], (upper - observed)[shown]],
            fmt="o",
            color="k",
            markersize=4,
            label="data",
        )
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    return ax


def _draw_band(ax: Axes, edges: np.ndarray, lower: np.ndarray, upper: np.ndarray, label: str) -> None:
    """A hatched band between ``lower`` and ``upper`` per bin."""
    ax.stairs(np.asarray(upper, dtype=float), edges, baseline=np.asarray(lower, dtype=float), fill=True,
              facecolor="none", edgecolor="0.25", hatch="////", linewidth=0, label=label)


@_styled
def plot_ratio(
    edges: np.ndarray,
    observed: np.ndarray,
    prediction: np.ndarray,
    *,
    band: tuple[np.ndarray, np.ndarray] | None = None,
    band_label: str = "posterior predictive 68%",
    xlabel: str = "",
    ylabel: str = "data / pred.",
    log_x: bool = False,
    ax: Axes | None = None,
) -> Axes:
    """Data over prediction per bin, with Poisson (Garwood) error bars and ``band`` over prediction.

    ``edges`` ``(n + 1,)``; ``observed``, ``prediction`` and the ``(lower, upper)`` of ``band``
    ``(n,)``. Bins with no prediction, and the points of bins with no data, are left out.
    """
    ax = _axes(ax)
    edges = finite_edges(edges)
    observed, prediction = np.asarray(observed, dtype=float), np.asarray(prediction, dtype=float)
    predicted = prediction > 0
    scale = np.where(predicted, prediction, np.nan)
    reach = [np.zeros(0)]  # how far from 1 the points and the band go
    if band is not None:
        band_low, band_high = (np.asarray(b, dtype=float) / scale for b in band)
        _draw_band(ax, edges, np.nan_to_num(band_low, nan=1.0), np.nan_to_num(band_high, nan=1.0), label=band_label)
        reach.append(np.abs(np.concatenate([band_low[predicted], band_high[predicted]]) - 1))
    ax.axhline(1.0, color="k", linewidth=0.8)
    centres = np.sqrt(edges[:-1] * edges[1:]) if log_x else 0.5 * (edges[:-1] + edges[1:])
    lower, upper = garwood_interval(observed)
    ratio = observed / scale
    shown = predicted & (observed > 0)  # an empty bin's upper error over a tiny prediction says little
    ax.errorbar(centres[shown], ratio[shown],
                yerr=[((observed - lower) / scale)[shown], ((upper - observed) / scale)[shown]],
                fmt="o", color="k", markersize=3, label="data")
    reach.append(np.abs(ratio[shown] - 1))
    # symmetric about 1: wide enough for the points and the band, at least +-0.25, at most +-2
    half = float(np.clip(1.25 * np.max(np.concatenate(reach), initial=0.0), 0.25, 2.0))
    ax.set_ylim(max(0.0, 1.0 - half), 1.0 + half)
    above = shown & (ratio > 1.0 + half)  # off the panel: an arrow at its top edge
    if above.any():
        ax.plot(centres[above], np.full(above.sum(), 1.0 + 0.9 * half), "^", color="k", markersize=4,
                label="data off the scale")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


#: Margins of the data/MC figures, inches: room for the tick labels (up to 6 characters) and axis
#: labels on the left and bottom, the panel title on top (a fixed layout: no layout pass per save).
_DATA_MC_MARGINS = {"left": 0.9, "bottom": 0.62, "right": 0.3, "top": 0.34}
#: Gap between the counts and the ratio panel, inches (their end tick labels stay apart).
_DATA_MC_GAP = 0.1


def _margins(figure: Figure, *, left: float, bottom: float, right: float, top: float, wspace: float = 0.0,
             hspace: float = 0.0) -> None:
    """Place a figure's grid of axes with margins and gaps between panels in inches."""
    width, height = figure.get_size_inches()
    grid = figure.axes[0].get_subplotspec().get_gridspec()
    rows, columns = grid.get_geometry()
    panel_width = (width - left - right - (columns - 1) * wspace) / columns
    panel_height = (height - bottom - top - (rows - 1) * hspace) / rows
    figure.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height,
                           wspace=wspace / panel_width, hspace=hspace / panel_height)


def data_mc_axes(n_panels: int = 1, *, sharey: bool = False, width: float = 5.6,
                 height: float = 5.2) -> tuple[Figure, list[tuple[Axes, Axes]]]:
    """A figure of ``n_panels`` columns, each a counts panel over a ratio panel a third its height.

    Returns the figure and ``[(counts_axes, ratio_axes), ...]``; each column shares its x axis.
    """
    figure, axes = plt.subplots(
        2, n_panels, figsize=(width * n_panels, height), sharex="col", sharey="row" if sharey else False,
        squeeze=False, gridspec_kw={"height_ratios": [3, 1]},
    )
    _margins(figure, **_DATA_MC_MARGINS, wspace=0.25 if sharey else _DATA_MC_MARGINS["left"], hspace=_DATA_MC_GAP)
    for ax in axes[0]:
        ax.tick_params(labelbottom=False)
    return figure, list(zip(axes[0], axes[1]))


@_styled
def plot_data_mc(
    edges: np.ndarray,
    observed: np.ndarray,
    components: Mapping[str, np.ndarray],
    *,
    expected: np.ndarray | None = None,
    expected_label: str = "best fit",
    band: tuple[np.ndarray, np.ndarray] | None = None,
    band_label: str = "posterior predictive 68%",
    pre_fit: np.ndarray | None = None,
    xlabel: str = "",
    ylabel: str = "events per bin",
    title: str = "",
    log_x: bool = False,
    log_y: bool = False,
    axes: tuple[Axes, Axes] | None = None,
) -> Figure:
    """Data over the stacked prediction with a data / prediction ratio panel below (the data/MC plot).

    ``components`` ``{name: (n,)}`` are stacked in the given order; the ratio is to ``expected``
    ``(n,)`` (e.g. the best fit, drawn as a line labelled ``expected_label``), or to the sum of the
    components. ``band`` ``(lower, upper)`` ``(n,)``, e.g. posterior-predictive quantiles, is drawn
    on both panels, ``pre_fit`` ``(n,)`` (the expectation at the start values) as a dashed line on
    the counts. ``axes``: a ``(counts, ratio)`` pair from :func:`data_mc_axes`.
    """
    if axes is None:
        axes = data_mc_axes()[1][0]
    main, ratio = axes
    total = (np.sum([np.asarray(c, dtype=float) for c in components.values()], axis=0)
             if expected is None else np.asarray(expected, dtype=float))
    plot_counts(edges, observed, components, expected=expected, expected_label=expected_label, band=band,
                band_label=band_label, pre_fit=pre_fit, ylabel=ylabel, log_x=log_x, log_y=log_y, ax=main)
    low, high = main.get_ylim()
    if log_y:  # down to a third of the smallest prediction or count, not to the smallest component
        shown = np.concatenate([total[total > 0], np.asarray(observed, dtype=float)[np.asarray(observed) > 0]])
        low = max(low, float(np.min(shown, initial=high)) / 3.0)
    main.set_ylim(low, high * (high / low) ** 0.4 if log_y else 1.35 * high)  # room for the legend
    main.set_xlabel("")
    main.set_title(title, y=_title_y(main))
    plot_ratio(edges, observed, total, band=band, band_label=band_label, xlabel=xlabel, log_x=log_x, ax=ratio)
    return main.figure


@_styled
def plot_profile(
    values: np.ndarray,
    twice_delta_nll: np.ndarray,
    *,
    parameter: str,
    best_fit: float | None = None,
    levels: Sequence[float] = (1.0, 4.0),
    ax: Axes | None = None,
) -> Axes:
    """A 1-D profile likelihood scan, ``-2 Delta ln L`` against the parameter, with 1/2 sigma lines."""
    ax = _axes(ax)
    ax.plot(values, twice_delta_nll, color="C0", marker=".", label="profile")
    for level in levels:
        ax.axhline(level, color="0.5", linestyle="dashed", linewidth=0.8)
        ax.annotate(f"{np.sqrt(level):.0f}$\\sigma$", (values[-1], level), ha="right", va="bottom", fontsize=8)
    if best_fit is not None:
        ax.axvline(best_fit, color="k", linewidth=0.8)
    ax.set_xlabel(parameter)
    ax.set_ylabel(r"$-2\,\Delta \ln L$")
    ax.set_ylim(bottom=0)
    return ax


@_styled
def plot_pvalue_scan(
    values: np.ndarray | Mapping[str, np.ndarray],
    p_values: Mapping[str, np.ndarray],
    *,
    xlabel: str = "model weight",
    ax: Axes | None = None,
) -> Axes:
    """p-value scans (e.g. Wilks) of several hypotheses, with the 0.32 and 0.05 lines.

    ``values`` are the scanned values, shared ``(n,)`` or one array per label of ``p_values``.
    """
    ax = _axes(ax)
    for index, (label, p) in enumerate(p_values.items()):
        scanned = values[label] if isinstance(values, Mapping) else values
        ax.plot(scanned, p, label=label, color=f"C{index + 1}")
    for level in (0.32, 0.05):
        ax.axhline(level, color="k", linestyle="dashed", linewidth=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("p-value")
    ax.set_ylim(0, 1.02)
    ax.legend(frameon=False)
    return ax


@_styled
def plot_throw_band(
    edges: np.ndarray,
    throws: np.ndarray,
    *,
    nominal: np.ndarray | None = None,
    xlabel: str = "",
    ylabel: str = "",
    label: str = "throws",
    ax: Axes | None = None,
) -> Axes:
    """Median and central 68%/95% bands of ``K`` throws (e.g. flux throws), shape ``(K, n)``."""
    ax = _axes(ax)
    edges = finite_edges(edges)
    throws = np.asarray(throws, dtype=float)
    q = np.quantile(throws, [0.025, 0.16, 0.5, 0.84, 0.975], axis=0)
    ax.stairs(q[4], edges, baseline=q[0], fill=True, alpha=0.2, color="C0", label=f"{label} 95%")
    ax.stairs(q[3], edges, baseline=q[1], fill=True, alpha=0.4, color="C0", label=f"{label} 68%")
    ax.stairs(q[2], edges, color="C0", label=f"{label} median")
    if nominal is not None:
        ax.stairs(np.asarray(nominal, dtype=float), edges, color="k", label="nominal")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    return ax


class _Column(NamedTuple):
    """The draws of one entry: its variable, flat index in it, label, and draws per chain
    ``(n_chains, n_draws)``."""

    variable: str
    index: int
    label: str
    chains: np.ndarray

    @property
    def draws(self) -> np.ndarray:
        """All chains' draws in one, ``(n_chains * n_draws,)``."""
        return self.chains.ravel()


def _entry_columns(group: Any, var_names: Sequence[str]) -> list[_Column]:
    """Every entry of ``var_names`` in an ArviZ group (``posterior``, ``prior``): scalars labelled
    by name, vector entries by their coordinate (``weights[signal]``) or index."""
    columns = []
    for name in var_names:
        values = group[name]
        by_chain = np.asarray(values.values).reshape(values.shape[0], values.shape[1], -1)
        entry_dims = [dim for dim in values.dims if dim not in ("chain", "draw")]
        coordinates = (list(np.asarray(group[entry_dims[0]].values))
                       if len(entry_dims) == 1 and entry_dims[0] in group.coords else list(range(by_chain.shape[2])))
        for entry in range(by_chain.shape[2]):
            label = name if not entry_dims else f"{name}[{coordinates[entry]}]"
            columns.append(_Column(name, entry, label, by_chain[:, :, entry]))
    return columns


def _credible_levels(density: np.ndarray, masses: Sequence[float]) -> list[float]:
    """Density values enclosing the highest-density ``masses`` of a 2-D histogram, strictly
    increasing (levels that coincide in a sparse histogram are drawn once)."""
    ordered = np.sort(density.ravel())[::-1]
    cumulative = np.cumsum(ordered) / ordered.sum()
    levels = ordered[np.minimum(np.searchsorted(cumulative, masses), ordered.size - 1)]
    return [float(level) for level in np.unique(np.maximum(levels, np.finfo(float).tiny))]


#: Side of one corner-plot panel, inches.
CORNER_PANEL = 1.9


@_styled
def plot_corner(idata: Any, var_names: Sequence[str], *, best_fit: Mapping[str, Any] | None = None,
                bins: int = 25) -> Figure:
    """Corner plot of the posterior: the 68% and 95% highest-density regions of every pair of
    entries below the diagonal, each entry's marginal histogram on it, posterior medians as lines.

    The figure is ``CORNER_PANEL`` inches per entry, with no space between panels. ``best_fit``:
    values by variable name (e.g. :attr:`FitResult.values`), marked as a point when given.
    """
    columns = [(column.label, column.draws) for column in _entry_columns(idata.posterior, var_names)]
    marked = None
    if best_fit is not None:
        marked = [float(np.ravel(best_fit[c.variable])[c.index]) for c in _entry_columns(idata.posterior, var_names)]
    n = len(columns)
    side = CORNER_PANEL * n + 0.9
    figure, axes = plt.subplots(n, n, figsize=(side, side), squeeze=False, sharex="col")
    figure.subplots_adjust(left=0.8 / side, bottom=0.8 / side, right=1 - 0.1 / side, top=1 - 0.1 / side,
                           wspace=0.0, hspace=0.0)
    # labels as wide as a panel at most: about 0.6 em per character
    label_size = float(np.clip(CORNER_PANEL * 72 / (0.6 * max(len(label) for label, _ in columns)), 7.0, 12.0))
    ranges = [np.quantile(draws, [0.002, 0.998]) for _, draws in columns]
    medians = [float(np.median(draws)) for _, draws in columns]
    for row in range(n):
        for column in range(n):
            ax = axes[row, column]
            if column > row:
                ax.set_visible(False)
                continue
            x_label, x = columns[column]
            x_edges = np.linspace(*ranges[column], bins + 1)
            if row == column:
                ax.hist(x, bins=x_edges, histtype="stepfilled", color="C0", alpha=0.5)
                ax.hist(x, bins=x_edges, histtype="step", color="C0")
                ax.axvline(medians[column], color="k", linewidth=0.8)
                if marked is not None:
                    ax.axvline(marked[column], color="C3", linestyle="dashed", linewidth=0.8)
                ax.set_yticks([])
            else:
                y = columns[row][1]
                y_edges = np.linspace(*ranges[row], bins + 1)
                # smoothed over about a bin, as corner.py does, so that a few thousand draws give smooth regions
                density = ndimage.gaussian_filter(np.histogram2d(x, y, bins=(x_edges, y_edges))[0], 1.0)
                levels = _credible_levels(density, (0.95, 0.68))
                centres_x, centres_y = 0.5 * (x_edges[1:] + x_edges[:-1]), 0.5 * (y_edges[1:] + y_edges[:-1])
                shades = [to_rgba("C0", alpha) for alpha in (0.25, 0.55)[-len(levels):]]
                ax.contourf(centres_x, centres_y, density.T, levels=[*levels, density.max() + 1.0], colors=shades)
                ax.contour(centres_x, centres_y, density.T, levels=levels, colors="C0", linewidths=0.8)
                ax.axvline(medians[column], color="k", linewidth=0.6)
                ax.axhline(medians[row], color="k", linewidth=0.6)
                if marked is not None:
                    ax.plot(marked[column], marked[row], "o", color="C3", markersize=3)
                ax.set_ylim(*ranges[row])
                if column == 0:
                    ax.set_ylabel(columns[row][0], fontsize=label_size)
                else:
                    ax.tick_params(labelleft=False)
            ax.xaxis.set_major_locator(MaxNLocator(4, prune="both"))
            if column < row:
                ax.yaxis.set_major_locator(MaxNLocator(4, prune="both"))
            if row == n - 1:
                ax.set_xlabel(x_label, fontsize=label_size)
                ax.tick_params(axis="x", labelrotation=45, labelsize=8)
            else:
                ax.tick_params(labelbottom=False)
            ax.tick_params(axis="y", labelsize=8)
    handles = [plt.Line2D([], [], color="k", linewidth=0.8, label="posterior median")]
    if marked is not None:
        handles.append(plt.Line2D([], [], color="C3", marker="o", linestyle="dashed", markersize=3, label="best fit"))
    handles += [plt.Rectangle((0, 0), 1, 1, color=to_rgba("C0", alpha), label=f"{mass} credible")
                for alpha, mass in ((0.55, "68%"), (0.25, "95%"))]
    figure.legend(handles=handles, loc="upper right", frameon=False, fontsize=9,
                  bbox_to_anchor=(1 - 0.1 / side, 1 - 0.1 / side))
    return figure


@_styled
def plot_traces(idata: Any, var_names: Sequence[str] | None = None, *, bins: int = 30) -> np.ndarray:
    """Trace plots of the posterior chains: per entry of ``var_names`` (default every posterior
    variable) a row with each chain's marginal histogram (left) and its draws against the draw
    index (right), one colour per chain, as ArviZ's ``plot_trace`` lays them out.

    Returns the axes, ``(n_entries, 2)`` (``axes[0, 0].figure`` is the figure).
    """
    columns = _entry_columns(idata.posterior, list(var_names) if var_names else list(idata.posterior.data_vars))
    n = len(columns)
    figure, axes = plt.subplots(n, 2, figsize=(9.0, 2.1 * n + 0.5), squeeze=False, gridspec_kw={"width_ratios": [1, 2]})
    _margins(figure, left=0.45, bottom=0.62, right=0.3, top=0.4, wspace=_DATA_MC_MARGINS["left"], hspace=0.62)
    for (marginal, trace), column in zip(axes, columns):
        edges = np.linspace(*np.quantile(column.chains, [0.001, 0.999]), bins + 1)
        counts = np.stack([np.histogram(chain, bins=edges, density=True)[0] for chain in column.chains])
        steps = np.arange(column.chains.shape[1])
        for chain, (density, draws) in enumerate(zip(counts, column.chains)):
            marginal.stairs(density, edges, color=f"C{chain}", linewidth=1.0)
            trace.plot(steps, draws, color=f"C{chain}", linewidth=0.5, alpha=0.7, label=f"chain {chain}")
        marginal.set_xlabel(column.label)
        marginal.set_ylabel("density")
        marginal.set_yticks([])
        marginal.tick_params(axis="y", which="both", left=False, right=False)
        trace.set_ylabel(column.label)
        trace.set_xlim(0, max(steps[-1], 1))
    axes[-1, 1].set_xlabel("draw")
    axes[0, 1].legend(frameon=False, fontsize=8, ncols=len(columns[0].chains), loc="lower center",
                      bbox_to_anchor=(0.5, 1.0))
    return axes


@_styled
def plot_correlation(fit_result: Any, ax: Axes | None = None, max_entries: int = 40) -> Figure:
    """Correlation matrix of a fit's free entries (from its covariance), annotated when small.

    With more than ``max_entries`` entries, those most correlated with any other are shown.
    """
    covariance = np.asarray(fit_result.covariance, dtype=float)
    labels = list(fit_result.labels)
    sd = np.sqrt(np.diag(covariance))
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = covariance / np.outer(sd, sd)
    if len(labels) > max_entries:
        strongest = np.nanmax(np.abs(correlation - np.eye(len(labels))), axis=1)
        keep = np.sort(np.argsort(-np.nan_to_num(strongest), kind="stable")[:max_entries])
        correlation, labels = correlation[np.ix_(keep, keep)], [labels[i] for i in keep]
    size = len(labels)
    if ax is None:
        side = 2.5 + 0.32 * size
        ax = plt.subplots(figsize=(side + 1.2, side), layout="constrained")[1]
    image = ax.imshow(correlation, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.figure.colorbar(image, ax=ax, label="correlation")
    ax.set_xticks(range(size), labels, rotation=90, fontsize=8 if size < 25 else 6)
    ax.set_yticks(range(size), labels, fontsize=8 if size < 25 else 6)
    if size <= 12:
        for (row, column), value in np.ndenumerate(correlation):
            ax.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if abs(value) > 0.6 else "black")
    ax.tick_params(which="minor", left=False, right=False, top=False, bottom=False)
    ax.set_title("correlation of the fitted parameters", fontsize=10, y=_title_y(ax))
    return ax.figure


@_styled
def plot_cls_scan(limit: Any, ax: Axes | None = None) -> Figure:
    """The CLs scan of an upper limit: observed CLs, the expected median with its 1 and 2 sigma bands
    (the Brazil band), the ``1 - level`` line, and the observed and expected limits."""
    if limit.scan is None:
        raise ValueError("the upper limit has no CLs scan (compute it with scan=)")
    ax = _axes(ax)
    scan = np.asarray(limit.scan, dtype=float)
    expected = np.asarray(limit.cls_expected, dtype=float)  # (n, 5): -2 sigma .. +2 sigma
    ax.fill_between(scan, expected[:, 0], expected[:, 4], color="gold", linewidth=0, label=r"expected $\pm 2\sigma$")
    ax.fill_between(scan, expected[:, 1], expected[:, 3], color="limegreen", linewidth=0, label=r"expected $\pm 1\sigma$")
    ax.plot(scan, expected[:, 2], "k--", linewidth=1, label="expected")
    ax.plot(scan, limit.cls_observed, "k-", marker="o", markersize=3, linewidth=1.2, label="observed")
    ax.axhline(1.0 - limit.level, color="red", linewidth=0.8, label=f"CLs = {1 - limit.level:.2g}")
    ax.set_xlabel(limit.poi)
    ax.set_ylabel(r"CL$_s$")
    ax.set_ylim(0.0, 1.05)
    ax.set_title(f"{round(100 * limit.level)}% CLs upper limit: {limit.observed:.3g} "
                 f"(expected {np.asarray(limit.expected)[2]:.3g})", fontsize=10, y=_title_y(ax))
    ax.legend(frameon=False, fontsize=8)
    return ax.figure


@_styled
def plot_exclusion(limits: Any, labels: Sequence[str] | None = None) -> Figure:
    """Exclusion contours of a :class:`~bayesfit.inference.results.LimitScanResult` over two of its
    labels (default the first two): where the CLs upper limit on the POI is 1, i.e. where the
    hypothesis at its nominal strength is excluded at the limit's level. Observed (solid),
    expected median (dashed), the expected +-1 and +-2 sigma bands, and the points (filled where
    the observed limit is below 1). The contours interpolate ``ln(limit)`` linearly on a
    Delaunay triangulation of the points (``tricontour``); the contour sets have the gids
    ``"observed"`` and ``"expected"``."""
    from matplotlib.tri import Triangulation

    x_label, y_label = (labels or limits.labels)[:2]
    x, y = limits.value_array(x_label), limits.value_array(y_label)
    if x.dtype == object or y.dtype == object:
        raise ValueError(f"the values of {x_label!r} and {y_label!r} must be numbers for an exclusion plot")
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = np.log(limits.observed)
        expected = np.log(limits.expected)  # (n, 5): -2 sigma .. +2 sigma
    found = np.isfinite(observed) & np.all(np.isfinite(expected), axis=1)
    if found.sum() < 3:
        raise ValueError(f"an exclusion plot needs at least 3 points with limits, got {int(found.sum())}")
    triangles = Triangulation(x[found], y[found])
    figure, ax = plt.subplots(figsize=(6.4, 4.8), layout="constrained")
    band = expected[found]
    for low, high, color, name in ((0, 4, "gold", r"expected $\pm 2\sigma$"), (1, 3, "limegreen", r"expected $\pm 1\sigma$")):
        # inside the band the low limit is below 1 and the high one above: ln(low) * ln(high) < 0
        ax.tricontourf(triangles, band[:, low] * band[:, high], levels=[-np.inf, 0.0], colors=[color])
        ax.fill([], [], color=color, label=name)
    ax.tricontour(triangles, band[:, 2], levels=[0.0], colors="k", linestyles="--", linewidths=1.2).set_gid("expected")
    ax.plot([], [], "k--", linewidth=1.2, label="expected")
    ax.tricontour(triangles, observed[found], levels=[0.0], colors="firebrick", linewidths=2.0).set_gid("observed")
    ax.plot([], [], color="firebrick", linewidth=2.0, label="observed")
    excluded = limits.observed < 1.0
    ax.scatter(x[excluded], y[excluded], s=10, color="0.3", zorder=3, label="excluded (observed)")
    ax.scatter(x[~excluded], y[~excluded], s=10, facecolors="none", edgecolors="0.3", zorder=3, label="not excluded")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    level = limits.level or 0.95
    ax.set_title(f"{round(100 * level)}% CLs exclusion ({limits.poi} = 1), {len(limits.names)} hypotheses", fontsize=10)
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    return figure


@_styled
def plot_ranking(ranking: Any, max_entries: int = 20, ax: Axes | None = None) -> Figure:
    """The nuisance-parameter ranking: post-fit (filled) and pre-fit (open) impacts on the POI of the
    ``max_entries`` highest-ranked entries (bars, bottom axis) with their pulls (points, top axis)."""
    n = min(max_entries, len(ranking.labels))
    if ax is None:
        ax = plt.subplots(figsize=(6.4, 1.4 + 0.3 * max(n, 3)), layout="constrained")[1]
    rows = np.arange(n)
    ax.barh(rows, ranking.prefit_up[:n], color="none", edgecolor="C0", label=r"pre-fit $\theta + \Delta\theta$")
    ax.barh(rows, ranking.prefit_down[:n], color="none", edgecolor="C1", label=r"pre-fit $\theta - \Delta\theta$")
    ax.barh(rows, ranking.postfit_up[:n], color="C0", alpha=0.8, label=r"post-fit $\theta + \sigma_\theta$")
    ax.barh(rows, ranking.postfit_down[:n], color="C1", alpha=0.8, label=r"post-fit $\theta - \sigma_\theta$")
    ax.axvline(0.0, color="k", linewidth=0.6)
    ax.set_yticks(rows, ranking.labels[:n], fontsize=8)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel(rf"$\Delta${ranking.poi}")
    pulls = ax.twiny()
    pulls.errorbar(ranking.pull[:n], rows, xerr=ranking.pull_error[:n], fmt="ko", markersize=3, elinewidth=1,
                   label="pull")
    pulls.set_xlim(-2.5, 2.5)
    pulls.set_xlabel(r"pull $(\hat\theta - \theta_0) / \Delta\theta$")
    ax.tick_params(axis="y", which="minor", left=False, right=False)
    ax.legend(frameon=False, fontsize=7, loc="lower right")
    return ax.figure


@_styled
def plot_pulls(pulls: Mapping[str, Any], ax: Axes | None = None) -> Figure:
    """Pulls and constraints of the constrained entries (:class:`~bayesfit.inference.results.PullsResult`),
    one row per entry; several estimates (e.g. ``"ML fit"`` and ``"posterior"``) side by side, over
    the 1 and 2 sd bands of the priors. A pull at 0 with error 1: the data taught nothing of it."""
    first = next(iter(pulls.values()))
    n_rows = len(first.labels)
    if ax is None:
        ax = plt.subplots(figsize=(6.4, 1.4 + 0.22 * max(n_rows, 5)), layout="constrained")[1]
    rows = np.arange(n_rows)
    ax.axvspan(-2, 2, color="gold", alpha=0.35, linewidth=0)
    ax.axvspan(-1, 1, color="limegreen", alpha=0.35, linewidth=0)
    ax.axvline(0.0, color="k", linewidth=0.6)
    offsets = np.linspace(-0.2, 0.2, len(pulls)) if len(pulls) > 1 else [0.0]
    for index, ((label, entry), offset) in enumerate(zip(pulls.items(), offsets)):
        ax.errorbar(entry.pull, rows + offset, xerr=entry.error, fmt="o", markersize=3, color=f"C{index}",
                    elinewidth=1, label=label)
    ax.set_yticks(rows, first.labels, fontsize=6 if n_rows > 40 else 8)
    ax.tick_params(axis="y", which="minor", left=False, right=False)
    ax.set_ylim(n_rows - 0.5, -0.5)
    ax.set_xlabel(r"pull $(\hat\theta - \theta_0) / \Delta\theta$")
    ax.legend(frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(pulls), fontsize=8)
    return ax.figure


@_styled
def plot_posterior_vs_prior(posterior: Any, prior: Any, var_names: Sequence[str]) -> Figure:
    """Marginal posterior against prior of each entry of ``var_names``: histograms of the posterior
    draws and of prior draws (``prior``: an InferenceData with a ``prior`` group, or ``None``)."""
    priors = {} if prior is None else {c.label: c.draws for c in _entry_columns(prior.prior, [n for n in var_names if n in prior.prior])}
    columns = [(c.label, c.draws, priors.get(c.label)) for c in _entry_columns(posterior.posterior, var_names)]
    n_columns = min(len(columns), 4)
    n_rows = -(-len(columns) // n_columns)
    figure, axes = plt.subplots(n_rows, n_columns, figsize=(3.2 * n_columns, 2.6 * n_rows), squeeze=False,
                                layout="constrained")
    for ax, (label, posterior_draws, prior_draws) in zip(axes.ravel(), columns):
        low, high = np.quantile(posterior_draws, [0.001, 0.999])
        span = high - low or 1.0
        bins = np.linspace(low - 0.5 * span, high + 0.5 * span, 60)
        ax.hist(posterior_draws, bins=bins, density=True, histtype="stepfilled", alpha=0.6, label="posterior")
        if prior_draws is not None:  # normalised to all draws, so the density is right inside the window
            weights = np.full(prior_draws.size, 1.0 / (prior_draws.size * (bins[1] - bins[0])))
            ax.hist(prior_draws, bins=bins, weights=weights, histtype="step", color="k", label="prior")
        ax.set_xlabel(label)
        ax.set_yticks([])
        ax.tick_params(axis="y", which="both", left=False, right=False)
    for ax in axes.ravel()[len(columns):]:
        ax.set_visible(False)
    axes.ravel()[0].legend(frameon=False, fontsize=8)
    return figure
