"""Batched toy fits (bayesfit.inference.batched) against one fit per toy, on three model families.

Every study is computed twice on the same pseudo-data: by the batched fits (the default) and by
the per-toy L-BFGS-B fits (``batched=False``); the statistics agree to 1e-6 and the same toys
fail. The batched results do not depend on the batch size or the number of chunks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bayesfit.histfactory import build_model
from bayesfit.inference import batched, objective_for
from bayesfit.inference.test_statistics import LikelihoodRatio, MaxLikelihood, QMuTilde, Q0, TMu
from bayesfit.inference.toys import SerialExecutor, generate_toys, run_toys
from bayesfit.likelihood import GaussianConstraint, PoissonConstraint
from bayesfit.model import BinnedModel, ObservedData
from bayesfit.predictors import MatrixPredictor
from bayesfit.predictors.reweight import Component, ReweightedMCPredictor
from bayesfit.predictors.spectra import PowerLaw

N_TOYS = 200
ATLAS_WORKSPACE = Path(__file__).parents[1] / "models" / "inputs" / "atlas_ttbar" / "atlas-ttbar-ljets-xsec-inclusive-pruned.json"


# ---------------------------------------------------------------------- three model families
def reweighted_model() -> BinnedModel:
    """A HESE-like reweighted simulation: atmospheric and astrophysical power law, 12 bins."""
    rng = np.random.default_rng(4)
    n_events, n_bins = 3000, 12
    energy = np.exp(rng.uniform(np.log(1e4), np.log(1e7), n_events))
    events = {"energy": energy, "atmo": rng.exponential(4e-2, n_events) * (energy / 1e4) ** -0.7,
              "astro": rng.exponential(2e-2, n_events)}
    bin_index = np.minimum((np.log10(energy) - 4) / 3 * n_bins, n_bins - 1).astype(int)
    predictor = ReweightedMCPredictor(events, bin_index, n_bins, components=[
        Component("atmo", norm="atmo_norm"),
        Component("astro", norm="astro_norm", spectrum=PowerLaw("energy", index="astro_gamma", pivot=1e5,
                                                                generated_index=2.5)),
    ])
    expected = predictor.evaluate({"atmo_norm": 1.0, "astro_norm": 2.0, "astro_gamma": 2.5})[0]
    return BinnedModel(predictor, rng.poisson(expected), constraints=[GaussianConstraint("atmo_norm", [1.0], [0.3])])


def response_model() -> BinnedModel:
    """A response matrix (6 reco bins x 3 truth bins) with 5 detector universes, marginalised,
    and a Poisson-constrained truth bin."""
    rng = np.random.default_rng(8)
    base = np.array([[0.6, 0.1, 0.0], [0.3, 0.5, 0.1], [0.1, 0.3, 0.4], [0.0, 0.1, 0.3],
                     [0.0, 0.0, 0.1], [0.0, 0.0, 0.05]]) * 40
    matrices = base * rng.uniform(0.85, 1.15, (5, *base.shape))
    predictor = MatrixPredictor(matrices, constant=np.full(6, 2.0), variation_weights=[1, 2, 1, 1, 3])
    counts = rng.poisson(base @ np.array([1.0, 0.8, 0.5]) + 2.0)
    return BinnedModel(predictor, counts, constraints=[PoissonConstraint(predictor.parameter_names[0], [40.0], [50.0],
                                                                          entries=[1])])


WORKSPACE = {
    "version": "1.0.0",
    "channels": [
        {"name": "SR", "samples": [
            {"name": "signal", "data": [4.0, 7.0, 3.0], "modifiers": [
                {"name": "mu", "type": "normfactor", "data": None},
                {"name": "lumi", "type": "lumi", "data": None},
                {"name": "sig_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
                {"name": "stat_SR", "type": "staterror", "data": [0.5, 0.8, 0.3]},
            ]},
            {"name": "background", "data": [30.0, 20.0, 12.0], "modifiers": [
                {"name": "lumi", "type": "lumi", "data": None},
                {"name": "stat_SR", "type": "staterror", "data": [2.0, 1.5, 1.2]},
                {"name": "jes", "type": "histosys", "data": {"hi_data": [32.0, 21.0, 11.0], "lo_data": [28.5, 19.0, 12.5]}},
                {"name": "jes", "type": "normsys", "data": {"hi": 1.03, "lo": 0.98}},
                {"name": "bkg_shape", "type": "shapesys", "data": [3.0, 2.0, 2.0]},
            ]},
        ]},
        {"name": "CR", "samples": [
            {"name": "control", "data": [60.0, 45.0], "modifiers": [
                {"name": "bkg_cr", "type": "normsys", "data": {"hi": 1.2, "lo": 0.8}},
                {"name": "jes", "type": "histosys", "data": {"hi_data": [63.0, 46.0], "lo_data": [58.0, 44.0]}},
                {"name": "stat_CR", "type": "staterror", "data": [4.0, 3.0]},
            ]},
        ]},
    ],
    "observations": [{"name": "SR", "data": [38.0, 26.0, 14.0]}, {"name": "CR", "data": [63.0, 41.0]}],
    "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": [
        {"name": "lumi", "auxdata": [1.0], "sigmas": [0.02], "bounds": [[0.9, 1.1]], "inits": [1.0]},
    ]}}],
}


def bounded_workspace() -> dict:
    """Signal-dominated bins: at ``mu = 0`` the background's normalisation and shape uncertainties
    are pulled to their bounds (+-5), as a top-quark workspace's are in its background-only fit."""
    signal, background = [300.0, 500.0, 400.0, 200.0], [40.0, 60.0, 50.0, 30.0]
    sign = [1, -1, 1, 1, -1, 1]
    modifiers = [{"name": f"bkg_{k}", "type": "normsys",
                  "data": {"hi": 1.0 + sign[k] * 0.02 * (k + 1), "lo": 1.0 - sign[k] * 0.015 * (k + 1)}} for k in range(6)]
    modifiers += [{"name": "bkg_shape", "type": "histosys",
                   "data": {"hi_data": [44.0, 61.0, 50.0, 27.0], "lo_data": [37.0, 59.0, 50.0, 33.0]}},
                  {"name": "stat", "type": "staterror", "data": [3.0, 4.0, 4.0, 3.0]}]
    signal_modifiers = [{"name": "mu", "type": "normfactor", "data": None},
                        {"name": "sig_shape", "type": "histosys",
                         "data": {"hi_data": [320.0, 510.0, 390.0, 180.0], "lo_data": [285.0, 490.0, 410.0, 215.0]}},
                        {"name": "sig_norm", "type": "normsys", "data": {"hi": 1.05, "lo": 0.95}},
                        {"name": "stat", "type": "staterror", "data": [8.0, 10.0, 9.0, 7.0]}]
    return {"version": "1.0.0",
            "channels": [{"name": "SR", "samples": [
                {"name": "signal", "data": signal, "modifiers": signal_modifiers},
                {"name": "background", "data": background, "modifiers": modifiers}]}],
            "observations": [{"name": "SR", "data": [s + b for s, b in zip(signal, background)]}],
            "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}]}


@pytest.fixture(scope="module")
def objectives():
    return {"reweighted": objective_for(reweighted_model()), "response": objective_for(response_model()),
            "workspace": objective_for(build_model(WORKSPACE)), "bounded": objective_for(build_model(bounded_workspace()))}


def study(objective, statistic, point, *, batched_fits=True, n_toys=N_TOYS, n_workers=1, seed=3):
    return run_toys(objective, statistic, point, n_toys, seed=seed, executor=SerialExecutor(), n_workers=n_workers,
                    batched=batched_fits).statistics


def assert_same(ours: np.ndarray, theirs: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_allclose(ours[np.isfinite(ours)], theirs[np.isfinite(theirs)], rtol=0, atol=1e-6)


def cases(objectives):
    """(objective, statistic, generating point) of every family and statistic family."""
    from bayesfit.inference import fit

    reweighted, response, workspace, bounded = (objectives[name] for name in ("reweighted", "response", "workspace",
                                                                              "bounded"))
    best = {name: fit(objective, errors=False).values for name, objective in objectives.items()}
    truth = response.labels()[0]
    background = fit(workspace, fixed={"mu": 0.0}, errors=False).values
    return {
        "reweighted gof": (reweighted, LikelihoodRatio({}), best["reweighted"]),
        "reweighted ratio": (reweighted, LikelihoodRatio({"astro_gamma": 2.5}), best["reweighted"]),
        "response ratio": (response, LikelihoodRatio({truth: 1.0}), best["response"]),
        "response max_likelihood": (response, MaxLikelihood({truth: 1.0}), best["response"]),
        "workspace qmu_tilde null": (workspace, QMuTilde("mu", 1.5), fit(workspace, fixed={"mu": 1.5}, errors=False).values),
        "workspace qmu_tilde background": (workspace, QMuTilde("mu", 1.5), background),
        "workspace q0": (workspace, Q0("mu", 0.0), background),
        "workspace tmu": (workspace, TMu("mu", 1.0), best["workspace"]),
        "bounded qmu_tilde background": (bounded, QMuTilde("mu", 0.2), fit(bounded, fixed={"mu": 0.0}, errors=False).values),
    }


CASES = ["reweighted gof", "reweighted ratio", "response ratio", "response max_likelihood",
         "workspace qmu_tilde null", "workspace qmu_tilde background", "workspace q0", "workspace tmu",
         "bounded qmu_tilde background"]


@pytest.fixture(scope="module")
def all_cases(objectives):
    return cases(objectives)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no NaN arithmetic, e.g. in the fits' curvature scales
@pytest.mark.parametrize("name", CASES)
def test_batched_equals_per_toy_fits(all_cases, name):
    objective, statistic, point = all_cases[name]
    ours = study(objective, statistic, point)
    theirs = study(objective, statistic, point, batched_fits=False)
    assert_same(ours, theirs)
    assert np.isfinite(ours).sum() > N_TOYS // 2 and np.ptp(ours[np.isfinite(ours)]) > 0.1  # a real spread


def test_batched_fits_do_not_depend_on_batch_size_or_chunks(all_cases, monkeypatch):
    objective, statistic, point = all_cases["workspace qmu_tilde background"]
    reference = study(objective, statistic, point, n_toys=60)
    np.testing.assert_array_equal(study(objective, statistic, point, n_toys=60, n_workers=5), reference)
    monkeypatch.setattr(batched, "BATCH_SIZE", 7)
    np.testing.assert_array_equal(study(objective, statistic, point, n_toys=60), reference)
    # the first toys do not change when the study grows
    np.testing.assert_array_equal(study(objective, statistic, point, n_toys=25), reference[:25])


def test_toys_whose_batched_fits_stop_early_are_fitted_one_by_one(all_cases, monkeypatch):
    """With a single quasi-Newton iteration allowed almost no toy converges: the per-toy fits
    take them, and the statistics are still those of the per-toy path."""
    objective, statistic, point = all_cases["workspace qmu_tilde null"]
    theirs = study(objective, statistic, point, n_toys=20, batched_fits=False)
    monkeypatch.setattr(batched, "MAX_ITERATIONS", 1)
    assert_same(study(objective, statistic, point, n_toys=20), theirs)


def test_background_toys_with_nuisances_at_their_bounds_converge_batched():
    """The ATLAS top-pair workspace's background-only point (``mu = 0``) has about 40 nuisance
    parameters at their bounds (+-5): every batched unconditional fit of its toys converges (no
    per-toy fit is needed), to the per-toy fits' minima or below (those stop up to ~1e-6 above)."""
    from bayesfit.inference import fit

    objective = objective_for(build_model(ATLAS_WORKSPACE))
    point = fit(objective, fixed={"ttbarXsec": 0.0}, errors=False).values
    x = objective.pack(point)
    assert np.sum((x <= objective.lower + 1e-9) | (x >= objective.upper - 1e-9)) >= 30  # the premise
    toys = generate_toys(objective, point, 16, seed=11)
    bounds = {"ttbarXsec": (0.0, None)}
    free = batched._fit(objective, toys, point, {}, bounds, batched._expected_data(objective, point))
    assert free.converged.all()
    for i in range(2):
        data = ObservedData(toys.main[i], toys.aux[i])
        per_toy = fit(objective, observed=data, starts=[point], bounds=bounds, n_random_starts=0, errors=False)
        assert free.nll[i] <= objective(objective.pack(per_toy.values), data) + 1e-7


def test_step_over_unheld_entries_is_the_newton_step_and_independent_of_the_batch():
    """The step with held entries is -(H_FF)^-1 g_F of each toy's Hessian H, and a toy's step is
    the same bit for bit whichever toys share its batch."""
    rng = np.random.default_rng(0)
    n, m = 40, 60  # held sets of ~18 entries: a system of their union (~60) factorises in other blocks
    factors = rng.normal(size=(n, m, m))
    inverse = factors @ factors.transpose(0, 2, 1) + m * np.eye(m)
    gradient = rng.normal(size=(n, m))
    held = rng.random((n, m)) < 0.3
    step = batched._direction(inverse, gradient, held)
    for toy in range(n):
        free = ~held[toy]
        hessian = np.linalg.inv(inverse[toy])
        expected = np.zeros(m)
        expected[free] = -np.linalg.solve(hessian[np.ix_(free, free)], gradient[toy, free])
        np.testing.assert_allclose(step[toy], expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(batched._direction(inverse[5:9], gradient[5:9], held[5:9]), step[5:9])


def test_batched_objective_is_the_objective_toy_by_toy(objectives):
    objective = objectives["workspace"]
    rng = np.random.default_rng(1)
    x0 = objective.pack(objective.model.start_point())
    x = x0 * rng.uniform(0.9, 1.1, (5, x0.size))
    toys = generate_toys(objective, objective.unpack(x0), 5, seed=2)
    values, gradients = batched.batched_objective(objective).value_and_grad(x, toys.main, toys.aux)
    for i in range(5):
        value, gradient = objective.value_and_grad(x[i], ObservedData(toys.main[i], toys.aux[i]))
        assert values[i] == pytest.approx(value, rel=1e-12)
        np.testing.assert_allclose(gradients[i], gradient, rtol=1e-10, atol=1e-10)


def test_vectorised_toys_draw_every_constraint_from_its_own_stream(objectives):
    """Gaussian and Poisson auxiliary data and universes: moments, and toy i does not change
    when n_toys grows."""
    objective = objectives["workspace"]
    point = objective.unpack(objective.pack(objective.model.start_point()))
    many = generate_toys(objective, point, 3000, seed=9)
    few = generate_toys(objective, point, 7, seed=9)
    np.testing.assert_array_equal(many.main[:7], few.main)
    np.testing.assert_array_equal(many.aux[:7], few.aux)
    sequence = np.random.SeedSequence(9)
    np.testing.assert_array_equal(generate_toys(objective, point, 7, seed=sequence).main, few.main)
    np.testing.assert_array_equal(generate_toys(objective, point, 7, seed=sequence).main, few.main)  # not advanced
    model = objective.model
    expected = model.expected_aux(point)
    for constraint, _, _, place in model._constraint_slots:
        drawn = many.aux[:, place]
        if isinstance(constraint, GaussianConstraint):
            np.testing.assert_allclose(drawn.std(axis=0), constraint.sigma, rtol=0.1)
        else:
            np.testing.assert_array_equal(drawn, np.round(drawn))
            np.testing.assert_allclose(drawn.var(axis=0), expected[place], rtol=0.15)
        np.testing.assert_array_less(np.abs(drawn.mean(axis=0) - expected[place]),
                                     5 * drawn.std(axis=0) / np.sqrt(3000) + 1e-12)
