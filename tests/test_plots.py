"""Plot helpers: Poisson intervals against tabulated values; plots draw what they are given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy import stats

from bayesfit import plots


def test_garwood_interval_matches_tables():
    # Garwood 68.27% central intervals, Gehrels (1986) table values for small n
    lower, upper = plots.garwood_interval(np.array([0, 1, 2]))
    np.testing.assert_allclose(lower, [0.0, 0.173, 0.708], atol=1e-3)
    np.testing.assert_allclose(upper, [1.841, 3.300, 4.638], atol=1e-3)
    # and the chi-square form for a larger count
    n, alpha = 10, 1 - 0.682689
    lower, upper = plots.garwood_interval(np.array([n]))
    assert lower[0] == pytest.approx(stats.chi2.ppf(alpha / 2, 2 * n) / 2, rel=1e-10)
    assert upper[0] == pytest.approx(stats.chi2.ppf(1 - alpha / 2, 2 * n + 2) / 2, rel=1e-10)


def test_plot_counts_stacks_components_and_draws_data():
    edges = np.array([-np.inf, 0.0, 1.0, 2.0, np.inf])
    ax = plots.plot_counts(
        edges,
        observed=np.array([3, 5, 0, 1]),
        components={"background": np.array([1.0, 2, 1, 0.5]), "signal": np.array([2.0, 2, 0, 0])},
        band=(np.zeros(4), np.full(4, 6.0)),
        xlabel="x",
    )
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["background", "signal", "posterior predictive 68%", "data"]  # the band hatched on top
    signal_top = ax.patches[1].get_path().vertices[:, 1].max()
    assert signal_top == pytest.approx(4.0)  # signal drawn on top of background: max(1+2, 2+2, 1, 0.5)
    assert ax.get_xlim() == (-1.0, 3.0)  # infinite edges drawn one bin wide
    plt.close("all")


def test_profile_and_pvalue_scan_axes():
    values = np.linspace(2, 4, 5)
    ax = plots.plot_profile(values, (values - 3) ** 2, parameter="astro_gamma", best_fit=3.0)
    assert ax.get_xlabel() == "astro_gamma"
    ax = plots.plot_pvalue_scan(values, {"A": np.linspace(0, 1, 5), "B": np.linspace(1, 0, 5)})
    assert [line.get_label() for line in ax.get_lines()[:2]] == ["A", "B"]
    plt.close("all")


def test_throw_band_quantiles():
    rng = np.random.default_rng(1)
    throws = rng.normal(10, 1, size=(400, 3))
    ax = plots.plot_throw_band(np.arange(4.0), throws, nominal=np.full(3, 10.0))
    median_steps = [p for p in ax.patches if p.get_label() == "throws median"]
    assert median_steps
    plt.close("all")


def test_correlation_matrix_is_the_normalised_covariance():
    from types import SimpleNamespace

    covariance = np.array([[4.0, 1.2, 0.0], [1.2, 1.0, -0.5], [0.0, -0.5, 0.25]])
    ax = plots.plot_correlation(SimpleNamespace(covariance=covariance, labels=["a", "b[0]", "b[1]"])).axes[0]
    shown = ax.images[0].get_array()
    np.testing.assert_allclose(shown, covariance / np.outer(np.sqrt(np.diag(covariance)), np.sqrt(np.diag(covariance))))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b[0]", "b[1]"]
    assert {"0.60", "-1.00", "1.00"} <= {t.get_text() for t in ax.texts}
    plt.close("all")


def test_cls_scan_draws_the_brazil_band_and_the_observed_curve():
    from bayesfit.inference.results import UpperLimitResult

    scan = np.linspace(0.5, 5.0, 10)
    expected = np.exp(-scan[:, None] / np.array([2.5, 2.0, 1.5, 1.1, 0.8]))
    limit = UpperLimitResult("mu", 0.95, "cls", 2.9, np.array([1.5, 2.0, 2.5, 3.3, 4.4]), scan,
                             np.exp(-scan / 1.4), expected)
    ax = plots.plot_cls_scan(limit).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [r"expected $\pm 2\sigma$", r"expected $\pm 1\sigma$", "expected", "observed", "CLs = 0.05"]
    observed = next(line for line in ax.get_lines() if line.get_label() == "observed")
    np.testing.assert_allclose(observed.get_ydata(), np.exp(-scan / 1.4))
    assert ax.get_xlabel() == "mu" and "2.9" in ax.get_title() and "2.5" in ax.get_title()
    with pytest.raises(ValueError, match="no CLs scan"):
        plots.plot_cls_scan(UpperLimitResult("mu", 0.95, "cls", 2.9, np.ones(5)))
    plt.close("all")


def test_posterior_against_prior_has_one_panel_per_entry_with_densities():
    import arviz as az

    rng = np.random.default_rng(1)
    posterior = az.from_dict(posterior={"a": rng.normal(1, 0.1, (2, 500)), "w": rng.normal(0, 1, (2, 500, 2))})
    prior = az.from_dict(prior={"a": rng.uniform(0, 2, (1, 4000))})
    figure = plots.plot_posterior_vs_prior(posterior, prior, ["a", "w"])
    visible = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_xlabel() for ax in visible] == ["a", "w[0]", "w[1]"]
    # the prior's density is 1/2 on [0, 2] whatever part of it the window shows
    prior_patch = visible[0].patches[-1]
    heights = prior_patch.get_path().vertices[:, 1]
    assert np.median(heights[heights > 0]) == pytest.approx(0.5, rel=0.2)
    assert len(visible[1].patches) == 1  # no prior for w: posterior only
    plt.close("all")


def _png_pixels(figure) -> np.ndarray:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=60, format="png")
    plt.close(figure)
    return np.asarray(Image.open(buffer)).astype(int)


def test_compact_minor_ticks_draw_the_picture_of_matplotlibs_minor_ticks():
    def figure():
        edges = np.geomspace(6e4, 1e7, 9)  # log x and log y: minor ticks on all four sides in the ROOT style
        return plots.plot_data_mc(edges, np.arange(8.0), {"a": np.full(8, 3.0), "b": np.linspace(0.1, 2, 8)},
                                  log_x=True, log_y=True, xlabel="E [GeV]")

    compact = plots.compact_minor_ticks(figure())
    main = compact.axes[0]
    marks = [artist for artist in main.get_children() if isinstance(artist, plots._MinorTickMarks)]
    assert len(marks) == 2 and not main.xaxis.get_minor_ticks(0)  # x and y, no Tick objects any more
    # the marks stand where matplotlib's own minor ticks do: the 2..9 x 10^k inside the view
    low, high = main.get_xlim()
    expected = [m * 10.0**k for k in range(4, 8) for m in range(2, 10) if low <= m * 10.0**k <= high]
    np.testing.assert_allclose(np.sort(marks[0]._locations()), expected)
    original, drawn = _png_pixels(figure()), _png_pixels(compact)
    assert original.shape == drawn.shape
    differ = np.any(np.abs(original - drawn) > 2, axis=-1)
    assert differ.mean() < 1e-3, f"{differ.sum()} pixels differ"
    # and the marks were really drawn: without any minor ticks the picture differs
    bare = figure()
    for ax in bare.axes:
        ax.minorticks_off()
    assert np.any(np.abs(_png_pixels(bare) - drawn) > 2, axis=-1).sum() > 50


def test_traces_show_each_chains_draws_and_marginal():
    import arviz as az

    rng = np.random.default_rng(4)
    draws = {"mu": rng.normal(1, 0.1, (3, 300)), "w": rng.normal(0, 1, (3, 300, 2))}
    axes = plots.plot_traces(az.from_dict(posterior=draws), ["mu", "w"])
    assert axes.shape == (3, 2)
    assert [ax.get_ylabel() for ax in axes[:, 1]] == ["mu", "w[0]", "w[1]"] and axes[-1, 1].get_xlabel() == "draw"
    for chain, line in enumerate(axes[2, 1].get_lines()):
        np.testing.assert_array_equal(line.get_ydata(), draws["w"][chain, :, 1])
    for step in axes[0, 0].patches:  # one normalised histogram per chain
        density, edges, _ = step.get_data()
        assert np.sum(density * np.diff(edges)) == pytest.approx(1.0, abs=0.01)
    assert len(axes[0, 0].patches) == 3
    assert [t.get_text() for t in axes[0, 1].get_legend().get_texts()] == ["chain 0", "chain 1", "chain 2"]
    plt.close("all")


def test_titles_stand_where_matplotlib_places_them(monkeypatch):
    def figure(scale=1.0):
        return plots.plot_data_mc(np.arange(4.0), scale * np.array([3.0, 1.0, 2.0]), {"a": scale * np.ones(3)}, title="SR")

    pinned = figure()
    assert pinned.axes[0]._autotitlepos is False  # on the top edge, not placed at every draw
    assert figure(1e7).axes[0]._autotitlepos is True  # an offset text ("1e7") above the axes: placed
    monkeypatch.setattr(plots, "_title_y", lambda ax: None)
    placed = figure()  # matplotlib's own placing
    assert placed.axes[0]._autotitlepos is True
    np.testing.assert_array_equal(_png_pixels(pinned), _png_pixels(placed))
    plt.close("all")
