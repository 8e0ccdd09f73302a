"""Figures of a workspace fit: pre-/post-fit counts per channel, samples stacked by name.

Channels of a workspace carry no bin edges, so bins are drawn against their index (bin ``i``
from ``i - 0.5`` to ``i + 0.5``). The pulls of
the nuisance parameters are generic (:func:`bayesfit.inference.ranking.pulls`,
:func:`bayesfit.plots.plot_pulls`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bayesfit.errors import WorkspaceError
from bayesfit.histfactory.build import HistFactoryPredictor
from bayesfit.model import BinnedModel
from bayesfit.plots import data_mc_axes, hep_style, plot_data_mc

__all__ = ["channel_figures", "sample_rates"]


def _predictor(model: BinnedModel) -> HistFactoryPredictor:
    if not isinstance(model.predictor, HistFactoryPredictor):
        raise WorkspaceError(f"expected the model of a workspace (build_model), got predictor {model.predictor.name!r}")
    return model.predictor


def sample_rates(model: BinnedModel, points: Sequence[Mapping[str, Any]]) -> list[np.ndarray]:
    """Expected rates per sample and bin, ``(n_samples, n_bins)``, at each point (values of the
    model's variables, e.g. :meth:`BinnedModel.start_point` or :attr:`FitResult.values`)."""
    predictor = _predictor(model)
    return [predictor.rates_by_sample(model.predictor_values(point)) for point in points]


def channel_figures(
    model: BinnedModel,
    pre_fit: np.ndarray,
    post_fit: np.ndarray,
    predictive_band: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Figure]:
    """One figure per channel, ``{"channel_<name>": figure}``: pre-fit (left) and post-fit (right),
    the samples stacked by name over a data / prediction ratio panel.

    ``pre_fit``, ``post_fit``: expected rates per sample ``(n_samples, n_bins)`` (see
    :func:`sample_rates`); ``predictive_band``: ``(lower, upper)`` ``(n_bins,)`` of the posterior
    predictive counts, drawn on the post-fit panel.
    """
    layout = _predictor(model).layout
    figures = {}
    for channel, bins in layout.channel_slices.items():
        n = bins.stop - bins.start
        edges = np.arange(n + 1, dtype=float) - 0.5  # bin i centred on the integer i
        present = np.flatnonzero(np.abs(layout.nominal[:, bins]).sum(axis=1) > 0)
        with hep_style():
            figure, axes = data_mc_axes(2, sharey=True)
            for pair, rates, title in ((axes[0], pre_fit, "pre-fit"), (axes[1], post_fit, "post-fit")):
                band = None
                if predictive_band is not None and title == "post-fit":
                    band = (predictive_band[0][bins], predictive_band[1][bins])
                plot_data_mc(
                    edges,
                    model.observed[bins],
                    {layout.sample_names[s]: rates[s, bins] for s in present},
                    expected=rates[:, bins].sum(axis=0),
                    expected_label=title if title == "pre-fit" else "best fit",
                    band=band,
                    xlabel=f"bin of {channel}",
                    title=f"{channel}: {title}",
                    axes=pair,
                )
                pair[1].xaxis.set_major_locator(MaxNLocator(integer=True))
            for pair in axes[1:]:  # the y axes are shared
                pair[0].set_ylabel("")
                pair[1].set_ylabel("")
        figures[f"channel_{channel}"] = figure
    return figures
