"""Figures of a workspace fit: pre-/post-fit counts per channel and nuisance-parameter pulls.

Channels of a workspace carry no bin edges, so bins are drawn against their index. The *pull* of a
constrained entry is ``(value - prior mean) / prior sd`` with the prior of its auxiliary
measurement in the Bayesian reading (``Normal(a, sigma)``: mean ``a``, sd ``sigma``;
``Gamma(alpha, beta)``: mean ``alpha / beta``, sd ``sqrt(alpha) / beta``); its error bar is the
entry's uncertainty in the same units. A pull at 0 with error 1 means the data taught nothing about
that parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bayesfit.errors import WorkspaceError
from bayesfit.histfactory.build import HistFactoryPredictor
from bayesfit.inference.ranking import constrained_entries
from bayesfit.model import BinnedModel
from bayesfit.plots import plot_counts

__all__ = ["Pulls", "channel_figures", "nuisance_pulls", "plot_pulls", "sample_rates"]


class Pulls(NamedTuple):
    """Pulls of constrained parameter entries: ``labels`` and ``pull``, ``error`` ``(n_entries,)``."""

    labels: list[str]
    pull: np.ndarray
    error: np.ndarray


def _predictor(model: BinnedModel) -> HistFactoryPredictor:
    if not isinstance(model.predictor, HistFactoryPredictor):
        raise WorkspaceError(f"expected the model of a workspace (build_model), got predictor {model.predictor.name!r}")
    return model.predictor


def sample_rates(model: BinnedModel, points: Sequence[Mapping[str, Any]]) -> list[np.ndarray]:
    """Expected rates per sample and bin, ``(n_samples, n_bins)``, at each point (values of the
    model's variables, e.g. :meth:`BinnedModel.start_point` or :attr:`FitResult.values`)."""
    predictor = _predictor(model)
    return [predictor.rates_by_sample(model.predictor_values(point)) for point in points]


def nuisance_pulls(model: BinnedModel, values: Mapping[str, Any], errors: Mapping[str, Any]) -> Pulls:
    """Pulls of every free constrained entry (Normal and Gamma priors of the auxiliary measurements).

    ``values`` and ``errors`` map variable names to full-shape arrays, e.g. a fit's ``values`` and
    ``errors``, or posterior means and sds.
    """
    entries = constrained_entries(model)
    value = np.array([np.ravel(values[entry.variable])[entry.index] for entry in entries], dtype=float)
    error = np.array([np.ravel(errors[entry.variable])[entry.index] for entry in entries], dtype=float)
    mean = np.array([entry.mean for entry in entries], dtype=float)
    sd = np.array([entry.sd for entry in entries], dtype=float)
    return Pulls([entry.label for entry in entries], (value - mean) / sd, error / sd)


def plot_pulls(pulls: Mapping[str, Pulls], ax: Axes | None = None) -> Axes:
    """Pulls with error bars, one row per parameter entry; several estimates (e.g. ``"ML fit"`` and
    ``"posterior"``) side by side, over the 1 and 2 sd bands of the priors."""
    first = next(iter(pulls.values()))
    n_rows = len(first.labels)
    if ax is None:
        ax = plt.subplots(figsize=(6.4, 1.0 + 0.18 * max(n_rows, 5)), layout="constrained")[1]
    rows = np.arange(n_rows)
    ax.axvspan(-2, 2, color="gold", alpha=0.35, linewidth=0)
    ax.axvspan(-1, 1, color="limegreen", alpha=0.35, linewidth=0)
    ax.axvline(0.0, color="k", linewidth=0.6)
    offsets = np.linspace(-0.2, 0.2, len(pulls)) if len(pulls) > 1 else [0.0]
    for index, ((label, entry), offset) in enumerate(zip(pulls.items(), offsets)):
        ax.errorbar(entry.pull, rows + offset, xerr=entry.error, fmt="o", markersize=3, color=f"C{index}",
                    elinewidth=1, label=label)
    ax.set_yticks(rows, first.labels, fontsize=6 if n_rows > 40 else 8)
    ax.set_ylim(n_rows - 0.5, -0.5)
    ax.set_xlabel(r"$(\theta - \theta_0) / \Delta\theta$")
    ax.legend(frameon=False, loc="lower right", fontsize=8)
    return ax


def channel_figures(
    model: BinnedModel,
    pre_fit: np.ndarray,
    post_fit: np.ndarray,
    predictive_band: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Figure]:
    """One figure per channel, ``{"channel_<name>": figure}``: pre-fit (left) and post-fit (right).

    ``pre_fit``, ``post_fit``: expected rates per sample ``(n_samples, n_bins)`` (see
    :func:`sample_rates`); ``predictive_band``: ``(lower, upper)`` ``(n_bins,)`` of the posterior
    predictive counts, drawn on the post-fit panel.
    """
    layout = _predictor(model).layout
    figures = {}
    for channel, bins in layout.channel_slices.items():
        n = bins.stop - bins.start
        edges = np.arange(n + 1, dtype=float)
        present = np.flatnonzero(np.abs(layout.nominal[:, bins]).sum(axis=1) > 0)
        figure, axes = plt.subplots(1, 2, figsize=(10.4, 4.2), sharey=True, layout="constrained")
        for ax, rates, title in ((axes[0], pre_fit, "pre-fit"), (axes[1], post_fit, "post-fit")):
            band = None
            if predictive_band is not None and title == "post-fit":
                band = (predictive_band[0][bins], predictive_band[1][bins])
            plot_counts(
                edges,
                model.observed[bins],
                {layout.sample_names[s]: rates[s, bins] for s in present},
                expected=rates[:, bins].sum(axis=0) if title == "post-fit" else None,
                band=band,
                xlabel="bin",
                ax=ax,
            )
            ax.set_title(f"{channel}: {title}")
        figures[f"channel_{channel}"] = figure
    return figures
