"""Simulation-based calibration (Talts et al. 2018, arXiv:1804.06788) of five model families.

For each replication a parameter point is drawn from the prior (with numpy, independent of PyMC),
pseudo-data from the model's own generative process written in numpy (universe first, then Poisson
counts), and the posterior is sampled with NUTS. The rank of the true value among ``N_DRAWS``
thinned posterior draws is uniform on ``0..N_DRAWS`` if and only if the posterior is calibrated.
Two chi-square tests must give ``p > 0.01`` for every parameter entry: on all ranks (each value
``0..N_DRAWS`` its own cell, ``N_REPLICATIONS / (N_DRAWS + 1) = 10`` expected per cell) and on
``RANK_BINS`` equal groups of ranks (20 expected per group). The hierarchical families must also
run without a single divergent transition.

Cost: the PyMC model of a family is compiled once (nutpie, numba backend); between replications
only its ``observed_counts`` data container changes. nutpie returns its raw Arrow trace, read
directly into numpy (building an ``arviz.InferenceData`` per replication would cost more than the
sampling itself). Settings: 1 chain, ``TUNE`` tuning steps with the mass-matrix adaptation and
target acceptance that ``sample_posterior`` uses for these models, ``N_DRAWS * THIN`` draws
thinned by ``THIN``, ``N_REPLICATIONS`` per family, fixed seeds (the ranks are deterministic).

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

N_REPLICATIONS = 200
N_DRAWS = 19  # thinned posterior draws per replication: ranks 0..19, 10 expected per rank, 2 ranks per group
THIN = 5
TUNE = 200
RANK_BINS = 10
#: sample_posterior's default target acceptance for models without auxiliary measurements.
TARGET_ACCEPT = 0.9
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


class Ranks(NamedTuple):
    """SBC output: ``ranks`` ``{label: (N_REPLICATIONS,)}`` and the number of divergent
    transitions after tuning, summed over the replications."""

    ranks: dict[str, np.ndarray]
    divergences: int


def posterior_draws(trace: Any, names: list[str]) -> tuple[dict[str, np.ndarray], int]:
    """Post-tuning draws ``{name: (n_draws, *shape)}`` of one chain from nutpie's raw Arrow trace,
    and its number of divergent post-tuning transitions."""
    import pyarrow

    (draw_batch,), (stat_batch,) = trace.get_arrow_trace()

    def flags(name: str) -> np.ndarray:
        return np.asarray(pyarrow.array(stat_batch.column(name)).to_numpy(zero_copy_only=False), dtype=bool)

    posterior = ~flags("tuning")
    draws = {}
    for name in names:
        column = pyarrow.array(draw_batch.column(name))
        values = column.flatten().to_numpy() if pyarrow.types.is_large_list(column.type) else column.to_numpy()
        draws[name] = values.reshape(draw_batch.num_rows, -1)[posterior]
    return draws, int(flags("diverging")[posterior].sum())


def sbc_ranks(family: Family, seed: int) -> Ranks:
    """Rank of the true value among ``N_DRAWS`` posterior draws per replication.

    Labels are ``name`` for scalar parameters and ``name[i]`` for entries of vector ones.
    """
    nutpie = pytest.importorskip("nutpie")
    compiled = nutpie.compile_pymc_model(family.model.pymc_model, backend="numba")
    # the mass-matrix adaptation sample_posterior chooses: low-rank modified for small models
    low_rank = sum(p.size for p in family.model.free_parameters) <= DENSE_MASS_MATRIX_MAX_SIZE
    rng = np.random.default_rng(seed)
    ranks: dict[str, list[np.ndarray]] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    divergences = 0
    for replication in range(N_REPLICATIONS):
        truth = family.draw_truth(rng)
        counts = family.simulate(truth, rng).astype(float)
        trace = nutpie.sample(
            compiled.with_data(observed_counts=counts), draws=N_DRAWS * THIN, tune=TUNE, chains=1, cores=1,
            seed=seed * 1000 + replication, progress_bar=False, return_raw_trace=True,
            low_rank_modified_mass_matrix=low_rank, target_accept=TARGET_ACCEPT,
        )
        draws, diverging = posterior_draws(trace, list(truth))
        divergences += diverging
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
    return Ranks(labelled, divergences)


def all_ranks_pvalue(ranks: np.ndarray) -> float:
    """Chi-square p-value of ranks ``0..N_DRAWS`` being uniform, each rank its own cell."""
    return float(stats.chisquare(np.bincount(ranks, minlength=N_DRAWS + 1)).pvalue)


def grouped_pvalue(ranks: np.ndarray) -> float:
    """Chi-square p-value of ranks ``0..N_DRAWS`` being uniform, in ``RANK_BINS`` equal groups."""
    return float(stats.chisquare(np.bincount(rank_groups(ranks), minlength=RANK_BINS)).pvalue)


def rank_groups(ranks: np.ndarray) -> np.ndarray:
    return np.minimum(ranks * RANK_BINS // (N_DRAWS + 1), RANK_BINS - 1)


def check_calibrated(name: str, family: Family, seed: int, *, divergence_free: bool = False) -> None:
    """Run SBC, print both p-values of every parameter entry and the divergences (for
    docs/validation.md), require both p-values > 0.01 (and no divergence if ``divergence_free``)."""
    assert (N_DRAWS + 1) % RANK_BINS == 0 and N_REPLICATIONS / (N_DRAWS + 1) >= 5  # valid chi-square tests
    started = time.perf_counter()
    result = sbc_ranks(family, seed)
    pvalues = {label: (all_ranks_pvalue(values), grouped_pvalue(values)) for label, values in result.ranks.items()}
    print(
        f"SBC {name}: "
        + ", ".join(f"{label} p={p_all:.3f}/{p_grouped:.3f}" for label, (p_all, p_grouped) in pvalues.items())
        + f" (all ranks/10 groups; {result.divergences} divergences; {N_REPLICATIONS} replications, "
        f"{time.perf_counter() - started:.1f} s)"
    )
    for label, values in result.ranks.items():
        assert values.shape == (N_REPLICATIONS,)
        assert np.all((values >= 0) & (values <= N_DRAWS))
        p_all, p_grouped = pvalues[label]
        assert p_all > 0.01, (name, label, "all ranks", np.bincount(values, minlength=N_DRAWS + 1))
        assert p_grouped > 0.01, (name, label, "groups", np.bincount(rank_groups(values), minlength=RANK_BINS))
    if divergence_free:
        assert result.divergences == 0, (name, result.divergences)


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


# ---------------------------------------------------------------------- hierarchical template norms
HIERARCHICAL_SIZES = np.array([20.0, 60.0, 200.0, 800.0])  # expected events of each template at norm 1
HIERARCHICAL_SCALE = 0.5  # tau ~ HalfNormal(0.5)


def hierarchical_templates() -> np.ndarray:
    """4 overlapping Gaussian-shaped templates in 10 bins, ``(4, 10)``, with 20 to 800 events: the
    likelihood's sd of each norm alone is 0.40, 0.30, 0.15, 0.04, so with ``tau ~ HalfNormal(0.5)``
    the data dominate a norm's prior (``tau^2 F > 1``) in 43%, 55%, 77%, 94% of the prior draws."""
    centres, widths = np.array([1.5, 4.0, 6.0, 8.5]), np.array([1.5, 1.5, 2.0, 2.5])
    shapes = np.exp(-0.5 * ((np.arange(10) + 0.5 - centres[:, None]) / widths[:, None]) ** 2)
    return shapes / shapes.sum(axis=1, keepdims=True) * HIERARCHICAL_SIZES[:, None]


