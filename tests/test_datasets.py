"""Tests of the example-data generators against reference files, analytic results and scipy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from reference_data import REFERENCE
from bayesfit.datasets import (
    background_xsec,
    cross_section_table,
    generate_hese_toy,
    generate_xsec_toy,
    hese_example_files,
    hese_expected_weights,
    model_a_xsec,
    model_b_xsec,
    read_seed_json,
    round_significant,
    write_seed_json,
)
from bayesfit.datasets.xsec_toy import FLUX_EDGES
from bayesfit.errors import EventsError

HESE_REFERENCE = REFERENCE / "hese" / "synthetic"
REMU_REFERENCE = REFERENCE / "remu-examples"
needs_hese_reference = pytest.mark.skipif(not HESE_REFERENCE.exists(), reason="no HESE reference")
needs_remu_reference = pytest.mark.skipif(not REMU_REFERENCE.exists(), reason="no ReMU reference")

SIMULATION_ORDER = ["astroWeight", "atmoWeight", "energy", "primaryEnergy", "primaryZenith", "topology", "zenith"]
FIT_RANGE = (6.0e4, 1.0e7)
TRUTH = (1.0, 6.7, 3.0)


def notebook_weights(events: dict[str, np.ndarray], atmo_norm, astro_norm, astro_gamma) -> np.ndarray:
    """The notebook's ``weight_event``, written out independently."""
    return events["atmoWeight"] * atmo_norm + events["astroWeight"] * astro_norm * pow(
        events["primaryEnergy"] / 1e5, -(astro_gamma - 2.5)
    )


def poisson_two_sided_p(observed: int, expected: float) -> float:
    return min(1.0, 2 * min(stats.poisson.cdf(observed, expected), stats.poisson.sf(observed - 1, expected)))


# --- JSON layout ------------------------------------------------------------------------------


def test_round_significant_matches_decimal_formatting():
    rng = np.random.default_rng(1)
    values = rng.lognormal(0, 8, 2000) * rng.choice([-1, 1], 2000)
    values[:3] = [0.0, 100700.0, 1.4554e-05]
    expected = np.array([float(f"{value:.3e}") for value in values])
    np.testing.assert_array_equal(round_significant(values), expected)
    assert repr(float(round_significant(np.array([1.45549e-05]))[0])) == "1.455e-05"


def test_write_and_read_seed_json(tmp_path):
    columns = {"energy": np.array([6.2e4, 1.5e5]), "topology": np.array([0.0, 1.0]), "zenith": np.array([0.5, 2.0])}
    path = write_seed_json(columns, tmp_path / "data.json")
    document = json.loads(path.read_text())
    assert document == {"mapping": {"energy": 0, "topology": 1, "zenith": 2},
                        "events": [[62000.0, 0.0, 0.5], [150000.0, 1.0, 2.0]]}
    read = read_seed_json(path)
    for name, values in columns.items():
        np.testing.assert_array_equal(read[name], values)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_seed_json(columns, path)
    write_seed_json({"energy": np.array([1.0])}, path, overwrite=True)
    assert read_seed_json(path)["energy"].tolist() == [1.0]
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]  # no temporary files left


