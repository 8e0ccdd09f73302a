"""Reweighted-MC predictor and spectra against independent numpy computations.

The HESE check re-implements the seed notebook (``weight_event`` + ``np.digitize`` bin masks +
Poisson ``llh``) in plain numpy on the synthetic-small reference simulation.
"""

from __future__ import annotations

import json

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import special

from reference_data import REFERENCE
from bayesfit.errors import EventsError, PredictorError
from bayesfit.predictors.base import Parameter
from bayesfit.predictors.reweight import Component, ReweightedMCPredictor
from bayesfit.predictors.spectra import (
    BrokenPowerLaw,
    CustomSpectrum,
    LogParabola,
    Normalisation,
    PowerLaw,
)

HESE = REFERENCE / "hese" / "synthetic-small"
needs_hese = pytest.mark.skipif(not HESE.is_dir(), reason="HESE reference data not available")

HESE_POINTS = [(1.0, 1.0, 2.5), (1.0, 6.0, 2.9), (0.3, 12.0, 2.1), (2.0, 0.5, 3.4)]


# ---------------------------------------------------------------------- the seed, in numpy
ENERGY_BINS = np.logspace(np.log10(60.0e3), np.log10(1.0e7), 20 + 1)
ZENITH_BINS = np.arccos(np.linspace(-1, 1, 10 + 1))[::-1]
TOPOLOGY_BINS = np.linspace(0, 2, 2 + 1)


def seed_bin_masks(energies, zeniths, topologies):
    energy_mapping = np.digitize(energies, bins=ENERGY_BINS) - 1
    zenith_mapping = np.digitize(zeniths, bins=ZENITH_BINS) - 1
    topology_mapping = np.digitize(topologies, bins=TOPOLOGY_BINS) - 1
    masks = []
    for i in range(len(TOPOLOGY_BINS) - 1):
        for j in range(len(ZENITH_BINS) - 1):
            for k in range(len(ENERGY_BINS) - 1):
                masks.append(
                    (topology_mapping == i) & (zenith_mapping == j) & (energy_mapping == k)
                )
    return np.array(masks)


def seed_weight_event(columns, atmo_norm, astro_norm, astro_gamma):
    return columns["atmoWeight"] * atmo_norm + columns["astroWeight"] * astro_norm * pow(
        columns["primaryEnergy"] / 1e5, -(astro_gamma - 2.5)
    )


def seed_expectation(columns, masks, point):
    weights = seed_weight_event(columns, *point)
    return np.array([np.sum(weights[mask]) for mask in masks])


def seed_llh(data, columns, masks, point):
    expect = seed_expectation(columns, masks, point)
    with np.errstate(divide="ignore", invalid="ignore"):
        llh = -(data * np.log(expect) - expect - special.loggamma(data + 1))
    llh[(data == 0) & (expect == 0)] = 0
    return np.sum(llh).real


def load_seed_json(path):
    content = json.loads(path.read_text())
    table = np.asarray(content["events"], dtype=float)
    return {name: table[:, column] for name, column in content["mapping"].items()}


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def hese():
    simulation = load_seed_json(HESE / "hese_toy_simulation.json")
    data_events = load_seed_json(HESE / "hese_toy_data.json")
    masks = seed_bin_masks(simulation["energy"], simulation["zenith"], simulation["topology"])
    data = seed_bin_masks(data_events["energy"], data_events["zenith"], data_events["topology"])
    # flat bin index per event for bayesfit, from the masks (at most one mask per event)
    bin_index = np.full(masks.shape[1], -1)
    in_bin, event = np.nonzero(masks)
    bin_index[event] = in_bin
    predictor = ReweightedMCPredictor(
        simulation,
        bin_index,
        400,
        components=[
            Component("atmoWeight", norm="atmo_norm"),
            Component(
                "astroWeight",
                norm="astro_norm",
                spectrum=PowerLaw("primaryEnergy", index="astro_gamma", pivot=1e5, generated_index=2.5),
            ),
        ],
        name="hese",
    )
    return simulation, masks, data.sum(axis=1).astype(float), predictor


