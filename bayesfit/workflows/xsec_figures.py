"""Figures of the cross-section analysis' inputs: flux throws, cross-section templates, truth check.

Each function returns a matplotlib ``Figure``; the caller saves it (``ResultFolder.write_figure``).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from bayesfit.plots import finite_edges, plot_throw_band
from bayesfit.workflows.xsec import PROCESS_TOP_BIN, XsecInputs, XsecTemplates

__all__ = ["cross_section_figure", "flux_figure", "truth_check_figure"]


def flux_figure(inputs: XsecInputs) -> Figure:
    """Exposure per neutrino-energy bin: median and 68%/95% bands of the throws, and the nominal flux."""
    ax = plot_throw_band(
        inputs.flux_binning.axes[0].edges, inputs.flux_throws, nominal=inputs.nominal_flux,
        xlabel="neutrino energy E", ylabel="exposure per bin [years]", label="flux throws",
    )
    return ax.figure


def cross_section_figure(inputs: XsecInputs, templates: XsecTemplates) -> Figure:
    """Cross section of each process in (true_x, E), summed over true_y, and flux-integrated in true_x."""
    processes = list(templates.cross_sections)
    figure, axes = plt.subplots(1, len(processes) + 1, figsize=(16, 3.8), layout="constrained")
    flux_edges = finite_edges(inputs.flux_binning.axes[0].edges)
    for index, (ax, process) in enumerate(zip(axes, processes)):
        table, x_edges = _over_true_x(inputs, process, templates.cross_sections[process])
        mesh = ax.pcolormesh(x_edges, flux_edges, table.T, cmap="viridis")
        figure.colorbar(mesh, ax=ax, label="true events per unit exposure")
        ax.set(xlabel="true_x", ylabel="neutrino energy E", title=f"cross section: {process}")
        axes[-1].stairs(table @ inputs.nominal_flux, x_edges, label=process, color=f"C{index + 1}")
    axes[-1].set(xlabel="true_x", ylabel="true events (nominal flux)", title="flux-integrated")
    axes[-1].legend(frameon=False)
    return figure


def truth_check_figure(inputs: XsecInputs, templates: XsecTemplates) -> Figure:
    """Cross section x nominal flux against the generated true events, per process, in true_x."""
    figure, axes = plt.subplots(1, len(templates.cross_sections), figsize=(14, 4.2), layout="constrained")
    truth = inputs.truth_binning
    for ax, (process, cross_section) in zip(axes, templates.cross_sections.items()):
        predicted, x_edges = _over_true_x(inputs, process, (cross_section @ inputs.nominal_flux)[:, None])
        ax.stairs(predicted[:, 0], x_edges, label="cross section x flux", color="C0")
        if process in inputs.truth_events:
            events = inputs.truth_events[process]
            subbinning = truth.subbinnings[PROCESS_TOP_BIN[process]]
            generated = subbinning.fill(
                {"true_x": events["true_x"], "true_y": events["true_y"]}, weights=events["weight"]
            ).sumw
            generated_x, _ = _over_true_x(inputs, process, generated[:, None])
            ax.stairs(generated_x[:, 0], x_edges, label="generator", color="k", linestyle="dashed")
        ax.set(xlabel="true_x", ylabel="true events", title=process)
        ax.legend(frameon=False)
    return figure


def _over_true_x(inputs: XsecInputs, process: str, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``table`` ``(n_sub, m)`` over a process' (true_x, true_y) sub-binning summed over true_y:
    ``(n_x, m)``, and the drawable true_x edges ``(n_x + 1,)``."""
    subbinning = inputs.truth_binning.subbinnings[PROCESS_TOP_BIN[process]]
    x_axis = subbinning.variables.index("true_x")
    summed = table.reshape(*subbinning.shape, -1).sum(axis=1 - x_axis)
    return summed, finite_edges(subbinning.axis("true_x").edges)
