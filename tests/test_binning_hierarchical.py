"""Hierarchical and product binnings, ReMU's YAML, and exact YAML round trips."""

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
    HierarchicalBinning,
    Log10Axis,
    ProductBinning,
    RectilinearBinning,
    RegularAxis,
    VariableAxis,
)
from bayesfit.errors import BinningError

REMU = REFERENCE / "remu-examples"
needs_remu = pytest.mark.skipif(not REMU.is_dir(), reason="ReMU reference data absent")


@needs_remu
@pytest.mark.parametrize(
    ("name", "size", "kind"),
    [
        ("05/truth-binning.yml", 169, HierarchicalBinning),
        ("01/optimised-truth-binning.yml", 120, RectilinearBinning),
        ("01/reco-binning.yml", 8, RectilinearBinning),
        ("06/flux-binning.yml", 9, RectilinearBinning),
    ],
)
def test_remu_binnings_have_the_reference_sizes(name, size, kind):
    binning = bayesfit.Binning.from_yaml(REMU / name)
    assert isinstance(binning, kind) and binning.size == size
    assert Binning.from_yaml(binning.to_yaml()) == binning


@needs_remu
def test_remu_reco_counts_of_real_data():
    binning = Binning.from_yaml(REMU / "01/reco-binning.yml")
    histogram = binning.fill(REMU / "05/real_data.txt", strict=True)
    np.testing.assert_array_equal(histogram.entries, [27, 50, 105, 156, 194, 138, 81, 43])


@needs_remu
def test_remu_truth_entries_of_the_response_matrices():
    signal = [bayesfit.load_events(REMU / f"00/model{model}_truth.txt") for model in "AB"]
    truth_binning = Binning.from_yaml(REMU / "01/optimised-truth-binning.yml")
    entries = sum(truth_binning.fill(events).entries for events in signal)
    np.testing.assert_array_equal(entries, np.load(REMU / "01/response_matrix.npz")["truth_entries"])

    # example 05: event_type -1 noise (no true_x/true_y), 0 background, 1 signal
    noise = bayesfit.load_events(REMU / "05/noise_truth.txt")
    background = bayesfit.load_events(REMU / "05/bg_truth.txt")
    event_type = np.concatenate(
        [np.full(noise.n_events, -1.0), np.zeros(background.n_events), np.ones(sum(e.n_events for e in signal))]
    )
    events = {"event_type": event_type}
    for name in ("true_x", "true_y"):
        events[name] = np.concatenate([np.full(noise.n_events, np.nan), background[name], *(e[name] for e in signal)])
    hierarchical = Binning.from_yaml(REMU / "05/truth-binning.yml")
    histogram = hierarchical.fill(events, strict=True)
    np.testing.assert_array_equal(histogram.entries, np.load(REMU / "05/response_matrix.npz")["truth_entries"])
    np.testing.assert_array_equal(
        histogram.marginalize_subbinnings().entries, [noise.n_events, background.n_events, 19680]
    )
    np.testing.assert_array_equal(histogram.subhistogram(2).entries, entries)


def small_hierarchy() -> HierarchicalBinning:
    top = RectilinearBinning([CategoryAxis("kind", (0, 1, 2))])
    return HierarchicalBinning(
        top,
        {
            1: RectilinearBinning([RegularAxis("x", 0.0, 2.0, 2), RegularAxis("y", 0.0, 3.0, 3)]),
            2: RectilinearBinning([VariableAxis("x", (0.0, 1.0, 5.0))]),
        },
    )


def test_hierarchical_hand_counts_marginalise_and_insert():
    binning = small_hierarchy()
    assert binning.size == 1 + 6 + 2
    events = {
        "kind": [0, 1, 1, 2, 2, 1, 3],
        "x": [np.nan, 0.5, 1.5, 0.5, 4.0, 9.0, 0.0],
        "y": [np.nan, 2.5, 0.5, np.nan, np.nan, 1.0, 0.0],
    }
    # flat: 0 = kind 0; 1..6 = kind 1 (x bin * 3 + y bin); 7..8 = kind 2
    np.testing.assert_array_equal(binning.bin_index(events), [0, 3, 4, 7, 8, -1, -1])
    histogram = binning.fill(events)
    assert histogram.n_outside == 2
    marginal = histogram.marginalize_subbinnings([1])
    np.testing.assert_array_equal(marginal.entries, [1, 2, 1, 1])
    np.testing.assert_array_equal(histogram.project("kind").entries, [1, 2, 2])
    values = np.arange(2 * 9, dtype=float).reshape(2, 9)
    np.testing.assert_array_equal(
        binning.marginalization([1]).apply(values),
        np.column_stack([values[:, 0], values[:, 1:7].sum(axis=1), values[:, 7], values[:, 8]]),
    )
    collapsed = binning.marginalize_subbinnings()
    assert collapsed == binning.top
    flux = RectilinearBinning([RegularAxis("energy", 0.0, 10.0, 5)])
    inserted = collapsed.insert_subbinning(1, ProductBinning([binning.subbinnings[1], flux]))
    assert inserted.size == 1 + 6 * 5 + 1
    with pytest.raises(BinningError, match="already has a sub-binning"):
        binning.insert_subbinning(1, flux)


