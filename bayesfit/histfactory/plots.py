"""Figures of a workspace fit: pre-/post-fit counts per channel and nuisance-parameter pulls.

Channels of a workspace carry no bin edges, so bins are drawn against their index. The *pull* of a
constrained parameter is ``(value - prior mean) / prior sd`` with the prior of the Bayesian reading
(``Normal(a, sigma)``: mean ``a``, sd ``sigma``; ``Gamma(alpha, beta)``: mean ``alpha / beta``, sd
``sqrt(alpha) / beta``); its error bar is the parameter's uncertainty in the same units. A pull at
0 with error 1 means the data taught nothing about that parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import pytensor
import pytensor.tensor as pt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bayesfit.histfactory.model import HistFactoryModel, PriorSpec
from bayesfit.plots import plot_counts

__all__ = ["Pulls", "channel_figures", "nuisance_pulls", "plot_pulls", "sample_rates"]


class Pulls(NamedTuple):
    """Pulls of constrained parameter entries: ``labels`` and ``pull``, ``error`` ``(n_entries,)``."""

    labels: list[str]
    pull: np.ndarray
    error: np.ndarray


def sample_rates(model: HistFactoryModel, thetas: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Expected rates per sample and bin, ``(n_samples, n_bins)``, at each flat parameter vector."""
    theta = pt.dvector("theta")
    function = pytensor.function([theta], model.layout.expected_by_sample(theta))
    return [function(np.asarray(values, dtype=float)) for values in thetas]


def nuisance_pulls(model: HistFactoryModel, priors: Mapping[str, PriorSpec], values: np.ndarray,
                   errors: np.ndarray) -> Pulls:
    """Pulls of every free entry of the constrained parameters (normal and gamma priors).

    ``values`` and ``errors`` are flat ``(n_parameters,)`` vectors, e.g. the ML fit or posterior
    means and sds.
    """
    labels, pulls, pull_errors = [], [], []
    names = model.parameter_names
    for parameter in model.parameter_sets:
        spec = priors[parameter.name]
        if spec.family == "normal":
            mean, sd = spec.parameters["mu"], spec.parameters["sigma"]
        elif spec.family == "gamma":
            mean = spec.parameters["alpha"] / spec.parameters["beta"]
            sd = np.sqrt(spec.parameters["alpha"]) / spec.parameters["beta"]
        else:
            continue
        free = ~spec.fixed
        entries = np.arange(parameter.offset, parameter.offset + parameter.size)[free]
        labels += [names[i] for i in entries]
        pulls.append((values[entries] - mean[free]) / sd[free])
        pull_errors.append(errors[entries] / sd[free])
    if not labels:
        return Pulls([], np.zeros(0), np.zeros(0))
    return Pulls(labels, np.concatenate(pulls), np.concatenate(pull_errors))


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
    model: HistFactoryModel,
    pre_fit: np.ndarray,
    post_fit: np.ndarray,
    predictive_band: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Figure]:
    """One figure per channel, ``{"channel_<name>": figure}``: pre-fit (left) and post-fit (right).

    ``pre_fit``, ``post_fit``: expected rates per sample ``(n_samples, n_bins)`` (see
    :func:`sample_rates`); ``predictive_band``: ``(lower, upper)`` ``(n_bins,)`` of the posterior
    predictive counts, drawn on the post-fit panel.
    """
    layout = model.layout
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
                model.data.main[bins],
                {layout.sample_names[s]: rates[s, bins] for s in present},
                expected=rates[:, bins].sum(axis=0) if title == "post-fit" else None,
                band=band,
                xlabel="bin",
                ax=ax,
            )
            ax.set_title(f"{channel}: {title}")
        figures[f"channel_{channel}"] = figure
    return figures
