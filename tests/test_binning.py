"""Rectilinear binnings and histograms against np.histogramdd, the HESE seed and hand counts."""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_data import REFERENCE
import bayesfit
from bayesfit.binning import (
    Binning,
    CategoryAxis,
    CosAxis,
    Histogram,
    Log10Axis,
    RectilinearBinning,
    RegularAxis,
    VariableAxis,
    hese_binning,
)
from bayesfit.errors import BayesfitError, BinningError, EventsError

HESE = REFERENCE / "hese"


def hese_like_events(n_events: int, seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "energy": 10 ** rng.uniform(4.5, 7.2, n_events),
        "zenith": np.arccos(rng.uniform(-1, 1, n_events)),
        "topology": rng.integers(0, 2, n_events).astype(float),
    }


def test_hese_binning_matches_histogramdd_in_seed_order():
    binning = hese_binning()
    assert binning.size == 400 and binning.dims == ("topology", "zenith", "energy")
    events = hese_like_events(20_000)
    weights = np.random.default_rng(4).exponential(2.0, 20_000)
    histogram = binning.fill(events, weights)
    edges = [
        np.array([-0.5, 0.5, 1.5]),
        np.arccos(np.linspace(-1, 1, 11))[::-1],
        np.logspace(np.log10(60.0e3), np.log10(1.0e7), 21),
    ]
    sample = np.column_stack([events["topology"], events["zenith"], events["energy"]])
    sumw, _ = np.histogramdd(sample, bins=edges, weights=weights)
    sumw2, _ = np.histogramdd(sample, bins=edges, weights=weights**2)
    entries, _ = np.histogramdd(sample, bins=edges)
    np.testing.assert_allclose(histogram.sumw, sumw.ravel(), rtol=1e-12)
    np.testing.assert_allclose(histogram.sumw2, sumw2.ravel(), rtol=1e-12)
    np.testing.assert_array_equal(histogram.entries, entries.ravel())
    assert histogram.n_outside == 20_000 - int(entries.sum())
    np.testing.assert_allclose(histogram.sumw.sum() + weights[binning.bin_index(events) < 0].sum(), weights.sum())


@pytest.mark.skipif(not HESE.is_dir(), reason="reference data absent")
def test_seed_json_data_binned_like_the_seed_notebook():
    events = bayesfit.load_events(HESE / "synthetic-small" / "hese_toy_data.json")
    histogram = hese_binning().fill(events)
    # the seed's make_bin_masks: np.digitize per variable, topology_bins = linspace(0, 2, 3)
    energy_bin = np.digitize(events["energy"], np.logspace(np.log10(60.0e3), np.log10(1.0e7), 21)) - 1
    zenith_bin = np.digitize(events["zenith"], np.arccos(np.linspace(-1, 1, 11))[::-1]) - 1
    topology_bin = np.digitize(events["topology"], np.linspace(0, 2, 3)) - 1
    expected = [
        np.sum((topology_bin == t) & (zenith_bin == z) & (energy_bin == e))
        for t in range(2) for z in range(10) for e in range(20)
    ]
    np.testing.assert_array_equal(histogram.entries, expected)


def test_hand_counted_2d_fill_and_projection():
    binning = RectilinearBinning([VariableAxis("x", (0.0, 1.0, 2.0)), CategoryAxis("t", (0, 1, 2))])
    events = {"x": [0.5, 0.5, 1.5, 2.5, 1.0], "t": [0, 2, 2, 1, 1]}
    histogram = binning.fill(events, weights=[1.0, 2.0, 3.0, 4.0, 5.0])
    # bins (x0,t0) (x0,t1) (x0,t2) (x1,t0) (x1,t1) (x1,t2)
    np.testing.assert_array_equal(histogram.sumw, [1, 0, 2, 0, 5, 3])
    np.testing.assert_array_equal(histogram.sumw2, [1, 0, 4, 0, 25, 9])
    np.testing.assert_array_equal(histogram.entries, [1, 0, 1, 0, 1, 1])
    assert histogram.n_outside == 1
    np.testing.assert_array_equal(binning.bin_index(events), [0, 2, 5, -1, 4])
    np.testing.assert_array_equal(histogram.project("t").sumw, [1, 5, 5])
    transposed = histogram.project(["t", "x"])
    np.testing.assert_array_equal(transposed.view(), histogram.view().T)


@pytest.mark.parametrize(
    ("events", "weights", "kwargs", "error", "match"),
    [
        ({"x": [0.5, np.nan, np.nan], "t": [0, 0, 1]}, None, {}, EventsError, r"'x' is NaN for 2 of the 3"),
        ({"x": [0.5]}, None, {}, EventsError, r"needs variable 't'.*only \['x'\]"),
        ({"x": [0.5, 1.5], "t": [0, 1]}, [1.0], {}, EventsError, r"shape \(1,\).*2 events"),
        ({"x": [0.5, 1.5], "t": [0, 1]}, [1.0, -2.0], {}, EventsError, "1 of 2 weights are negative"),
        ({"x": [0.5, 1.5], "t": [0, 1]}, [1.0, np.nan], {}, EventsError, "NaN or infinite"),
        ({"x": [0.5, 7.0], "t": [0, 1]}, None, {"strict": True}, BinningError, "1 of 2 events fall outside"),
    ],
)
def test_bad_input_raises_clear_errors(events, weights, kwargs, error, match):
    binning = RectilinearBinning([VariableAxis("x", (0.0, 1.0, 2.0)), CategoryAxis("t", (0, 1))])
    with pytest.raises(error, match=match):
        binning.fill(events, weights, **kwargs)