def hierarchical_family(distribution: str) -> Family:
    """Template norms sharing a scale: ``Normal(1, tau)`` truncated at the norms' bound 0, or
    ``LogNormal(0, tau)``, with ``tau ~ HalfNormal(0.5)`` (``non_centered="auto"``)."""
    templates = hierarchical_templates()
    n_templates = len(templates)
    prior = {"mu": 1.0 if distribution == "Normal" else 0.0, "sigma": "tau"}
    model = BinnedModel(
        TemplatePredictor(templates), np.ones(templates.shape[1], dtype=int), priors={"weights": {distribution: prior}},
        hyperpriors={"tau": {"HalfNormal": {"sigma": HIERARCHICAL_SCALE}}},
    )

    def draw_truth(rng: np.random.Generator) -> dict[str, np.ndarray]:
        tau = abs(rng.normal(0.0, HIERARCHICAL_SCALE))
        if distribution == "LogNormal":
            return {"tau": np.asarray(tau), "weights": np.exp(rng.normal(0.0, tau, n_templates))}
        weights = rng.normal(1.0, tau, n_templates)
        while np.any(negative := weights < 0):  # the truncation at 0, by rejection
            weights[negative] = rng.normal(1.0, tau, int(negative.sum()))
        return {"tau": np.asarray(tau), "weights": weights}

    def simulate(truth: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        return rng.poisson(truth["weights"] @ templates)

    return Family(model, draw_truth, simulate)


def test_sbc_template_fit():
    check_calibrated("template", template_family(), seed=1)


def test_sbc_response_matrix_with_marginalised_universes():
    check_calibrated("response-matrix", response_matrix_family(), seed=2)


def test_sbc_hese_reweighted_mc():
    check_calibrated("hese-reweighted", hese_family(), seed=3)


def test_sbc_hierarchical_normal_norms():
    check_calibrated("hierarchical-normal", hierarchical_family("Normal"), seed=4, divergence_free=True)


def test_sbc_hierarchical_lognormal_norms():
    check_calibrated("hierarchical-lognormal", hierarchical_family("LogNormal"), seed=5, divergence_free=True)
