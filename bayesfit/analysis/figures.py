"""Figures of an analysis on a rectilinear binning: counts projected on each continuous axis.

For every continuous axis there is one figure with a panel per category of the categorical axes
(e.g. energy per topology, titled with the categories' names): observed counts with Poisson error
bars, the fitted components stacked, the expectation before the fit (at the start values) dashed,
the posterior-predictive 68% band, and below them data over the best fit. Axes are labelled with their label and unit (``Deposited energy [GeV]``); cos-zenith
axes are drawn against ``cos(zenith)``, log10 axes on a logarithmic scale.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure

from bayesfit.binning import Axis, CategoryAxis, CosAxis, Log10Axis, RectilinearBinning
from bayesfit.plots import data_mc_axes, hep_style, plot_data_mc

__all__ = ["CountsToPlot", "projection_figures"]


class CountsToPlot(NamedTuple):
    """Per-bin arrays (over the whole flat binning) to draw.

    Attributes
    ----------
    observed:
        Observed counts, ``(n_bins,)``.
    components:
        Fitted expectation of each component, ``{name: (n_bins,)}``.
    predictive:
        Posterior-predictive count draws, ``(n_draws, n_bins)``, or ``None``.
    pre_fit:
        Total expectation at the start values, ``(n_bins,)``, or ``None``.
    """

    observed: np.ndarray
    components: Mapping[str, np.ndarray]
    predictive: np.ndarray | None = None
    pre_fit: np.ndarray | None = None


def projection_figures(binning: RectilinearBinning, counts: CountsToPlot) -> dict[str, Figure]:
    """One figure per continuous axis, ``{"counts_<variable>": figure}``: a data/prediction panel
    over a ratio panel for each category of the categorical axes, titled with the category names
    and labelled with the axis' label and unit."""
    categorical = [axis for axis in binning.axes if isinstance(axis, CategoryAxis)]
    continuous = [axis for axis in binning.axes if not isinstance(axis, CategoryAxis)]
    panels = list(itertools.product(*(range(axis.size) for axis in categorical)))
    figures = {}
    for axis in continuous:
        mapping = binning.projection([*(a.variable for a in categorical), axis.variable])
        shape = (*(a.size for a in categorical), axis.size)

        def project(values: np.ndarray) -> np.ndarray:
            projected = mapping.apply(np.asarray(values, dtype=float))
            return projected.reshape(*projected.shape[:-1], *shape)

        observed = project(counts.observed)
        components = {name: project(values) for name, values in counts.components.items()}
        pre_fit = None if counts.pre_fit is None else project(counts.pre_fit)
        band = None
        if counts.predictive is not None:
            band = np.quantile(project(counts.predictive), [0.16, 0.84], axis=0)
        edges, order, label = _drawn_axis(axis)
        with hep_style():
            figure, axes = data_mc_axes(len(panels))
            for pair, panel in zip(axes, panels):
                plot_data_mc(
                    edges,
                    observed[panel][order],
                    {name: values[panel][order] for name, values in components.items()},
                    expected=sum(values[panel] for values in components.values())[order],
                    band=None if band is None else (band[0][panel][order], band[1][panel][order]),
                    pre_fit=None if pre_fit is None else pre_fit[panel][order],
                    xlabel=label,
                    title=", ".join(a.category_names[i] for a, i in zip(categorical, panel)),
                    log_x=isinstance(axis, Log10Axis),
                    log_y=isinstance(axis, Log10Axis),
                    axes=pair,
                )
        figures[f"counts_{axis.variable}"] = figure
    return figures


def _drawn_axis(axis: Axis) -> tuple[np.ndarray, slice, str]:
    """Edges to draw, the bin order along them, and the axis title (cos axes: against the cosine,
    ``cos(label)`` without the angle's unit)."""
    if isinstance(axis, CosAxis):
        return np.cos(axis.edges)[::-1], slice(None, None, -1), f"cos({axis.label or axis.variable})"
    return axis.edges, slice(None), axis.display_label