def test_seed_json_bad_input(tmp_path):
    with pytest.raises(EventsError, match="'zenith'.*shape \\(3,\\)"):
        write_seed_json({"energy": np.ones(2), "zenith": np.ones(3)}, tmp_path / "a.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"mapping": {"energy": 3}, "events": [[1.0, 2.0]]}')
    with pytest.raises(EventsError, match="mapping\\['energy'\\] = 3"):
        read_seed_json(bad)
    bad.write_text('{"events": []}')
    with pytest.raises(EventsError, match="'mapping'"):
        read_seed_json(bad)


# --- HESE-like toy -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hese_large():
    return generate_hese_toy(n_generated=300_000, seed=11)


@pytest.fixture(scope="module")
def hese_reference():
    return read_seed_json(HESE_REFERENCE / "hese_toy_simulation.json")


def in_fit_range(events):
    return (events["energy"] >= FIT_RANGE[0]) & (events["energy"] < FIT_RANGE[1])


def test_hese_layout_and_determinism():
    toy = generate_hese_toy(n_generated=5000, seed=3)
    assert list(toy.simulation) == SIMULATION_ORDER
    assert list(toy.data) == ["energy", "topology", "zenith"]
    again = generate_hese_toy(n_generated=5000, seed=3)
    other = generate_hese_toy(n_generated=5000, seed=4)
    for name in SIMULATION_ORDER:
        np.testing.assert_array_equal(toy.simulation[name], again.simulation[name])
    assert not np.array_equal(toy.simulation["energy"][:100], other.simulation["energy"][:100])
    # Rounded to 4 significant digits like the notebook's simulation file.
    for name in SIMULATION_ORDER:
        values = toy.simulation[name]
        np.testing.assert_array_equal(values, [float(f"{v:.3e}") for v in values])
    assert set(np.unique(toy.simulation["topology"])) == {0.0, 1.0}
    assert np.all((toy.simulation["zenith"] >= 0) & (toy.simulation["zenith"] <= np.pi))
    assert np.all(toy.data["energy"] >= FIT_RANGE[0])


def test_hese_expected_weights_is_the_notebook_formula(hese_large):
    simulation = hese_large.simulation
    np.testing.assert_allclose(
        hese_expected_weights(simulation, 0.9, 5.0, 2.8), notebook_weights(simulation, 0.9, 5.0, 2.8), rtol=1e-14
    )


@needs_hese_reference
def test_hese_rates_match_reference(hese_large, hese_reference):
    ours, reference = hese_large.simulation, hese_reference
    # Same number generated (3e5): row counts agree to 2 %.
    assert len(ours["energy"]) == pytest.approx(len(reference["energy"]), rel=0.02)
    ours_fit, reference_fit = in_fit_range(ours), in_fit_range(reference)
    for column, tolerance in [("astroWeight", 0.05), ("atmoWeight", 0.05)]:
        assert ours[column][ours_fit].sum() == pytest.approx(reference[column][reference_fit].sum(), rel=tolerance)
    assert ours["astroWeight"].sum() == pytest.approx(reference["astroWeight"].sum(), rel=0.1)
    assert ours["atmoWeight"].sum() == pytest.approx(reference["atmoWeight"].sum(), rel=0.2)
    expected_ours = notebook_weights(ours, *TRUTH)[ours_fit].sum()
    expected_reference = notebook_weights(reference, *TRUTH)[reference_fit].sum()
    assert expected_reference == pytest.approx(117.0, abs=0.1)
    assert expected_ours == pytest.approx(expected_reference, rel=0.05)


@needs_hese_reference
def test_hese_distributions_match_reference(hese_large, hese_reference):
    def shapes(events):
        fit = in_fit_range(events)
        weights = notebook_weights(events, *TRUTH)[fit]
        energy = np.histogram(np.log10(events["energy"][fit]), np.linspace(np.log10(6e4), 7, 11), weights=weights)[0]
        cos_zenith = np.histogram(np.cos(events["zenith"][fit]), np.linspace(-1, 1, 11), weights=weights)[0]
        track = np.sum(weights * events["topology"][fit])
        return energy / weights.sum(), cos_zenith / weights.sum(), track / weights.sum()

    ours, reference = shapes(hese_large.simulation), shapes(hese_reference)
    np.testing.assert_allclose(ours[0], reference[0], atol=0.03)
    np.testing.assert_allclose(ours[1], reference[1], atol=0.03)
    assert ours[2] == pytest.approx(reference[2], abs=0.04)


@needs_hese_reference
def test_hese_data_count_is_poisson_consistent(hese_large):
    expected = notebook_weights(hese_large.simulation, *TRUTH)[hese_large.simulation["energy"] >= FIT_RANGE[0]].sum()
    assert poisson_two_sided_p(len(hese_large.data["energy"]), expected) > 1e-3
    reference_data = read_seed_json(HESE_REFERENCE / "hese_toy_data.json")
    assert poisson_two_sided_p(len(reference_data["energy"]), expected) > 1e-3


def test_hese_data_follow_the_truth_spectrum():
    """Pooled over seeds, observed counts per energy range follow the truth expectation (chi2)."""
    edges = np.array([6e4, 1e5, 2e5, 5e5, np.inf])
    observed = np.zeros(edges.size - 1)
    expected = np.zeros(edges.size - 1)
    for seed in range(8):
        toy = generate_hese_toy(n_generated=20_000, seed=100 + seed)
        observed += np.histogram(toy.data["energy"], edges)[0]
        weights = notebook_weights(toy.simulation, *TRUTH)
        expected += np.histogram(toy.simulation["energy"], edges, weights=weights)[0]
    chi2 = np.sum((observed - expected) ** 2 / expected)
    assert stats.chi2.sf(chi2, edges.size - 1) > 1e-3


def test_hese_example_files_are_cached(tmp_path):
    files = hese_example_files(tmp_path, n_generated=2000, seed=5)
    data_path, simulation_path = files
    assert (data_path.name, simulation_path.name) == ("hese_toy_data.json", "hese_toy_simulation.json")
    first_mtime = simulation_path.stat().st_mtime_ns
    assert hese_example_files(tmp_path, n_generated=2000, seed=5) == files
    assert simulation_path.stat().st_mtime_ns == first_mtime
    mapping = json.loads(simulation_path.read_text())["mapping"]
    assert sorted(mapping.items(), key=lambda item: item[1]) == [(name, i) for i, name in enumerate(SIMULATION_ORDER)]
    expected = generate_hese_toy(n_generated=2000, seed=5)
    np.testing.assert_array_equal(read_seed_json(simulation_path)["energy"], expected.simulation["energy"])
    np.testing.assert_array_equal(read_seed_json(data_path)["zenith"], expected.data["zenith"])


# --- ReMU toy: cross sections -----------------------------------------------------------------


def _scipy_energy_distribution(E_min, E_max):
    if np.isfinite(E_min) and np.isfinite(E_max):
        return stats.uniform(loc=E_min, scale=E_max - E_min)
    return stats.expon(loc=E_min)


def _scipy_energy_fraction(E_min, E_max, E_0, E_1):
    lower, upper = max(E_min, E_0), min(E_max, E_1)
    if upper < lower:
        return 0.0, lower, upper
    distribution = _scipy_energy_distribution(E_min, E_max)
    return distribution.cdf(upper) - distribution.cdf(lower), lower, upper


def scipy_background(E_min, E_max, x_min, x_max, y_min, y_max):
    fraction, _, _ = _scipy_energy_fraction(
        E_min, E_max, (x_min - 0.5) * 2 / np.sqrt(0.5) + 8, (x_max - 0.5) * 2 / np.sqrt(0.5) + 8
    )
    y = stats.norm(loc=0.5, scale=np.sqrt(0.5))
    return 30.0 * fraction * (y.cdf(y_max) - y.cdf(y_min))


def scipy_model_a(E_min, E_max, x_min, x_max, y_min, y_max):
    fraction, _, _ = _scipy_energy_fraction(E_min, E_max, (x_min - 0.1) * 2.0 + 8, (x_max - 0.1) * 2.0 + 8)
    y = stats.norm(loc=0.2, scale=1.0)
    return 100.0 * fraction * (y.cdf(y_max) - y.cdf(y_min))


def scipy_model_b(E_min, E_max, x_min, x_max, y_min, y_max):
    fraction, lower, upper = _scipy_energy_fraction(E_min, E_max, x_min * 2.0 + 8, x_max * 2.0 + 8)
    if np.isfinite(lower) and np.isfinite(upper):
        middle = (upper + lower) / 2
    elif np.isfinite(lower):
        middle = lower + 1
    elif np.isfinite(upper):
        middle = upper - 1
    else:
        middle = 0.0
    y = stats.norm(loc=0.5 * (middle - 8.0) / 2, scale=1.0 - 0.5**2)
    return 100.0 * fraction * (y.cdf(y_max) - y.cdf(y_min))


@pytest.mark.parametrize(
    ("vectorised", "scalar"),
    [(background_xsec, scipy_background), (model_a_xsec, scipy_model_a), (model_b_xsec, scipy_model_b)],
)
def test_cross_sections_match_scalar_scipy(vectorised, scalar):
    rng = np.random.default_rng(2)
    x_edges = np.concatenate([[-np.inf], np.sort(rng.uniform(-3, 3, 9)), [np.inf]])
    y_edges = np.concatenate([[-np.inf], np.sort(rng.uniform(-2, 2, 7)), [np.inf]])
    # The reference flux edges with [20, inf) split into [20, 21), [21, 23.5), [23.5, inf).
    flux_edges = np.concatenate([FLUX_EDGES[:-1], [21.0, 23.5, np.inf]])
    table = vectorised(
        flux_edges[None, None, :-1], flux_edges[None, None, 1:],
        x_edges[:-1, None, None], x_edges[1:, None, None],
        y_edges[None, :-1, None], y_edges[None, 1:, None],
    )
    expected = np.array([
        [[scalar(e0, e1, x0, x1, y0, y1) for e0, e1 in zip(flux_edges[:-1], flux_edges[1:])]
         for y0, y1 in zip(y_edges[:-1], y_edges[1:])]
        for x0, x1 in zip(x_edges[:-1], x_edges[1:])
    ])
    assert table.shape == expected.shape == (10, 8, 11)
    np.testing.assert_allclose(table, expected, rtol=1e-12, atol=1e-12)


def test_cross_section_table_totals_are_analytic():
    """Summed over a truth binning that covers the plane, every flux bin gives the total rate."""
    x_edges = np.array([-np.inf, -1.0, 0.0, 0.5, 2.0, np.inf])
    y_edges = np.array([-np.inf, -0.5, 0.25, np.inf])
    for process, rate in [("background", 30.0), ("model_A", 100.0), ("model_B", 100.0)]:
        table = cross_section_table(process, x_edges, y_edges)
        assert table.shape == (5, 3, 9)
        np.testing.assert_allclose(table.sum(axis=(0, 1)), rate, rtol=1e-12)
    # Model A, one truth column: x in [0, 0.5) is E in [7.8, 8.8); inside the flux bin [8, 10).
    column = cross_section_table("model_A", [0.0, 0.5], [-np.inf, np.inf])[0, 0]
    assert column[4] == pytest.approx(100.0 * 0.8 / 2.0, rel=1e-12)
    with pytest.raises(EventsError, match="unknown process 'model_C'"):
        cross_section_table("model_C", x_edges, y_edges)
    with pytest.raises(EventsError, match="x_edges must be increasing"):
        cross_section_table("model_A", [1.0, 0.0], y_edges)


# --- ReMU toy: events -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def xsec_toy():
    return generate_xsec_toy(seed=7, years_simulated=100.0, n_universes=100)


def load_remu(relative: str) -> np.ndarray:
    return np.genfromtxt(REMU_REFERENCE / relative, names=True, delimiter=",")


def assert_same_gaussian(ours_x, ours_y, reference_x, reference_y):
    """Means within 4 standard errors, covariance entries within 4 standard errors."""
    for a, b in [(ours_x, reference_x), (ours_y, reference_y)]:
        error = np.sqrt(np.var(a) / a.size + np.var(b) / b.size)
        assert abs(np.mean(a) - np.mean(b)) < 4 * error
    ours_cov, reference_cov = np.cov(ours_x, ours_y), np.cov(reference_x, reference_y)
    scale = np.sqrt(np.outer(np.diag(ours_cov), np.diag(ours_cov)))
    error = scale * np.sqrt(2.0 / ours_x.size + 2.0 / reference_x.size)
    assert np.all(np.abs(ours_cov - reference_cov) < 4 * error)


@needs_remu_reference
@pytest.mark.parametrize(("process", "truth_file", "data_file", "sigma"), [
    ("model_A", "00/modelA_truth.txt", "00/modelA_data.txt", 1.0),
    ("model_B", "00/modelB_truth.txt", "00/modelB_data.txt", 1.0),
    ("background", "05/bg_truth.txt", "05/nominal_bg_data.txt", 2.0),
])
def test_xsec_processes_match_remu(xsec_toy, process, truth_file, data_file, sigma):
    events = xsec_toy.simulation[process]
    truth, reco = load_remu(truth_file), load_remu(data_file)
    # The reference files hold 100 years, like the toy: counts agree within Poisson errors.
    assert abs(events["true_x"].size - truth.size) < 4 * np.sqrt(2 * truth.size)
    assert_same_gaussian(events["true_x"], events["true_y"], truth["true_x"], truth["true_y"])
    reconstructed = events["reconstructed"]
    ours_efficiency, reference_efficiency = reconstructed.mean(), reco.size / truth.size
    error = np.sqrt(ours_efficiency * (1 - ours_efficiency) * (1 / truth.size + 1 / events["true_x"].size))
    assert abs(ours_efficiency - reference_efficiency) < 4 * error
    np.testing.assert_array_equal(events["reco_y"][reconstructed], events["true_y"][reconstructed])
    assert np.all(np.isnan(events["reco_x"][~reconstructed]))
    ours_smear = events["reco_x"][reconstructed] - events["true_x"][reconstructed]
    reference_smear = reco["reco_x"] - reco["true_x"]
    assert stats.ks_2samp(ours_smear, reference_smear).pvalue > 1e-3
    assert np.std(ours_smear) == pytest.approx(sigma, rel=0.05)
    assert_same_gaussian(events["reco_x"][reconstructed], events["reco_y"][reconstructed], reco["reco_x"], reco["reco_y"])


@needs_remu_reference
def test_xsec_noise_and_real_data_match_remu(xsec_toy):
    noise, reference_noise = xsec_toy.simulation["noise"], load_remu("05/noise_truth.txt")
    assert abs(noise["reco_x"].size - reference_noise.size) < 4 * np.sqrt(2 * reference_noise.size)
    assert_same_gaussian(noise["reco_x"], noise["reco_y"], reference_noise["reco_x"], reference_noise["reco_y"])
    assert np.all(np.isnan(noise["true_x"])) and np.all(noise["event_type"] == 0)
    data, reference_data = xsec_toy.data, load_remu("05/real_data.txt")
    # 10 years of B (efficiency 0.9 * Phi(0 / sqrt(2)) = 0.45) + background + noise.
    background_efficiency = 0.9 * stats.norm.cdf(0.5 / np.sqrt(1.5))
    expected = 10 * (100 * 0.45 + 30 * background_efficiency + 20)
    assert poisson_two_sided_p(data["reco_x"].size, expected) > 1e-3
    assert poisson_two_sided_p(reference_data.size, expected) > 1e-3
    assert_same_gaussian(data["reco_x"], data["reco_y"], reference_data["reco_x"], reference_data["reco_y"])


def test_xsec_universe_weights_reproduce_analytic_efficiency(xsec_toy):
    """sum_reco w_k estimates N * E[eff_k(y)]; for y ~ N(mu, s) that is max_eff Phi(a (mu - b) / sqrt(1 + a^2 s^2))."""
    events, universes = xsec_toy.simulation["model_A"], xsec_toy.universes
    n_events = events["true_y"].size
    assert events["universe_weight"].shape == events["universe_reco_x"].shape == (n_events, 100)
    reconstructed = events["reconstructed"]
    estimated = events["universe_weight"][reconstructed].sum(axis=0) / n_events
    analytic = universes.max_eff * stats.norm.cdf(
        universes.eff_slope * (0.2 - universes.eff_offset) / np.sqrt(1 + universes.eff_slope**2)
    )
    assert np.all(np.abs(estimated - analytic) < 4 * np.sqrt(analytic * (1 - analytic) / n_events) + 0.01)
    # Weights of every outcome together conserve the number of true events in each universe.
    np.testing.assert_allclose(events["universe_weight"].sum(axis=0) / n_events, 1.0, atol=0.03)
    # Alternative reco_x rescale the nominal smearing by each universe's width.
    smear = events["reco_x"][reconstructed] - events["true_x"][reconstructed]
    alternative = events["universe_reco_x"][reconstructed] - events["true_x"][reconstructed, None]
    np.testing.assert_allclose(alternative, smear[:, None] * universes.smear_scale, rtol=1e-12, atol=1e-12)


def test_xsec_flux_throws_follow_the_energy_distribution(xsec_toy):
    assert xsec_toy.flux_throws.shape == (100, 9) and xsec_toy.nominal_flux.shape == (9,)
    np.testing.assert_allclose(xsec_toy.flux_edges, [0, 2, 4, 6, 8, 10, 12, 16, 20, np.inf])
    assert np.all(xsec_toy.flux_throws.sum(axis=1) <= 10.0 + 1e-12)
    probabilities = np.diff(stats.norm.cdf(FLUX_EDGES, loc=8.0, scale=2.0))
    counts = np.round(xsec_toy.flux_throws.sum(axis=0) / 0.01)
    expected = 100 * 1000 * probabilities
    populated = expected > 5
    chi2 = np.sum((counts[populated] - expected[populated]) ** 2 / expected[populated])
    assert stats.chi2.sf(chi2, populated.sum() - 1) > 1e-3
    assert not np.allclose(xsec_toy.flux_throws[0], xsec_toy.flux_throws[1])


def test_xsec_toy_bad_arguments():
    with pytest.raises(EventsError, match="years_simulated must be > 0"):
        generate_xsec_toy(years_simulated=0.0)
    with pytest.raises(EventsError, match="n_universes"):
        generate_xsec_toy(n_universes=0)