def poisson_logp_and_grad(predictor, data, bins=slice(None)):
    """Compiled (logp, dlogp/dtheta) of a Poisson likelihood of the predictor on ``data[bins]``."""
    inputs = predictor.symbols()
    expected = predictor.expected(inputs)[0][bins]
    data = data[bins]
    logp = pt.sum(data * pt.log(expected) - expected - special.gammaln(data + 1))
    names = predictor.parameter_names
    gradient = pytensor.grad(logp, [inputs[n] for n in names])
    return pytensor.function([inputs[n] for n in names], [logp, *gradient])


def central_differences(function, point, step=1e-6):
    point = np.asarray(point, dtype=float)
    gradient = np.empty_like(point)
    for i in range(point.size):
        shift = np.zeros_like(point)
        shift[i] = step * max(1.0, abs(point[i]))
        gradient[i] = (function(point + shift) - function(point - shift)) / (2 * shift[i])
    return gradient


# ---------------------------------------------------------------------- HESE
@needs_hese
def test_hese_expectation_matches_seed(hese):
    simulation, masks, _, predictor = hese
    assert predictor.parameter_names == ("atmo_norm", "astro_norm", "astro_gamma")
    assert predictor.n_events == int(masks.sum())
    for point in HESE_POINTS:
        expected = predictor.evaluate(dict(zip(predictor.parameter_names, point)))
        reference = seed_expectation(simulation, masks, point)
        assert expected.shape == (1, 400)
        np.testing.assert_allclose(expected[0], reference, rtol=1e-12, atol=0)


@needs_hese
def test_hese_sumw2_matches_numpy(hese):
    simulation, masks, _, predictor = hese
    for point in HESE_POINTS[1:3]:
        weights = seed_weight_event(simulation, *point)
        reference = np.array([np.sum(weights[mask] ** 2) for mask in masks])
        sumw2 = predictor.evaluate_sumw2(dict(zip(predictor.parameter_names, point)))
        np.testing.assert_allclose(sumw2[0], reference, rtol=1e-12, atol=0)


@needs_hese
def test_hese_poisson_logp_and_gradient(hese):
    simulation, masks, data, predictor = hese
    simulated = np.flatnonzero(masks.any(axis=1))  # the seed sets empty bins' terms to 0
    assert data[masks.any(axis=1) == 0].sum() == 0
    function = poisson_logp_and_grad(predictor, data, simulated)
    for point in HESE_POINTS[1:]:
        logp, *gradient = function(*point)
        np.testing.assert_allclose(-logp, seed_llh(data, simulation, masks, point), rtol=1e-12)
        numeric = central_differences(lambda p: -seed_llh(data, simulation, masks, p), point)
        np.testing.assert_allclose(gradient, numeric, rtol=1e-6)


# ---------------------------------------------------------------------- all spectra
@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(7)
    n_events, n_bins = 3000, 17
    events = {
        "energy": np.exp(rng.uniform(np.log(1e4), np.log(1e7), n_events)),
        "w_a": rng.uniform(0.0, 1.0, n_events),
        "w_b": rng.uniform(0.0, 2.0, n_events),
        "w_c": rng.exponential(1.0, n_events),
        "w_d": rng.uniform(0.0, 0.5, n_events),
        "zenith": rng.uniform(0.0, np.pi, n_events),
    }
    bin_index = rng.integers(-1, n_bins, n_events)
    cutoff = CustomSpectrum(
        lambda energy, zenith, cutoff: pt.exp(-energy / cutoff) * (1 + 0.5 * pt.cos(zenith)),
        parameters=[Parameter("cutoff", lower=0.0, default=1e6)],
        variables=["energy", "zenith"],
        name="cutoff",
    )
    predictor = ReweightedMCPredictor(
        events,
        bin_index,
        n_bins,
        components=[
            Component("w_a", spectrum=Normalisation("n_a")),
            Component(
                "w_b",
                norm="n_b",
                spectrum=BrokenPowerLaw(
                    "energy", index_low="g1", index_high="g2", break_energy=2e5, pivot=1e5
                ),
            ),
            Component("w_c", norm="n_c", spectrum=LogParabola("energy", index="g3", curvature="beta")),
            Component("w_d", spectrum=cutoff),
        ],
    )
    return events, bin_index, n_bins, predictor


