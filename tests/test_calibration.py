"""Simulation-based calibration (Talts et al. 2018, arXiv:1804.06788) of three model families.

For each replication a parameter point is drawn from the prior (with numpy, independent of PyMC),
pseudo-data from the model's own generative process written in numpy (universe first, then Poisson
counts), and the posterior is sampled with NUTS. The rank of the true value among ``N_DRAWS``
thinned posterior draws is uniform on ``0..N_DRAWS`` if and only if the posterior is calibrated; a
chi-square test on ``RANK_BINS`` equal groups of ranks must give ``p > 0.01`` for every parameter.

Cost: the PyMC model of a family is compiled once (nutpie, numba backend); between replications
only its ``observed_counts`` data container changes. nutpie returns its raw Arrow trace, read
directly into numpy (building an ``arviz.InferenceData`` per replication would cost more than the
sampling itself). Settings: 1 chain, ``TUNE`` tuning steps with the mass-matrix adaptation that
``sample_posterior`` uses for small models, ``N_DRAWS * THIN`` draws thinned by ``THIN``,
``N_REPLICATIONS`` per family, fixed seeds (the ranks are deterministic).

Marked ``slow`` and ``calibration``: ``-m "not slow or calibration"`` runs them with the fast tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pytest
from reference_data import REFERENCE
from scipy import stats

from bayesfit.binning import CategoryAxis, Log10Axis, RectilinearBinning
from bayesfit.events import load_events
from bayesfit.inference.posterior import DENSE_MASS_MATRIX_MAX_SIZE
from bayesfit.model import BinnedModel
from bayesfit.predictors import Component, MatrixPredictor, PowerLaw, ReweightedMCPredictor, TemplatePredictor

pytestmark = [pytest.mark.slow, pytest.mark.calibration]

N_REPLICATIONS = 100
N_DRAWS = 49  # thinned posterior draws per replication: ranks 0..49, 5 per rank group
THIN = 2
TUNE = 200
RANK_BINS = 10
SMALL = REFERENCE / "hese" / "synthetic-small"


class Family(NamedTuple):
    """A model family for SBC.

    Attributes
    ----------
    model:
        The bayesfit model (its counts are placeholders replaced by each replication's pseudo-data).
    draw_truth:
        ``rng -> {name: value}``: a draw from the prior, written with numpy.
    simulate:
        ``(truth, rng) -> counts``: pseudo-data ``(n_bins,)`` from the generative process, in numpy.
    """

    model: BinnedModel
    draw_truth: Callable[[np.random.Generator], dict[str, np.ndarray]]
    simulate: Callable[[dict[str, np.ndarray], np.random.Generator], np.ndarray]


def posterior_draws(trace: Any, names: list[str]) -> dict[str, np.ndarray]:
    """Post-tuning draws ``{name: (n_draws, *shape)}`` of one chain from nutpie's raw Arrow trace."""
    import pyarrow

    (draw_batch,), (stat_batch,) = trace.get_arrow_trace()
    posterior = ~np.asarray(pyarrow.array(stat_batch.column("tuning")).to_numpy(zero_copy_only=False), dtype=bool)
    draws = {}
    for name in names:
        column = pyarrow.array(draw_batch.column(name))
        values = column.flatten().to_numpy() if pyarrow.types.is_large_list(column.type) else column.to_numpy()
        draws[name] = values.reshape(draw_batch.num_rows, -1)[posterior]
    return draws


def sbc_ranks(family: Family, seed: int) -> dict[str, np.ndarray]:
    """Rank of the true value among ``N_DRAWS`` posterior draws, ``{label: (N_REPLICATIONS,)}``.

    Labels are ``name`` for scalar parameters and ``name[i]`` for entries of vector ones.
    """
    nutpie = pytest.importorskip("nutpie")
    compiled = nutpie.compile_pymc_model(family.model.pymc_model, backend="numba")
    # the mass-matrix adaptation sample_posterior chooses: low-rank modified for small models
    low_rank = sum(p.size for p in family.model.free_parameters) <= DENSE_MASS_MATRIX_MAX_SIZE
    rng = np.random.default_rng(seed)
    ranks: dict[str, list[np.ndarray]] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for replication in range(N_REPLICATIONS):
        truth = family.draw_truth(rng)
        counts = family.simulate(truth, rng).astype(float)
        trace = nutpie.sample(
            compiled.with_data(observed_counts=counts), draws=N_DRAWS * THIN, tune=TUNE, chains=1, cores=1,
            seed=seed * 1000 + replication, progress_bar=False, return_raw_trace=True,
            low_rank_modified_mass_matrix=low_rank,
        )
        draws = posterior_draws(trace, list(truth))
        for name, value in truth.items():
            shapes[name] = np.shape(value)
            thinned = draws[name][::THIN]  # (N_DRAWS, size)
            ranks.setdefault(name, []).append(np.sum(thinned < np.ravel(value), axis=0))
    labelled = {}
    for name, per_replication in ranks.items():
        values = np.array(per_replication)  # (N_REPLICATIONS, size)
        if shapes[name] == ():
            labelled[name] = values[:, 0]
        else:
            labelled.update({f"{name}[{i}]": values[:, i] for i in range(values.shape[1])})
    return labelled


def uniformity_pvalue(ranks: np.ndarray) -> float:
    """Chi-square p-value of ranks ``0..N_DRAWS`` being uniform, in ``RANK_BINS`` equal groups."""
    groups = np.minimum(ranks * RANK_BINS // (N_DRAWS + 1), RANK_BINS - 1)
    observed = np.bincount(groups, minlength=RANK_BINS)
    return float(stats.chisquare(observed).pvalue)


def check_calibrated(name: str, family: Family, seed: int) -> None:
    """Run SBC, print the p-value of every parameter entry (for docs/validation.md), require > 0.01."""
    started = time.perf_counter()
    ranks = sbc_ranks(family, seed)
    pvalues = {label: uniformity_pvalue(values) for label, values in ranks.items()}
    print(
        f"SBC {name}: " + ", ".join(f"{label} p={p:.3f}" for label, p in pvalues.items())
        + f" ({N_REPLICATIONS} replications, {time.perf_counter() - started:.1f} s)"
    )
    for label, values in ranks.items():
        assert values.shape == (N_REPLICATIONS,)
        assert np.all((values >= 0) & (values <= N_DRAWS))
        assert pvalues[label] > 0.01, (name, label, np.bincount(values * RANK_BINS // (N_DRAWS + 1)))


# ---------------------------------------------------------------------- template fit
def template_family() -> Family:
    """Two templates in 5 bins, weights ~ Gamma(4, rate 4) (mean 1, sd 0.5)."""
    templates = np.array([[12.0, 8.0, 4.0, 2.0, 1.0], [2.0, 3.0, 4.0, 5.0, 6.0]])
    alpha, beta = 4.0, 4.0
    model = BinnedModel(
        TemplatePredictor(templates), np.ones(5, dtype=int),
        priors={"weights": {"Gamma": {"alpha": alpha, "beta": beta}}},
    )

    def draw_truth(rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {"weights": rng.gamma(alpha, 1.0 / beta, size=2)}

    def simulate(truth: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        return rng.poisson(truth["weights"] @ templates)

    return Family(model, draw_truth, simulate)


# ---------------------------------------------------------------------- response matrix, universes
def response_matrix_family() -> Family:
    """6 reco x 3 truth bins, 4 detector universes (weights 1:2:1:0.5) marginalised, truth ~ Gamma(5, 0.1)."""
    rng = np.random.default_rng(7)
    n_universes, n_reco, n_truth = 4, 6, 3
    base = rng.dirichlet(np.ones(n_reco + 1), size=n_truth).T[:n_reco]  # columns sum below 1
    matrices = base[None] * rng.uniform(0.7, 1.1, size=(n_universes, n_reco, n_truth))
    matrices /= np.maximum(1.0, matrices.sum(axis=1, keepdims=True))
    universe_weights = np.array([1.0, 2.0, 1.0, 0.5])
    alpha, beta = 5.0, 0.1  # mean 50, sd 22
    model = BinnedModel(
        MatrixPredictor(matrices, variation_weights=universe_weights, default=50.0), np.ones(n_reco, dtype=int),
        priors={"truth": {"Gamma": {"alpha": alpha, "beta": beta}}},
    )
    assert model.systematics == "marginalise"

    def draw_truth(rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {"truth": rng.gamma(alpha, 1.0 / beta, size=n_truth)}

    def simulate(truth: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        universe = rng.choice(n_universes, p=universe_weights / universe_weights.sum())
        return rng.poisson(matrices[universe] @ truth["truth"])

    return Family(model, draw_truth, simulate)


# ---------------------------------------------------------------------- HESE reweighted MC
def hese_family() -> Family:
    """synthetic-small HESE simulation (16k events) in 2 topologies x 5 log-energy bins, 3 parameters."""
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
    model = BinnedModel(predictor, np.ones(binning.size, dtype=int), priors=priors, starts={"astro_gamma": 2.75})
    weights = {name: np.asarray(simulation[name]) for name in ("atmoWeight", "astroWeight", "primaryEnergy")}
    bins = binning.bin_index(simulation)
    inside = bins >= 0

    def draw_truth(rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {
            "atmo_norm": np.asarray(rng.gamma(9.0, 1 / 9.0)),
            "astro_norm": np.asarray(rng.gamma(16.0, 1 / 2.0)),
            "astro_gamma": np.asarray(rng.uniform(2.0, 3.5)),
        }

    def simulate(truth: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        # the seed notebook's weight_event, binned with numpy
        event_weights = weights["atmoWeight"] * truth["atmo_norm"] + weights["astroWeight"] * truth["astro_norm"] * (
            weights["primaryEnergy"] / 1e5
        ) ** -(truth["astro_gamma"] - 2.5)
        expected = np.bincount(bins[inside], event_weights[inside], minlength=binning.size)
        return rng.poisson(expected)

    return Family(model, draw_truth, simulate)


def test_sbc_template_fit():
    check_calibrated("template", template_family(), seed=1)


def test_sbc_response_matrix_with_marginalised_universes():
    check_calibrated("response-matrix", response_matrix_family(), seed=2)


def test_sbc_hese_reweighted_mc():
    check_calibrated("hese-reweighted", hese_family(), seed=3)
