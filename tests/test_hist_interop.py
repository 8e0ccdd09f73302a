"""hist interoperability: hist-style axes, Histogram <-> hist.Hist, hist objects as inputs."""

from __future__ import annotations

import boost_histogram as bh
import hist
import numpy as np
import pytest

from bayesfit import BinnedModel, BinningError, TemplatePredictor
from bayesfit.binning import (
    Binning,
    CategoryAxis,
    CosAxis,
    Histogram,
    IntCategory,
    Log10Axis,
    ProductBinning,
    Regular,
    RegularAxis,
    Variable,
    VariableAxis,
    as_counts,
    axis_from_hist,
)
from bayesfit.binning.presets import hese_binning


def hese_events(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Events around the HESE binning, some below and above its energy range."""
    rng = np.random.default_rng(seed)
    return {
        "topology": rng.integers(0, 2, n),
        "zenith": np.arccos(rng.uniform(-1.0, 1.0, n)),
        "energy": 10.0 ** rng.uniform(4.5, 7.3, n),
    }


# -- a hist user's argument order -----------------------------------------------------------------


def test_hist_order_gives_the_same_axes():
    assert Regular(20, 6e4, 1e7, name="energy", transform=hist.axis.transform.log) == Log10Axis(
        "energy", 6e4, 1e7, 20
    )
    assert Regular(20, 6e4, 1e7, name="energy", transform="log10") == Log10Axis("energy", 6e4, 1e7, 20)
    assert Regular(10, 0.0, np.pi, name="zenith", transform="cos") == CosAxis("zenith", 10)
    assert Regular(4, -2.0, 2.0, name="x") == RegularAxis("x", -2.0, 2.0, 4)
    assert Variable([0.0, 1.0, 3.0], name="x") == VariableAxis("x", (0.0, 1.0, 3.0))
    assert IntCategory([1, 0], name="topology") == CategoryAxis("topology", (0, 1))
    part = Regular(5, 0.5, 2.0, name="zenith", transform="cos")
    np.testing.assert_allclose(part.edges[[0, -1]], [0.5, 2.0], rtol=1e-15)
    np.testing.assert_allclose(np.diff(np.cos(part.edges)), np.full(5, (np.cos(2.0) - np.cos(0.5)) / 5))


def test_hist_users_log_axis_bins_events_like_bayesfit():
    hist_axis = hist.axis.Regular(20, 6e4, 1e7, name="energy", transform=hist.axis.transform.log)
    axis = Regular(20, 6e4, 1e7, name="energy", transform=hist.axis.transform.log)
    np.testing.assert_allclose(axis.edges, hist_axis.edges, rtol=1e-14)
    energy = hese_events(20000)["energy"]
    index = np.asarray(hist_axis.index(energy))  # hist: -1 underflow, 20 overflow
    index[(index < 0) | (index >= 20)] = -1
    np.testing.assert_array_equal(axis.index(energy), index)


@pytest.mark.parametrize(
    ("call", "hint"),
    [
        (lambda: RegularAxis(20, 6e4, 1e7, 5), "Regular(bins, start, stop, name=variable)"),
        (lambda: Log10Axis(20, 6e4, 1e7, 5), 'transform="log"'),
        (lambda: VariableAxis([0.0, 1.0], "x"), "Variable(edges, name=variable)"),
        (lambda: CategoryAxis((0, 1), "topology"), "IntCategory(categories, name=variable)"),
        (lambda: Regular(10, 0.0, 4.0, name="zenith", transform="cos"), "0 <= start < stop <= pi"),
        (lambda: Regular(10, 1.0, 4.0, name="x", transform=hist.axis.transform.sqrt), "Variable"),
        (lambda: Regular(10, 1.0, 4.0, name="x", transform="ln"), "'log', 'log10' or 'cos'"),
    ],
)
def test_mixed_up_argument_orders_name_the_right_call(call, hint):
    with pytest.raises(BinningError) as error:
        call()
    assert hint in str(error.value)


def test_labels_units_and_category_labels_round_trip_through_yaml():
    binning = Binning([
        IntCategory([1, 0], name="topology", category_labels=["track", "cascade"], label="Topology"),
        Regular(10, 0.0, np.pi, name="zenith", transform="cos", unit="rad"),
        Regular(20, 6e4, 1e7, name="energy", transform="log", label="Deposited energy", unit="GeV"),
        Variable([-np.inf, 0.0, 1.0], name="x", right_closed=True, unit="m"),
    ])
    topology = binning.axes[0]
    assert topology.category_labels == ("cascade", "track")
    assert topology.labels == ["topology = cascade", "topology = track"]
    again = Binning.from_yaml(binning.to_yaml())
    assert again == binning
    assert [(axis.label, axis.unit) for axis in again.axes] == [
        ("Topology", ""), ("", "rad"), ("Deposited energy", "GeV"), ("", "m")
    ]


# -- Histogram <-> hist.Hist ----------------------------------------------------------------------


def assert_same_histogram(first: Histogram, second: Histogram) -> None:
    assert first.binning == second.binning
    np.testing.assert_array_equal(first.sumw, second.sumw)
    np.testing.assert_array_equal(first.sumw2, second.sumw2)


def test_round_trip_3d_weighted():
    events = hese_events(3000)
    histogram = hese_binning().fill(events, np.random.default_rng(2).gamma(2.0, size=3000))
    converted = histogram.to_hist()
    assert converted.storage_type is bh.storage.Weight
    assert [axis.name for axis in converted.axes] == ["topology", "zenith", "energy"]
    assert converted.axes[2].transform == bh.axis.transform.log
    np.testing.assert_array_equal(converted.values(), histogram.view())
    np.testing.assert_array_equal(converted.variances().ravel(), histogram.sumw2)
    again = Histogram.from_hist(converted)
    assert_same_histogram(again, histogram)
    assert again.n_outside == 0  # hist has no place for it


@pytest.mark.parametrize("storage", ["int64", "double"])
def test_round_trip_1d_counts_keeps_entries(storage):
    binning = Binning([Variable([-np.inf, -1.0, 0.0, 2.5, np.inf], name="x")])
    histogram = binning.fill({"x": np.random.default_rng(3).normal(size=500)})
    converted = histogram.to_hist(storage)
    assert converted.storage_type is {"int64": bh.storage.Int64, "double": bh.storage.Double}[storage]
    again = Histogram.from_hist(converted)
    assert_same_histogram(again, histogram)
    np.testing.assert_array_equal(again.entries, histogram.entries)


def test_count_storage_refuses_weighted_histograms():
    histogram = Binning([RegularAxis("x", 0.0, 1.0, 4)]).fill({"x": [0.1, 0.6]}, [0.5, 2.0])
    with pytest.raises(BinningError, match="storage='weight'"):
        histogram.to_hist("int64")


def test_round_trip_keeps_closed_bins_cos_axes_and_category_labels():
    binning = Binning([
        IntCategory([0, 1, 2], name="kind", category_labels=["a", "b", "c"]),
        CosAxis("zenith", 4, -0.5, 1.0, include_upper=True),
        VariableAxis("y", (0.0, 1.0, 2.0), right_closed=True, label="y [m]"),
    ])
    histogram = Histogram(binning, np.arange(24.0), np.arange(24.0) * 2, np.arange(24))
    assert_same_histogram(Histogram.from_hist(histogram.to_hist()), histogram)


def test_product_binning_exports_all_axes_in_flat_order():
    binning = ProductBinning([Binning([RegularAxis("x", 0.0, 1.0, 3)]), Binning([IntCategory([0, 1], name="t")])])
    histogram = Histogram(binning, np.arange(6.0), np.ones(6), np.ones(6, dtype=np.int64))
    again = Histogram.from_hist(histogram.to_hist())
    assert again.binning.variables == ("x", "t")
    np.testing.assert_array_equal(again.sumw, histogram.sumw)


def test_hist_built_histogram_converts_without_metadata():
    h = hist.Hist(
        hist.axis.StrCategory(["cascade", "track"], name="topology"),
        hist.axis.Regular(5, 1.0, 100.0, name="energy", label="E", transform=hist.axis.transform.log),
        hist.axis.Integer(0, 3, name="n", underflow=False, overflow=False),
    )
    h.view(flow=False)[...] = np.arange(30).reshape(2, 5, 3)
    converted = Histogram.from_hist(h)
    topology, energy, n = converted.binning.axes
    assert topology == CategoryAxis("topology", (0, 1), category_labels=("cascade", "track"))
    assert energy == Log10Axis("energy", 1.0, 100.0, 5, label="E")
    assert n == VariableAxis("n", (0.0, 1.0, 2.0, 3.0))
    np.testing.assert_array_equal(converted.sumw, np.arange(30.0))
    np.testing.assert_array_equal(converted.entries, np.arange(30))


def test_boost_histogram_objects_convert_too():
    h = bh.Histogram(bh.axis.Regular(4, 0.0, 1.0, metadata="x"), storage=bh.storage.Weight())
    h.fill([0.1, 0.3, 0.3, 0.9], weight=[1.0, 2.0, 2.0, 0.5])
    converted = Histogram.from_hist(h)
    assert converted.binning == Binning([RegularAxis("x", 0.0, 1.0, 4)])
    np.testing.assert_array_equal(converted.sumw, [1.0, 4.0, 0.0, 0.5])
    np.testing.assert_array_equal(converted.sumw2, [1.0, 8.0, 0.0, 0.25])
    np.testing.assert_array_equal(converted.entries, [1, 2, 0, 1])


def test_flow_bins_are_refused_dropped_or_counted_outside():
    h = hist.Hist(hist.axis.Regular(3, 0.0, 3.0, name="x"), hist.axis.IntCategory([0, 1], name="t"))
    h.fill(x=[0.5, 1.5, 5.0, -1.0, 2.5], t=[0, 1, 1, 0, 7])
    with pytest.raises(BinningError, match="axis 'x' has non-empty flow bins"):
        Histogram.from_hist(h)
    dropped = Histogram.from_hist(h, flow="ignore")
    np.testing.assert_array_equal(dropped.sumw, [1.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    assert dropped.n_outside == 0
    assert Histogram.from_hist(h, flow="outside").n_outside == 3
    with pytest.raises(BinningError, match="flow must be"):
        Histogram.from_hist(h, flow="keep")


def test_unsupported_hist_objects_are_refused():
    with pytest.raises(BinningError, match="needs a name"):
        Histogram.from_hist(hist.Hist(hist.axis.Regular(3, 0.0, 1.0)))
    with pytest.raises(BinningError, match="circular"):
        axis_from_hist(hist.axis.Regular(3, 0.0, 1.0, name="phi", circular=True))
    with pytest.raises(BinningError, match="means"):
        Histogram.from_hist(hist.Hist(hist.axis.Regular(3, 0.0, 1.0, name="x"), storage=hist.storage.Mean()))


def test_filling_with_hist_and_bayesfit_agrees():
    """Independent computations: hist's own fill of hist's own axes against bayesfit's fill."""
    events = hese_events(5000, seed=4)
    weights = np.random.default_rng(5).exponential(size=5000)
    h = hist.Hist(
        hist.axis.IntCategory([0, 1], name="topology"),
        hist.axis.Variable(np.arccos(np.linspace(-1.0, 1.0, 11))[::-1], name="zenith"),
        hist.axis.Regular(20, 6e4, 1e7, name="energy", transform=hist.axis.transform.log),
        storage=hist.storage.Weight(),
    )
    h.fill(**events, weight=weights)
    binning = Binning([
        IntCategory([0, 1], name="topology"),
        Regular(10, 0.0, np.pi, name="zenith", transform="cos"),
        Regular(20, 6e4, 1e7, name="energy", transform="log"),
    ])
    filled = binning.fill(events, weights)
    from_hist = Histogram.from_hist(h, flow="ignore")
    np.testing.assert_allclose(from_hist.sumw, filled.sumw, rtol=1e-12)
    np.testing.assert_allclose(from_hist.sumw2, filled.sumw2, rtol=1e-12)
    np.testing.assert_allclose(as_counts(h, binning=binning, flow="ignore"), filled.sumw, rtol=1e-12)
    assert filled.n_outside == int(np.sum((events["energy"] < 6e4) | (events["energy"] >= 1e7)))


# -- hist objects as inputs -----------------------------------------------------------------------


def test_as_counts_checks_the_binning():
    binning = hese_binning()
    histogram = binning.fill(hese_events(500))
    other = Binning([
        IntCategory([0, 1], name="topology"),
        CosAxis("zenith", 10),
        Log10Axis("energy", 6e4, 1e7, 21),
    ])
    with pytest.raises(BinningError, match="axis 'energy' of the histogram has edges"):
        as_counts(Histogram(other, np.zeros(420), np.zeros(420), np.zeros(420, dtype=np.int64)), binning=binning)
    swapped = hist.Hist(*(binning.axes[i].to_hist() for i in (0, 2, 1)))
    with pytest.raises(BinningError, match=r"axes \['topology', 'energy', 'zenith'\]"):
        as_counts(swapped, binning=binning)
    with pytest.raises(BinningError, match="do not end in the binning's 400 bins"):
        as_counts(np.zeros(399), binning=binning)
    np.testing.assert_array_equal(as_counts(histogram.to_hist(), binning=binning), histogram.sumw)
    np.testing.assert_array_equal(as_counts([histogram, histogram.to_hist()]), [histogram.sumw] * 2)


def test_hist_inputs_give_the_same_model_as_arrays():
    binning = Binning([Regular(6, 1.0, 1e3, name="energy", transform="log")])
    rng = np.random.default_rng(6)
    signal = binning.fill({"energy": 10 ** rng.uniform(0.0, 3.0, 400)}, 0.05)
    background = binning.fill({"energy": 10 ** rng.uniform(0.0, 1.5, 400)}, 0.1)
    data = binning.fill({"energy": 10 ** rng.uniform(0.0, 2.0, 60)}).to_hist("int64")
    priors = {"weights": {"HalfNormal": {"sigma": 2.0}}}
    arrays = BinnedModel(TemplatePredictor(np.stack([signal.sumw, background.sumw])), data.values(), priors=priors)
    hists = BinnedModel(TemplatePredictor([signal.to_hist(), background.to_hist()]), data, priors=priors)
    bayesfit_histograms = BinnedModel(
        TemplatePredictor([signal, background]), Histogram.from_hist(data), priors=priors
    )
    np.testing.assert_array_equal(hists.observed, arrays.observed)
    np.testing.assert_array_equal(hists.predictor.templates, arrays.predictor.templates)
    logps = [
        model.pymc_model.compile_logp(jacobian=False)(model.pymc_model.initial_point())
        for model in (arrays, hists, bayesfit_histograms)
    ]
    assert logps[1] == logps[0] and logps[2] == logps[0]
