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
    assert labels == ["posterior predictive 68%", "background", "signal", "data"]
    signal_top = ax.patches[2].get_path().vertices[:, 1].max()
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
