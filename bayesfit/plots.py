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
from matplotlib.figure import Figure
from scipy import stats

from bayesfit.binning.histogram import finite_edges

__all__ = [
    "finite_edges",
    "garwood_interval",
    "plot_counts",
    "plot_exclusion",
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


def plot_correlation(fit_result: Any, ax: Axes | None = None, max_entries: int = 40) -> Axes:
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
    ax.set_title("correlation of the fitted parameters")
    return ax


def plot_cls_scan(limit: Any, ax: Axes | None = None) -> Axes:
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
                 f"(expected {np.asarray(limit.expected)[2]:.3g})", fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    return ax


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


def plot_ranking(ranking: Any, max_entries: int = 20, ax: Axes | None = None) -> Axes:
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
    ax.legend(frameon=False, fontsize=7, loc="lower right")
    return ax


def plot_posterior_vs_prior(posterior: Any, prior: Any, var_names: Sequence[str]) -> Any:
    """Marginal posterior against prior of each entry of ``var_names``: histograms of the posterior
    draws and of prior draws (``prior``: an InferenceData with a ``prior`` group, or ``None``)."""
    columns = []
    for name in var_names:
        draws = np.asarray(posterior.posterior[name].values)
        flat = draws.reshape(draws.shape[0] * draws.shape[1], -1)
        prior_draws = None
        if prior is not None and name in prior.prior:
            values = np.asarray(prior.prior[name].values)
            prior_draws = values.reshape(values.shape[0] * values.shape[1], -1)
        for entry in range(flat.shape[1]):
            label = name if flat.shape[1] == 1 else f"{name}[{entry}]"
            columns.append((label, flat[:, entry], None if prior_draws is None else prior_draws[:, entry]))
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
    for ax in axes.ravel()[len(columns):]:
        ax.set_visible(False)
    axes.ravel()[0].legend(frameon=False, fontsize=8)
    return figure
