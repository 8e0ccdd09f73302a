"""The compressed reweighting path against per-event sums (numpy) and ReweightedMCPredictor."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from bayesfit.errors import PredictorError
from bayesfit.predictors.compressed import (
    CompressedReweightedMCPredictor,
    MomentTable,
    SliceChoice,
    choose_slices,
    error_bound,
)
from bayesfit.predictors.reweight import Component, ReweightedMCPredictor
from bayesfit.predictors.spectra import BrokenPowerLaw, LogParabola, PowerLaw

N_BINS = 60
PIVOT = 1e5


@pytest.fixture(scope="module")
def events():
    rng = np.random.default_rng(11)
    n_events = 30_000
    columns = {
        "energy": np.exp(rng.uniform(np.log(1e3), np.log(3e7), n_events)),
        "atmo": rng.exponential(1e-3, n_events),
        "astro": rng.exponential(1e-4, n_events) * (rng.uniform(size=n_events) > 0.05),
    }
    bin_index = np.where(rng.uniform(size=n_events) < 0.1, -1, rng.integers(0, N_BINS, n_events))
    return columns, bin_index


def numpy_sums(columns, bin_index, atmo_norm, astro_norm, index, curvature=0.0):
    """Per-event reference: expected counts and sum of squared weights per bin."""
    inside = bin_index >= 0
    log_ratio = np.log(columns["energy"][inside] / PIVOT)
    factor = np.exp(-(index - 2.5) * log_ratio - curvature * log_ratio**2)
    weight = atmo_norm * columns["atmo"][inside] + astro_norm * columns["astro"][inside] * factor
    index_inside = bin_index[inside]
    return (
        np.bincount(index_inside, weight, minlength=N_BINS),
        np.bincount(index_inside, weight**2, minlength=N_BINS),
    )


def compiled(predictor, counts):
    """One function: expected, sumw2, and the gradient of a Poisson log likelihood."""
    inputs = predictor.symbols()
    expected = predictor.expected(inputs)[0]
    logp = pt.sum(counts * pt.log(expected) - expected)
    variables = [inputs[name] for name in predictor.parameter_names]
    return pytensor.function(
        variables, [expected, predictor.expected_sumw2(inputs)[0], *pytensor.grad(logp, variables)]
    )


@pytest.mark.parametrize(
    ("spectrum", "curvatures"),
    [
        (PowerLaw("energy", index="gamma", pivot=PIVOT), [None]),
        (LogParabola("energy", index="gamma", curvature="beta", pivot=PIVOT), [-0.5, -0.1, 0.0, 0.2, 0.5]),
    ],
    ids=["power-law", "log-parabola"],
)
def test_compressed_equals_per_event_sums(events, spectrum, curvatures):
    columns, bin_index = events
    components = [
        Component("atmo", norm="atmo_norm"),
        Component("astro", norm="astro_norm", spectrum=spectrum),
    ]
    exact = ReweightedMCPredictor(columns, bin_index, N_BINS, components=components)
    compressed = CompressedReweightedMCPredictor(columns, bin_index, N_BINS, components=components)
    assert compressed.parameter("gamma").lower == 1.0 and compressed.parameter("gamma").upper == 4.5
    assert all(table.slices.bound <= 1e-12 for table in compressed.tables)
    counts = np.random.default_rng(2).poisson(numpy_sums(columns, bin_index, 1.0, 5.0, 2.5)[0]).astype(float)
    exact_function, compressed_function = compiled(exact, counts), compiled(compressed, counts)

    for index in np.linspace(1.0, 4.5, 8):
        for curvature in curvatures:
            point = [1.1, 6.0, index] + ([] if curvature is None else [curvature])
            expected, sumw2 = numpy_sums(columns, bin_index, *point)
            ours = compressed_function(*point)
            reference = exact_function(*point)
            np.testing.assert_allclose(ours[0], expected, rtol=1e-10, atol=0)
            np.testing.assert_allclose(ours[1], sumw2, rtol=1e-10, atol=0)
            for got, want in zip(ours[2:], reference[2:]):
                np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10 * np.abs(reference[2:]).max())


@pytest.mark.parametrize(("quadratic", "order"), [(0.0, 2), (0.0, 4), (0.3, 3), (0.3, 6)])
def test_error_bound_holds_and_is_not_loose(quadratic, order):
    """Events at the slice edges, where the truncation error is largest: low orders make the
    error large enough to measure; the bound must hold, for a power law within 100x of the
    worst case (with a curvature it bounds the slope over all slice centres and is looser)."""
    half_width = 0.5
    centres = np.array([-0.5, 0.5, 1.5])
    offsets = np.array([-half_width, half_width])
    log_values = (centres[:, None] + offsets[None, :]).ravel()
    slices = SliceChoice(width=2 * half_width, order=order, n_slices=3, bound=np.nan)
    table = MomentTable(np.zeros(log_values.size, dtype=np.int64), log_values, np.ones(log_values.size), 1, slices)
    linear = pt.dscalar("linear")
    function = pytensor.function(
        [linear], table.weighted_sum(linear, pt.as_tensor_variable(quadratic) if quadratic else None)[0]
    )
    worst = 0.0
    largest_slope = 0.0
    for d in np.linspace(-1.5, 2.0, 15):
        exact = np.exp(-d * log_values - quadratic * log_values**2).sum()
        worst = max(worst, abs(function(d) - exact) / exact)
        largest_slope = max(largest_slope, abs(d) + 2 * quadratic * np.abs(centres).max())
    bound = error_bound(order, half_width, largest_slope, quadratic)
    assert worst <= bound
    if quadratic == 0.0:
        assert bound < 100 * worst


def test_choose_slices_meets_tolerance_and_prefers_cheap():
    choice = choose_slices((-2.3, 4.6), linear=2.0, quadratic=0.0, tolerance=1e-12)
    assert choice.bound <= 1e-12
    assert error_bound(choice.order - 1, choice.width / 2, 2.0) <= 1e-12  # derivatives too
    assert choice.n_slices * (choice.order + 1) <= 14 * 13  # no worse than 0.5-wide slices
    tighter = choose_slices((-2.3, 4.6), linear=2.0, quadratic=0.0, tolerance=1e-14)
    assert tighter.n_slices * (tighter.order + 1) > choice.n_slices * (choice.order + 1)


def test_bad_inputs_raise_predictor_errors(events):
    columns, bin_index = events
    broken = Component("astro", spectrum=BrokenPowerLaw("energy", break_energy=1e5))
    with pytest.raises(PredictorError, match="cannot be compressed"):
        CompressedReweightedMCPredictor(columns, bin_index, N_BINS, components=[broken])
    power_law = Component("astro", norm="n", spectrum=PowerLaw("energy", index="gamma"))
    with pytest.raises(PredictorError, match="parameter_ranges names \\['gama'\\]"):
        CompressedReweightedMCPredictor(
            columns, bin_index, N_BINS, components=[power_law], parameter_ranges={"gama": (1, 3)}
        )
    with pytest.raises(PredictorError, match="default 2.5 of 'gamma' is outside"):
        CompressedReweightedMCPredictor(
            columns, bin_index, N_BINS, components=[power_law], parameter_ranges={"gamma": (3, 4)}
        )
    mixed = [power_law, Component("atmo", spectrum=PowerLaw("energy", index="g2", pivot=1e4))]
    with pytest.raises(PredictorError, match="share the energy variable and pivot"):
        CompressedReweightedMCPredictor(columns, bin_index, N_BINS, components=mixed)
    predictor = CompressedReweightedMCPredictor(
        columns, bin_index, N_BINS, components=[power_law], parameter_ranges={"gamma": (2.0, 3.0)}
    )
    with pytest.raises(PredictorError, match="'gamma' = 3.5 is outside its support"):
        predictor.evaluate(gamma=3.5)


def test_fit_objective_gradient_of_compressed_model(events):
    """-ln L and its gradient as fits see them (expected-count floor included) against numpy.

    Regression: a ``pt.switch`` form of the floor was miscompiled by PyTensor's fusion and gave a
    wrong gradient in the spectral index for the compressed predictor.
    """
    from scipy.special import gammaln

    from bayesfit.inference.objective import Objective
    from bayesfit.model import BinnedModel

    columns, bin_index = events
    components = [
        Component("atmo", norm="atmo_norm"),
        Component("astro", norm="astro_norm", spectrum=PowerLaw("energy", index="gamma", pivot=PIVOT)),
    ]
    compressed = CompressedReweightedMCPredictor(columns, bin_index, N_BINS, components=components)
    counts = np.random.default_rng(5).poisson(numpy_sums(columns, bin_index, 1.0, 5.0, 2.9)[0]).astype(float)
    objective = Objective(BinnedModel(compressed, counts))
    inside = bin_index >= 0
    log_ratio = np.log(columns["energy"][inside] / PIVOT)
    for atmo_norm, astro_norm, index in [(1.1, 6.0, 3.0), (0.9, 4.0, 2.6), (1.0, 5.0, 3.3)]:
        expected, _ = numpy_sums(columns, bin_index, atmo_norm, astro_norm, index)
        astro = columns["astro"][inside] * np.exp(-(index - 2.5) * log_ratio)
        derivatives = [  # d expected / d (atmo_norm, astro_norm, gamma) per bin
            np.bincount(bin_index[inside], columns["atmo"][inside], minlength=N_BINS),
            np.bincount(bin_index[inside], astro, minlength=N_BINS),
            np.bincount(bin_index[inside], -astro_norm * astro * log_ratio, minlength=N_BINS),
        ]
        nll = np.sum(expected - counts * np.log(expected) + gammaln(counts + 1))
        gradient = [np.sum((1 - counts / expected) * derivative) for derivative in derivatives]
        x = objective.pack({"atmo_norm": atmo_norm, "astro_norm": astro_norm, "gamma": index})
        value, ours = objective.value_and_grad(x, objective.data(counts))
        assert value == pytest.approx(nll, rel=1e-10)
        np.testing.assert_allclose(ours, gradient, rtol=1e-8, atol=1e-8 * np.abs(gradient).max())