def toy_numpy(events, bin_index, n_bins, values):
    energy = events["energy"]
    gamma = np.where(energy >= 2e5, values["g2"], values["g1"])
    broken = (energy / 2e5) ** -gamma / (energy / 1e5) ** -2.5
    log_ratio = np.log(energy / 1e5)
    parabola = np.exp(-(values["g3"] - 2.5) * log_ratio - values["beta"] * log_ratio**2)
    cutoff = np.exp(-energy / values["cutoff"]) * (1 + 0.5 * np.cos(events["zenith"]))
    weights = (
        values["n_a"] * events["w_a"]
        + values["n_b"] * events["w_b"] * broken
        + values["n_c"] * events["w_c"] * parabola
        + events["w_d"] * cutoff
    )
    inside = bin_index >= 0
    # independent of the predictor's scatter: a histogram of bin centres
    counts = np.histogram(bin_index[inside], bins=np.arange(n_bins + 1) - 0.5, weights=weights[inside])[0]
    return counts, weights


TOY_POINTS = [
    {"n_a": 1.0, "n_b": 1.0, "g1": 2.5, "g2": 2.5, "n_c": 1.0, "g3": 2.5, "beta": 0.0, "cutoff": 1e6},
    {"n_a": 0.4, "n_b": 2.0, "g1": 2.0, "g2": 3.1, "n_c": 0.7, "g3": 2.8, "beta": 0.05, "cutoff": 3e5},
    {"n_a": 3.0, "n_b": 0.1, "g1": 2.9, "g2": 2.2, "n_c": 5.0, "g3": 1.9, "beta": -0.02, "cutoff": 2e6},
]


def test_spectra_match_numpy(toy):
    events, bin_index, n_bins, predictor = toy
    assert set(predictor.parameter_names) == set(TOY_POINTS[0])
    defaults = predictor.defaults()
    assert defaults["g1"] == 2.5 and defaults["n_b"] == 1.0 and defaults["beta"] == 0.0
    assert predictor.parameter("n_b").lower == 0.0
    for values in TOY_POINTS:
        counts, weights = toy_numpy(events, bin_index, n_bins, values)
        np.testing.assert_allclose(predictor.evaluate(values)[0], counts, rtol=1e-12)
        sumw2 = np.bincount(bin_index[bin_index >= 0], weights[bin_index >= 0] ** 2, n_bins)
        np.testing.assert_allclose(predictor.evaluate_sumw2(values)[0], sumw2, rtol=1e-12)


def test_spectra_gradient_matches_finite_differences(toy):
    events, bin_index, n_bins, predictor = toy
    data = np.random.default_rng(3).poisson(toy_numpy(events, bin_index, n_bins, TOY_POINTS[1])[0])
    function = poisson_logp_and_grad(predictor, data.astype(float))
    names = predictor.parameter_names

    def numpy_logp(point):
        counts = toy_numpy(events, bin_index, n_bins, dict(zip(names, point)))[0]
        return np.sum(data * np.log(counts) - counts - special.gammaln(data + 1))

    for values in TOY_POINTS[1:]:
        point = np.array([values[name] for name in names])
        logp, *gradient = function(*point)
        np.testing.assert_allclose(logp, numpy_logp(point), rtol=1e-12)
        np.testing.assert_allclose(gradient, central_differences(numpy_logp, point), rtol=1e-5)


