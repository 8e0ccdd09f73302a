"""Figures carry what a reader needs: axis labels with units, category, channel and sample names,
legends, the ratio panel's data / prediction; analysis files give the labels and units."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from bayesfit import plots
from bayesfit.analysis.build import build_binning
from bayesfit.analysis.figures import CountsToPlot, projection_figures
from bayesfit.binning import CategoryAxis, CosAxis, Log10Axis, RectilinearBinning
from bayesfit.errors import AnalysisFileError, BinningError



def write(tmp_path, text):
    path = tmp_path / "analysis.yaml"
    path.write_text(text)
    return path


def _texts(items):
    return [item.get_text() for item in items]


def test_analysis_file_axes_take_label_unit_and_category_names(tmp_path):
    from bayesfit.analysis import read_analysis

    spec = read_analysis(write(tmp_path, """
name: labelled
binning:
  topology: {categories: [1, 0], names: [track, cascade], label: Event topology}
  zenith: {cos: {bins: 2}, label: Reconstructed zenith, unit: rad}
  energy: {log10: {start: 1.0e4, stop: 1.0e6, bins: 2}, label: Deposited energy, unit: GeV}
data: {path: data.json}
simulation: {path: simulation.json}
components: {atmospheric: {weight: w, scale: norm}}
parameters: {norm: {prior: flat}}
"""))
    topology, zenith, energy = build_binning(spec.binning).axes
    assert topology.categories == (0, 1) and topology.category_names == ["cascade", "track"]  # names follow
    assert zenith.display_label == "Reconstructed zenith [rad]"
    assert energy.display_label == "Deposited energy [GeV]"
    assert (energy.label, energy.unit) == ("Deposited energy", "GeV")


@pytest.mark.parametrize(("axis", "message"), [
    ("{linear: {start: 0, stop: 1, bins: 2}, names: [a, b]}", "'names' needs 'categories'"),
    ("{linear: {start: 0, stop: 1, bins: 2}, edges: [0, 1]}", "exactly one of linear, log10, cos, edges, categories"),
    ("{label: x}", "exactly one of linear"),
    ("{linear: {start: 0, stop: 1, bins: 2}, unit: 3}", "expected string"),
    ("{categories: [0, 1], labels: [a, b]}", "unknown key(s) 'labels'"),
])
def test_bad_axis_display_keys_name_the_key(tmp_path, axis, message):
    from bayesfit.analysis import read_analysis

    with pytest.raises(AnalysisFileError, match="binning.x") as error:
        read_analysis(write(tmp_path, f"""