def test_negative_weights_when_allowed():
    binning = RectilinearBinning([RegularAxis("x", 0.0, 1.0, 2)])
    histogram = binning.fill({"x": [0.1, 0.2, 0.7]}, [1.0, -3.0, 2.0], allow_negative_weights=True)
    np.testing.assert_array_equal(histogram.sumw, [-2.0, 2.0])
    np.testing.assert_array_equal(histogram.sumw2, [10.0, 4.0])


def test_repeated_variables_are_rejected():
    with pytest.raises(BinningError, match=r"\['x'\]"):
        RectilinearBinning([RegularAxis("x", 0.0, 1.0, 2), RegularAxis("x", 0.0, 1.0, 3)])


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.floats(-3, 3), st.integers(-1, 3), st.floats(0, 10)), min_size=1, max_size=200
    )
)
def test_totals_are_conserved_and_bins_contain_their_events(data):
    binning = RectilinearBinning([RegularAxis("x", -2.0, 2.0, 7), CategoryAxis("t", (0, 1, 2))])
    x, t, w = (np.array(column, dtype=float) for column in zip(*data))
    histogram = binning.fill({"x": x, "t": t}, w)
    index = binning.bin_index({"x": x, "t": t})
    inside = index >= 0
    assert histogram.entries.sum() + histogram.n_outside == len(x)
    np.testing.assert_allclose(histogram.sumw.sum(), w[inside].sum(), rtol=1e-12, atol=1e-12)
    x_bin, t_bin = np.unravel_index(index[inside], binning.shape)
    edges = binning.axes[0].edges
    assert np.all((edges[x_bin] <= x[inside]) & (x[inside] < edges[x_bin + 1]))
    np.testing.assert_array_equal(t_bin, t[inside])
    outside_x = (x < -2.0) | (x >= 2.0)
    np.testing.assert_array_equal(~inside, outside_x | (t < 0) | (t > 2))


def test_to_hist_and_plot(tmp_path):
    binning = hese_binning()
    histogram = binning.fill(hese_like_events(2000), 0.5)
    converted = histogram.to_hist()
    np.testing.assert_array_equal(converted.values(), histogram.view())
    np.testing.assert_array_equal(converted.variances(), histogram.sumw2.reshape(binning.shape))
    assert [axis.name for axis in converted.axes] == ["topology", "zenith", "energy"]
    ax_1d = histogram.plot("energy")
    ax_2d = histogram.plot(["zenith", "energy"])
    ax_2d.figure.savefig(tmp_path / "projection.png")
    assert (tmp_path / "projection.png").stat().st_size > 0
    heights = ax_1d.patches[0].get_data().values
    np.testing.assert_allclose(heights, histogram.view().sum(axis=(0, 1)))


def test_histogram_yaml_round_trip_is_exact(tmp_path):
    histogram = hese_binning().fill(hese_like_events(500), np.random.default_rng(1).random(500) / 3)
    path = tmp_path / "histogram.yml"
    histogram.to_yaml(path)
    again = Histogram.from_yaml(path)
    assert again.binning == histogram.binning
    np.testing.assert_array_equal(again.sumw, histogram.sumw)
    np.testing.assert_array_equal(again.sumw2, histogram.sumw2)
    np.testing.assert_array_equal(again.entries, histogram.entries)
    assert again.n_outside == histogram.n_outside
    assert bayesfit.Binning.from_yaml(path) == histogram.binning


def test_binning_constructor_builds_the_cartesian_product():
    binning = Binning([CategoryAxis("topology", (0, 1)), CosAxis("zenith", 10), Log10Axis("energy", 6e4, 1e7, 20)])
    assert isinstance(binning, RectilinearBinning)
    assert binning == hese_binning()


def test_yaml_reads_exponent_floats_and_never_overwrites(tmp_path):
    text = "kind: rectilinear\naxes:\n- {variable: energy, log10: {start: 6.0e4, stop: 1e7, bins: 20}}\n"
    binning = Binning.from_yaml(text)
    np.testing.assert_array_equal(binning.axes[0].edges, np.logspace(np.log10(6.0e4), 7.0, 21))
    path = tmp_path / "binning.yml"
    binning.to_yaml(path)
    with pytest.raises(BayesfitError, match="exists already"):
        binning.to_yaml(path)
    binning.to_yaml(path, overwrite=True)
    assert Binning.from_yaml(path) == binning