def test_remu_example_06_parameter_binning_structure():
    truth = small_hierarchy()
    flux = RectilinearBinning([VariableAxis("E", (0.0, 2.0, 4.0, 8.0, np.inf))])
    parameters = truth.marginalize_subbinnings()
    for top_bin in (1, 2):
        parameters = parameters.insert_subbinning(top_bin, ProductBinning([truth.subbinnings[top_bin], flux]))
    assert parameters.size == 1 + 6 * 4 + 2 * 4
    assert parameters.data_slice(2) == slice(25, 33)


def test_product_binning_index_and_projections():
    truth = RectilinearBinning([RegularAxis("x", 0.0, 2.0, 2), RegularAxis("y", 0.0, 3.0, 3)])
    flux = RectilinearBinning([RegularAxis("E", 0.0, 4.0, 4)])
    product = ProductBinning([truth, flux])
    assert product.size == 24 and product.variables == ("x", "y", "E")
    rng = np.random.default_rng(7)
    events = {"x": rng.uniform(0, 2, 300), "y": rng.uniform(0, 3, 300), "E": rng.uniform(0, 4, 300)}
    np.testing.assert_array_equal(
        product.bin_index(events), truth.bin_index(events) * 4 + flux.bin_index(events)
    )
    histogram = product.fill(events)
    reference, _ = np.histogramdd(
        np.column_stack([events["x"], events["y"], events["E"]]), bins=[[0, 1, 2], [0, 1, 2, 3], [0, 1, 2, 3, 4]]
    )
    np.testing.assert_array_equal(histogram.entries, reference.ravel())
    assert histogram.project(["E"]).binning == flux
    np.testing.assert_array_equal(histogram.project(["E"]).entries, reference.sum(axis=(0, 1)))
    np.testing.assert_array_equal(histogram.project(["y", "E"]).entries, reference.sum(axis=0).ravel())
    np.testing.assert_array_equal(histogram.to_hist().values(), reference)
    per_universe = rng.random((5, 24))  # arrays with leading dims project like histograms
    np.testing.assert_allclose(
        product.projection(["y", "E"]).apply(per_universe),
        per_universe.reshape(5, 2, 3, 4).sum(axis=1).reshape(5, 12),
        rtol=1e-14,
    )
    with pytest.raises(BinningError, match="must not share variables"):
        ProductBinning([truth, truth])


@needs_remu
def test_remu_cartesian_product_tag_and_unknown_tags():
    text = (
        "!CartesianProductBinning\n"
        "binnings:\n"
        "- !LinearBinning {variable: x, bin_edges: [0.0, 1.0, 2.0], include_upper: true}\n"
        "- !LinearBinning {variable: E, bin_edges: [0.0, 5.0, .inf]}\n"
        "phasespace: !PhaseSpace [x, E]\n"
    )
    binning = Binning.from_yaml(text)
    assert isinstance(binning, ProductBinning) and binning.size == 4
    # ReMU's include_upper: every bin is (low, high]
    np.testing.assert_array_equal(binning.bin_index({"x": [1.0, 0.0, 2.0], "E": [0.0, 1.0, 6.0]}), [0, -1, 3])
    with pytest.raises(BinningError, match=r"unknown YAML tag '!RectangularBinning' at line 3"):
        Binning.from_yaml("!LinearBinning\nvariable: x\nbin_edges: !RectangularBinning [1, 2]\n")
    with pytest.raises(BinningError, match="not all in its phase space"):
        Binning.from_yaml("!LinearBinning {variable: x, bin_edges: [0, 1], phasespace: !PhaseSpace [y]}")


axes_strategy = st.sampled_from(["regular", "log10", "cos", "edges", "categories"])


@settings(max_examples=40, deadline=None)
@given(
    kinds=st.lists(axes_strategy, min_size=1, max_size=3),
    low=st.floats(1e-300, 1e300),
    bins=st.integers(1, 6),
    fraction=st.floats(1e-6, 0.999),
)
def test_yaml_text_round_trip_of_every_kind_is_exact(kinds, low, bins, fraction):
    def make(kind: str, name: str):
        if kind == "regular":
            return RegularAxis(name, -low, low, bins, include_upper=bins % 2 == 0)
        if kind == "log10":
            return Log10Axis(name, low * fraction, low, bins)
        if kind == "cos":
            return CosAxis(name, bins, cos_min=-fraction, cos_max=fraction)
        if kind == "edges":
            return VariableAxis(name, (-np.inf, *np.linspace(-low, low, bins + 1), np.inf))
        return CategoryAxis(name, tuple(range(-1, bins)))

    plain = RectilinearBinning([make(kind, f"v{i}") for i, kind in enumerate(kinds)])
    other = RectilinearBinning([make(kinds[0], "w")])
    binnings = [
        plain,
        HierarchicalBinning(RectilinearBinning([CategoryAxis("c", (0, 1))]), {1: plain}),
        ProductBinning([plain, other]),
    ]
    for binning in binnings:
        again = Binning.from_yaml(binning.to_yaml())
        assert again == binning and type(again) is type(binning)
        for axis, axis_again in zip(_axes(binning), _axes(again)):
            np.testing.assert_array_equal(axis.edges, axis_again.edges)


def _axes(binning: Binning) -> list:
    if isinstance(binning, RectilinearBinning):
        return list(binning.axes)
    if isinstance(binning, HierarchicalBinning):
        return _axes(binning.top) + [a for sub in binning.subbinnings.values() for a in _axes(sub)]
    return [axis for factor in binning.binnings for axis in _axes(factor)]