name: bad
binning: {{x: {axis}}}
data: {{path: data.json}}
simulation: {{path: simulation.json}}
components: {{a: {{weight: w, scale: norm}}}}
parameters: {{norm: {{prior: flat}}}}
"""))
    assert message in str(error.value)


def test_category_names_must_match_the_categories():
    with pytest.raises(BinningError, match=r"names must be 2 strings, one per category of \[0, 1\]"):
        build_binning({"topology": {"categories": [0, 1], "names": ["cascade"]}})


def test_projection_figures_label_axes_with_units_and_panels_with_category_names():
    binning = RectilinearBinning([
        CategoryAxis("topology", (0, 1), ("cascade", "track")),
        CosAxis("zenith", 2, label="Reconstructed zenith", unit="rad"),
        Log10Axis("energy", 1e4, 1e6, 3, label="Deposited energy", unit="GeV"),
    ])
    rng = np.random.default_rng(3)
    atmospheric, astrophysical = rng.uniform(1, 5, binning.size), rng.uniform(1, 5, binning.size)
    observed = rng.poisson(atmospheric + astrophysical).astype(float)
    predictive = rng.poisson(atmospheric + astrophysical, size=(200, binning.size)).astype(float)
    pre_fit = 0.8 * (atmospheric + astrophysical)
    figures = projection_figures(binning, CountsToPlot(observed, {"atmospheric": atmospheric,
                                                                  "astrophysical": astrophysical}, predictive, pre_fit))
    assert set(figures) == {"counts_zenith", "counts_energy"}
    axes = figures["counts_energy"].axes
    counts, ratios = axes[:2], axes[2:]
    assert [ax.get_title() for ax in counts] == ["cascade", "track"]
    assert [ax.get_xlabel() for ax in ratios] == ["Deposited energy [GeV]"] * 2
    assert [ax.get_ylabel() for ax in ratios] == ["data / pred."] * 2
    assert _texts(counts[0].get_legend().get_texts()) == [
        "atmospheric", "astrophysical", "best fit", "pre-fit", "posterior predictive 68%", "data"]
    assert figures["counts_zenith"].axes[2].get_xlabel() == "cos(Reconstructed zenith)"
    # the ratio panel: the cascade energy projection over its expectation, summed over zenith
    shape = (2, 2, 3)
    expected = (atmospheric + astrophysical).reshape(shape).sum(axis=1)[0]
    data = observed.reshape(shape).sum(axis=1)[0]
    points = ratios[0].containers[0].lines[0].get_ydata()
    np.testing.assert_allclose(points, data / expected)
    (dashed,) = [patch for patch in counts[0].patches if patch.get_label() == "pre-fit"]
    np.testing.assert_allclose(dashed.get_data().values, pre_fit.reshape(shape).sum(axis=1)[0])
    plt.close("all")


def test_data_mc_ratio_panel_divides_data_and_band_by_the_prediction():
    edges = np.array([0.0, 1.0, 2.0, 3.0])
    prediction = np.array([2.0, 4.0, 0.0])
    figure = plots.plot_data_mc(edges, np.array([3.0, 2.0, 1.0]), {"signal": prediction},
                                band=(prediction - 1, prediction + 1), xlabel="Mass [GeV]", title="SR")
    main, ratio = figure.axes
    assert main.get_title() == "SR" and ratio.get_xlabel() == "Mass [GeV]" and main.get_xlabel() == ""
    np.testing.assert_allclose(ratio.containers[0].lines[0].get_ydata(), [1.5, 0.5])  # no point without prediction
    band = next(patch for patch in ratio.patches if patch.get_label() == "posterior predictive 68%")
    top = band.get_path().vertices[:, 1].max()
    assert top == pytest.approx(1.5)  # (2 + 1) / 2
    # a ratio beyond the panel is an arrow at its top
    ratio = plots.plot_data_mc(np.arange(4.0), np.array([3.0, 1.0, 2.0]), {"a": np.array([3.0, 0.01, 2.0])}).axes[1]
    arrow = next(line for line in ratio.get_lines() if line.get_label() == "data off the scale")
    low, high = ratio.get_ylim()
    assert list(arrow.get_xdata()) == [1.5] and low < arrow.get_ydata()[0] < high
    plt.close("all")


def test_hep_style_is_applied_inside_the_functions_only():
    mplhep = pytest.importorskip("mplhep")
    before = dict(plt.rcParams)
    figure = plots.plot_data_mc(np.arange(3.0), np.ones(2), {"a": np.ones(2)})
    assert dict(plt.rcParams) == before
    assert mplhep.style.ROOT["xtick.direction"] == "in"
    tick = figure.axes[0].xaxis.get_major_ticks()[0]
    assert tick._tickdir == "in"
    plt.close("all")


def test_workspace_channels_are_named_and_samples_stacked_by_name():
    from bayesfit.histfactory import build_model
    from bayesfit.histfactory.plots import channel_figures, sample_rates

    workspace = {
        "channels": [{"name": "SR_mass", "samples": [
            {"name": "ttbar", "data": [10.0, 5.0],
             "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
            {"name": "W+jets", "data": [4.0, 2.0],
             "modifiers": [{"name": "wnorm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}}]}]}],
        "observations": [{"name": "SR_mass", "data": [15.0, 6.0]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }
    model = build_model(workspace)
    pre_fit, = sample_rates(model, [model.start_point()])
    figures = channel_figures(model, pre_fit, pre_fit, (np.array([12.0, 5.0]), np.array([16.0, 9.0])))
    figure = figures["channel_SR_mass"]
    pre, post, pre_ratio, post_ratio = figure.axes
    assert (pre.get_title(), post.get_title()) == ("SR_mass: pre-fit", "SR_mass: post-fit")
    assert _texts(pre.get_legend().get_texts()) == ["W+jets", "ttbar", "pre-fit", "data"]  # samples in pyhf's (sorted) order
    assert "posterior predictive 68%" in _texts(post.get_legend().get_texts())
    assert pre_ratio.get_xlabel() == "bin of SR_mass"
    np.testing.assert_allclose(pre_ratio.containers[0].lines[0].get_ydata(), [15 / 14, 6 / 7])
    plt.close("all")


def test_pulls_ranking_and_corner_carry_entry_labels():
    import arviz as az

    from bayesfit.inference.results import PullsResult, RankingResult

    labels = ["lumi", "jes", "staterror_SR[0]"]
    pulls = PullsResult(labels, np.array([0.2, -1.0, 0.0]), np.array([0.9, 0.5, 1.0]))
    figure = plots.plot_pulls({"ML fit": pulls, "posterior": pulls})
    ax = figure.axes[0]
    assert _texts(ax.get_yticklabels()) == labels
    assert _texts(ax.get_legend().get_texts()) == ["ML fit", "posterior"]
    assert "pull" in ax.get_xlabel()
    assert pulls.to_dict()["jes"] == {"pull": -1.0, "error": 0.5}

    impacts = np.array([0.3, 0.2, 0.1])
    ranking = RankingResult("mu", 1.0, labels, pulls.pull, pulls.error, impacts, -impacts, impacts / 2, -impacts / 2)
    ax = plots.plot_ranking(ranking).axes[0]
    assert _texts(ax.get_yticklabels()) == labels and ax.get_xlabel() == r"$\Delta$mu"

    rng = np.random.default_rng(2)
    idata = az.from_dict(posterior={"mu": rng.normal(1, 0.1, (2, 400)), "w": rng.normal(0, 1, (2, 400, 2))},
                         coords={"w_entries": ["signal", "noise"]}, dims={"w": ["w_entries"]})
    small = plots.plot_corner(idata, ["mu"])
    corner = plots.plot_corner(idata, ["mu", "w"], best_fit={"mu": 1.0, "w": np.zeros(2)})
    visible = [ax for ax in corner.axes if ax.get_visible()]
    assert len(visible) == 6  # the lower triangle of 3 entries
    assert [ax.get_xlabel() for ax in visible[-3:]] == ["mu", "w[signal]", "w[noise]"]
    assert corner.get_size_inches()[0] == pytest.approx(3 * plots.CORNER_PANEL + 0.9)  # sized to its entries
    assert small.get_size_inches()[0] == pytest.approx(plots.CORNER_PANEL + 0.9)
    assert "best fit" in _texts(corner.legends[0].get_texts())
    plt.close("all")


def test_without_mplhep_the_figures_are_plain_matplotlib(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mplhep", None)  # import mplhep now raises ImportError
    with plots.hep_style():
        assert plt.rcParams["xtick.direction"] == matplotlib.rcParamsDefault["xtick.direction"]
    figure = plots.plot_data_mc(np.arange(3.0), np.ones(2), {"a": np.ones(2)}, xlabel="x [cm]")
    assert figure.axes[1].get_xlabel() == "x [cm]"
    plt.close("all")
