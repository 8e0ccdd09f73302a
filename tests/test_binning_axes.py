"""Axes: edges, bin lookup against hand counts and numpy, bad input, YAML descriptions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesfit.binning import CategoryAxis, CosAxis, Log10Axis, RegularAxis, VariableAxis, axis_from_dict
from bayesfit.errors import BinningError


def test_seed_edges_are_reproduced_exactly():
    energy = Log10Axis("energy", 60.0e3, 1.0e7, 20)
    zenith = CosAxis("zenith", 10)
    np.testing.assert_array_equal(energy.edges, np.logspace(np.log10(60.0e3), np.log10(1.0e7), 20 + 1))
    np.testing.assert_array_equal(zenith.edges, np.arccos(np.linspace(-1, 1, 10 + 1))[::-1])
    np.testing.assert_array_equal(RegularAxis("x", 0.0, 2.0, 4).edges, [0.0, 0.5, 1.0, 1.5, 2.0])


def test_hand_counted_half_open_bins():
    axis = VariableAxis("x", (0.0, 1.0, 2.0, 4.0))
    values = np.array([-0.1, 0.0, 0.5, 1.0, 3.999, 4.0, np.inf, -np.inf, np.nan])
    np.testing.assert_array_equal(axis.index(values), [-1, 0, 0, 1, 2, -1, -1, -1, -1])
    closed = VariableAxis("x", (0.0, 1.0, 2.0, 4.0), include_upper=True)
    np.testing.assert_array_equal(closed.index(np.array([4.0, 1.0, 4.0000001])), [2, 1, -1])
    right = VariableAxis("x", (0.0, 1.0, 2.0), right_closed=True)
    np.testing.assert_array_equal(right.index(np.array([0.0, 0.5, 1.0, 2.0, 2.1])), [-1, 0, 0, 1, -1])


def test_infinite_edges_catch_everything_finite():
    axis = VariableAxis("x", (-np.inf, 0.0, np.inf))
    np.testing.assert_array_equal(axis.index(np.array([-1e300, 0.0, 1e300])), [0, 1, 1])


def test_categories_accept_integral_floats_only():
    axis = CategoryAxis("topology", (1.0, 0))
    assert axis.categories == (0, 1)
    np.testing.assert_array_equal(axis.index(np.array([0.0, 1.0, 0.5, 2.0, -1.0, np.nan])), [0, 1, -1, -1, -1, -1])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: VariableAxis("energy", (1.0, 3.0, 2.0)), r"'energy'.*not strictly increasing.*edge 2"),
        (lambda: VariableAxis("energy", (1.0, 1.0)), "not strictly increasing"),
        (lambda: VariableAxis("energy", (1.0, np.nan)), "NaN"),
        (lambda: VariableAxis("energy", (1.0,)), "at least 2 edges"),
        (lambda: Log10Axis("energy", 0.0, 10.0, 3), "start > 0"),
        (lambda: RegularAxis("x", 1.0, 0.0, 3), "start < stop"),
        (lambda: RegularAxis("x", 0.0, 1.0, 0), "positive integer"),
        (lambda: CosAxis("zenith", 5, cos_min=-2.0), "cos_min"),
        (lambda: CategoryAxis("topology", (0, 0.5)), "integers"),
        (lambda: CategoryAxis("topology", (0, 0)), "repeat"),
        (lambda: axis_from_dict({"variable": "x", "edges": [0, 1], "log10": {}}), "exactly one of"),
    ],
)
def test_bad_axes_raise_binning_error(make, match):
    with pytest.raises(BinningError, match=match):
        make()


edge_lists = st.lists(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=2, max_size=12, unique=True
).map(sorted)
values_strategy = st.lists(st.floats(-2e6, 2e6, allow_nan=False), min_size=1, max_size=50)


@settings(max_examples=150, deadline=None)
@given(edges=edge_lists, values=values_strategy, include_upper=st.booleans())
def test_every_value_lands_in_the_bin_whose_edges_contain_it(edges, values, include_upper):
    axis = VariableAxis("x", tuple(edges), include_upper=include_upper)
    values = np.array(values)
    index = axis.index(values)
    for value, bin_index in zip(values, index):  # independent per-value check, test only
        inside = [
            low <= value < high or (include_upper and i == len(edges) - 2 and value == high)
            for i, (low, high) in enumerate(zip(edges[:-1], edges[1:]))
        ]
        assert bin_index == (inside.index(True) if any(inside) else -1)


@settings(max_examples=60, deadline=None)
@given(
    bins=st.integers(1, 30),
    cos_values=st.lists(st.floats(-1.0, 1.0), min_size=1, max_size=40),
)
def test_cos_axis_compares_radians_with_radian_edges(bins, cos_values):
    axis = CosAxis("zenith", bins)
    angles = np.arccos(np.array(cos_values))
    angles = np.concatenate([angles, axis.edges])  # the edges themselves are the hard cases
    index = axis.index(angles)
    edges = axis.edges
    inside = index >= 0
    assert np.all(edges[index[inside]] <= angles[inside])
    assert np.all(angles[inside] < edges[index[inside] + 1])
    assert np.all(angles[~inside] == edges[-1])  # only exactly pi is outside a half-open axis


@settings(max_examples=100, deadline=None)
@given(
    start=st.floats(1e-3, 1e6),
    ratio=st.floats(1.001, 1e4),
    bins=st.integers(1, 40),
    include_upper=st.booleans(),
)
def test_axis_yaml_description_round_trips_exactly(start, ratio, bins, include_upper):
    axes = [
        Log10Axis("energy", start, start * ratio, bins, include_upper=include_upper),
        RegularAxis("x", -start, start * ratio, bins),
        CosAxis("zenith", bins, cos_min=-1.0, cos_max=1.0 / ratio),
        VariableAxis("y", tuple(np.linspace(-start, start * ratio, bins + 1)), include_upper=include_upper),
        CategoryAxis("type", tuple(range(bins))),
    ]
    for axis in axes:
        again = axis_from_dict(axis.to_dict())
        assert again == axis
        np.testing.assert_array_equal(again.edges, axis.edges)
