"""Simulation-based calibration (Talts et al. 2018, arXiv:1804.06788) of three model families.

For each replication a parameter point is drawn from the prior (with numpy/scipy, independent of
PyMC), pseudo-data from the model's own generative process (universe first, then Poisson counts),
and the posterior is sampled with NUTS. The rank of the true value among ``L`` thinned posterior
draws is uniform on ``0..L`` if and only if the posterior is calibrated; a chi-square test on
``RANK_BINS`` equal groups of ranks must give ``p > 0.01`` for every parameter.

The PyMC model is built once and compiled once (nutpie): only its ``observed_counts`` data
container changes between replications. Settings are cheap: 1 chain, 300 tuning steps, 198 draws
thinned by 2 to ``L = 99``, ``N_REPLICATIONS = 100`` per family.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest
from reference_data import REFERENCE
from scipy import stats

from bayesfit.binning import CategoryAxis, Log10Axis, RectilinearBinning
from bayesfit.events import load_events
from bayesfit.model import BinnedModel
from bayesfit.predictors import Component, MatrixPredictor, PowerLaw, ReweightedMCPredictor, TemplatePredictor

pytestmark = pytest.mark.slow

N_REPLICATIONS = 100
N_DRAWS = 99  # thinned posterior draws per replication: ranks 0..99
THIN = 2
TUNE = 300
RANK_BINS = 10
SMALL = REFERENCE / "hese" / "synthetic-small"


def sbc_ranks(
    model: BinnedModel,
    draw_truth: Callable[[np.random.Generator], dict[str, np.ndarray]],
    simulate: Callable[[dict[str, np.ndarray], np.random.Generator], np.ndarray],
    seed: int,
) -> dict[str, np.ndarray]:
    """Rank of the true value among ``N_DRAWS`` posterior draws, ``{label: (N_REPLICATIONS,)}``."""
    nutpie = pytest.importorskip("nutpie")
    compiled = nutpie.compile_pymc_model(model.pymc_model, backend="numba")
    rng = np.random.default_rng(seed)
    ranks: dict[str, list[int]] = {}
    for replication in range(N_REPLICATIONS):
        truth = draw_truth(rng)
        counts = simulate(truth, rng).astype(float)
        trace = nutpie.sample(
            compiled.with_data(observed_counts=counts), draws=N_DRAWS * THIN, tune=TUNE, chains=1, cores=1,
            seed=seed * 1000 + replication, progress_bar=False,
        )
        for name, value in truth.items():
            draws = trace.posterior[name].values[0, ::THIN]  # (N_DRAWS, *shape)
            for index in np.ndindex(np.shape(value)):
                label = f"{name}{list(index) if index else ''}"
                rank = int(np.sum(draws[(slice(None), *index)] < value[index]))
                ranks.setdefault(label, []).append(rank)
    return {label: np.array(values) for label, values in ranks.items()}


def uniformity_pvalue(ranks: np.ndarray) -> float:
    """Chi-square p-value of ranks ``0..N_DRAWS`` being uniform, in ``RANK_BINS`` equal groups."""
    groups = np.minimum(ranks * RANK_BINS // (N_DRAWS + 1), RANK_BINS - 1)
    observed = np.bincount(groups, minlength=RANK_BINS)
    return float(stats.chisquare(observed).pvalue)


def check_calibrated(family: str, ranks: dict[str, np.ndarray]) -> None:
    """Print the chi-square p-value of every parameter entry (for docs/validation.md), require > 0.01."""
    pvalues = {label: uniformity_pvalue(values) for label, values in ranks.items()}
    print(f"SBC {family}: " + ", ".join(f"{label} p={p:.3f}" for label, p in pvalues.items()))
    for label, values in ranks.items():
        assert values.shape == (N_REPLICATIONS,)
        assert pvalues[label] > 0.01, (family, label, np.bincount(values * RANK_BINS // (N_DRAWS + 1)))


# ---------------------------------------------------------------------- template fit
def test_sbc_template_fit():
    templates = np.array([[12.0, 8.0, 4.0, 2.0, 1.0], [2.0, 3.0, 4.0, 5.0, 6.0]])
    alpha, beta = 4.0, 4.0  # weights ~ Gamma(4, rate 4): mean 1, sd 0.5
    model = BinnedModel(
        TemplatePredictor(templates), np.ones(5, dtype=int),
        priors={"weights": {"Gamma": {"alpha": alpha, "beta": beta}}},
    )

    def draw_truth(rng):
        return {"weights": rng.gamma(alpha, 1.0 / beta, size=2)}

    def simulate(truth, rng):
        return rng.poisson(truth["weights"] @ templates)

    started = time.perf_counter()
    check_calibrated("template", sbc_ranks(model, draw_truth, simulate, seed=1))
    print(f"template SBC: {time.perf_counter() - started:.1f} s")


# ---------------------------------------------------------------------- response matrix, universes
def test_sbc_response_matrix_with_marginalised_universes():
    rng = np.random.default_rng(7)
    n_universes, n_reco, n_truth = 4, 6, 3
    base = rng.dirichlet(np.ones(n_reco + 1), size=n_truth).T[:n_reco]  # columns sum below 1
    matrices = base[None] * rng.uniform(0.7, 1.1, size=(n_universes, n_reco, n_truth))
    matrices /= np.maximum(1.0, matrices.sum(axis=1, keepdims=True))
    universe_weights = np.array([1.0, 2.0, 1.0, 0.5])
    alpha, beta = 5.0, 0.1  # truth ~ Gamma(5, rate 0.1): mean 50, sd 22
    model = BinnedModel(
        MatrixPredictor(matrices, variation_weights=universe_weights, default=50.0), np.ones(n_reco, dtype=int),
        priors={"truth": {"Gamma": {"alpha": alpha, "beta": beta}}},
    )
    assert model.systematics == "marginalise"

    def draw_truth(rng):
        return {"truth": rng.gamma(alpha, 1.0 / beta, size=n_truth)}

    def simulate(truth, rng):
        universe = rng.choice(n_universes, p=universe_weights / universe_weights.sum())
        return rng.poisson(matrices[universe] @ truth["truth"])

    started = time.perf_counter()
    check_calibrated("response-matrix", sbc_ranks(model, draw_truth, simulate, seed=2))
    print(f"response-matrix SBC: {time.perf_counter() - started:.1f} s")


# ---------------------------------------------------------------------- HESE reweighted MC
def test_sbc_hese_reweighted_mc():
    simulation = load_events(SMALL / "hese_toy_simulation.json")
    binning = RectilinearBinning([CategoryAxis("topology", (0, 1)), Log10Axis("energy", 6e4, 1e7, 5)])
    predictor = ReweightedMCPredictor(
        simulation, binning, components=[
            Component("atmoWeight", norm="atmo_norm"),
            Component("astroWeight", norm="astro_norm",
                      spectrum=PowerLaw("primaryEnergy", index="astro_gamma", pivot=1e5, generated_index=2.5)),
        ],
    )
    priors = {
        "atmo_norm": {"Gamma": {"alpha": 9.0, "beta": 9.0}},     # mean 1, sd 0.33
        "astro_norm": {"Gamma": {"alpha": 16.0, "beta": 2.0}},   # mean 8, sd 2
        "astro_gamma": {"Uniform": {"lower": 2.0, "upper": 3.5}},
    }
    model = BinnedModel(predictor, np.ones(binning.size, dtype=int), priors=priors,
                        starts={"astro_gamma": 2.75})
    weights = {name: np.asarray(simulation[name]) for name in ("atmoWeight", "astroWeight", "primaryEnergy")}
    bins = binning.bin_index(simulation)
    inside = bins >= 0

    def draw_truth(rng):
        return {
            "atmo_norm": np.asarray(rng.gamma(9.0, 1 / 9.0)),
            "astro_norm": np.asarray(rng.gamma(16.0, 1 / 2.0)),
            "astro_gamma": np.asarray(rng.uniform(2.0, 3.5)),
        }

    def simulate(truth, rng):  # the seed notebook's weight_event, binned with numpy
        event_weights = weights["atmoWeight"] * truth["atmo_norm"] + weights["astroWeight"] * truth["astro_norm"] * (
            weights["primaryEnergy"] / 1e5
        ) ** -(truth["astro_gamma"] - 2.5)
        expected = np.bincount(bins[inside], event_weights[inside], minlength=binning.size)
        return rng.poisson(expected)

    started = time.perf_counter()
    check_calibrated("hese-reweighted", sbc_ranks(model, draw_truth, simulate, seed=3))
    print(f"hese-reweighted SBC: {time.perf_counter() - started:.1f} s")
