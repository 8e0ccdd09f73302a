"""The plots physicists expect from a binned fit.

Every function draws on a matplotlib ``Axes`` (created if not given) and returns it; inputs are
plain arrays (bin edges, counts), so the plots know nothing of binnings or models. Projections of a
multi-dimensional binning are made by the caller (``Histogram.project``) before plotting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from scipy import stats

from bayesfit.binning.histogram import finite_edges

__all__ = [
    "finite_edges",
    "garwood_interval",
    "plot_counts",
    "plot_profile",
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


def _axes(ax: Axes | None) -> Axes:
    return ax if ax is not None else plt.subplots(figsize=(6.4, 4.4), layout="constrained")[1]


def plot_counts(
    edges: np.ndarray,
    observed: np.ndarray | None = None,
    components: Mapping[str, np.ndarray] | None = None,
    *,
    expected: np.ndarray | None = None,
    band: tuple[np.ndarray, np.ndarray] | None = None,
    band_label: str = "posterior predictive 68%",
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
        Total expectation ``(n,)`` drawn as a line (e.g. the best fit), if given.
    band:
        ``(lower, upper)`` per bin, e.g. posterior-predictive quantiles, drawn as a shaded band.
    """
    ax = _axes(ax)
    edges = finite_edges(edges)
    if band is not None:  # drawn first, so that the components stay readable on top of it
        lower, upper = (np.asarray(b, dtype=float) for b in band)
        ax.stairs(upper, edges, baseline=lower, fill=True, color="0.5", alpha=0.3, label=band_label)
    bottom = np.zeros(len(edges) - 1)
    for index, (label, counts) in enumerate((components or {}).items()):
        counts = np.asarray(counts, dtype=float)
        ax.stairs(bottom + counts, edges, baseline=bottom, fill=True, alpha=0.55, color=f"C{index}", label=label)
        bottom = bottom + counts
    if expected is not None:
        ax.stairs(np.asarray(expected, float), edges, color="k", linewidth=1.5, label="best fit")
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


def plot_corner(idata: Any, var_names: Sequence[str] | None = None, **kwargs: Any) -> Any:
    """Corner plot of the posterior: pairwise densities with marginals (ArviZ ``plot_pair``)."""
    import arviz as az

    options = {"kind": "kde", "marginals": True, "point_estimate": "median", **kwargs}
    return az.plot_pair(idata, var_names=list(var_names) if var_names else None, **options)


def plot_traces(idata: Any, var_names: Sequence[str] | None = None, **kwargs: Any) -> Any:
    """Trace plots of the posterior chains (ArviZ ``plot_trace``)."""
    import arviz as az

    return az.plot_trace(idata, var_names=list(var_names) if var_names else None, **kwargs)