def test_binning_object_and_shared_parameters():
    class TwoBins:
        size = 2

        def bin_index(self, events):
            return np.where(events["x"] < 1.0, 0, np.where(events["x"] < 2.0, 1, -1))

    events = {"x": np.array([0.5, 1.5, 2.5, 0.1]), "w": np.array([1.0, 2.0, 4.0, 8.0]),
              "e": np.array([1e5, 2e5, 3e5, 4e5])}
    power_law = PowerLaw("e", index="gamma", generated_index=2.0)
    predictor = ReweightedMCPredictor(
        events, TwoBins(), components=[Component("w", norm="n", spectrum=power_law),
                                       Component("w", spectrum=power_law)]
    )
    assert predictor.parameter_names == ("n", "gamma") and predictor.n_out == 2
    expected = predictor.evaluate(n=2.0, gamma=3.0)[0]
    factor = 3.0 * (events["e"] / 1e5) ** -1.0
    np.testing.assert_allclose(expected, [(1.0 * factor[0] + 8.0 * factor[3]), 2.0 * factor[1]])


# ---------------------------------------------------------------------- bad input
def _events(**changes):
    events = {"w": np.ones(5), "e": np.full(5, 1e5)}
    events.update(changes)
    return events


def _build(events=None, bin_index=(0, 1, -1, 1, 0), n_bins=2, spectrum=None):
    spectrum = spectrum or PowerLaw("e", index="gamma")
    return ReweightedMCPredictor(
        _events() if events is None else events, np.asarray(bin_index), n_bins,
        components=[Component("w", norm="n", spectrum=spectrum)], name="astro",
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"events": _events(w=np.array([1, 1, np.nan, 1, 1.0]))}, EventsError, r"'w' of event 2 is nan"),
        ({"events": _events(w=np.array([1, -1, 1, 1, 1.0]))}, EventsError, r"'w' of event 1 is -1"),
        ({"events": _events(w=np.ones(4))}, EventsError, r"'w' has shape \(4,\), expected \(5,\)"),
        ({"events": {"w": np.ones(5)}}, EventsError, r"no variable 'e'; available: \['w'\]"),
        ({"events": _events(e=np.array([1, 1, 0, 1, 1.0]))}, EventsError, r"'e' must be finite and positive.*event 2"),
        ({"bin_index": (0, 1, 2, 1, 0)}, EventsError, r"event 2 is 2, outside \[-1, 1\]"),
        ({"bin_index": (0, 1, -3, 1, 0)}, EventsError, r"event 2 is -3"),
        ({"bin_index": (0, 1)}, EventsError, r"'w' has shape \(5,\), expected \(2,\)"),
        ({"n_bins": 0}, PredictorError, r"n_bins must be a positive integer"),
        ({"bin_index": (0.5, 1, 0, 1, 0)}, EventsError, r"must hold integers"),
    ],
)
def test_bad_input_is_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        _build(**kwargs)


def test_bad_parameters_are_named():
    with pytest.raises(PredictorError, match=r"'gamma' is declared twice"):
        ReweightedMCPredictor(
            _events(), np.zeros(5, int), 1,
            components=[Component("w", spectrum=PowerLaw("e", index="gamma", generated_index=2.0)),
                        Component("w", spectrum=PowerLaw("e", index="gamma", generated_index=2.5))],
        )
    with pytest.raises(PredictorError, match=r"do not match the declared variables \['e'\] and parameters \['mu'\]"):
        CustomSpectrum(lambda e, cut: e / cut, parameters=[Parameter("mu")], variables=["e"])
    predictor = _build()
    with pytest.raises(PredictorError, match=r"missing parameter\(s\) \['gamma'\]"):
        predictor.expected({"n": pt.dscalar()})
    with pytest.raises(PredictorError, match=r"unknown parameter\(s\) \['index'\]"):
        predictor.evaluate(index=2.0)
    with pytest.raises(PredictorError, match=r"different parameter names"):
        BrokenPowerLaw("e", index_low="g", index_high="g", break_energy=1e5)
    with pytest.raises(PredictorError, match=r"pivot must be finite and positive"):
        PowerLaw("e", pivot=-1.0)
