"""Bayesian reading of workspaces: PyMC log density against scipy, posterior and credible limit
against numerical integration, Bayes factor against quadrature, ATLAS posterior against the ML fit."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pytest
from scipy import integrate, optimize, stats

from reference_data import REFERENCE
from bayesfit.errors import ModelError
from bayesfit.histfactory import build_model
from bayesfit.inference import bayes_factor, fit, objective_for, sample_posterior, upper_limit

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

# One channel, two bins; every constraint type. "stat" covers only the background, whose second bin
# has no MC uncertainty (that entry is fixed at 1); shapesys tau = (10/2)^2 = (20/4)^2 = 25.
MIXED = {
    "version": "1.0.0",
    "channels": [{"name": "SR", "samples": [
        {"name": "signal", "data": [3.0, 1.0], "modifiers": [
            {"name": "mu", "type": "normfactor", "data": None},
            {"name": "lumi", "type": "lumi", "data": None},
        ]},
        {"name": "background", "data": [10.0, 20.0], "modifiers": [
            {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
            {"name": "stat", "type": "staterror", "data": [1.0, 0.0]},
            {"name": "shape", "type": "shapesys", "data": [2.0, 4.0]},
        ]},
    ]}],
    "observations": [{"name": "SR", "data": [15.0, 19.0]}],
    "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": [
        {"name": "lumi", "auxdata": [1.0], "sigmas": [0.05], "bounds": [[0.8, 1.2]], "inits": [1.0]},
    ]}}],
}

# One bin: n = 4 observed, signal 2 mu, background 3, all scaled by lumi ~ Normal(1, 0.1) on [0.5, 1.5].
COUNTING = {
    "version": "1.0.0",
    "channels": [{"name": "bin", "samples": [
        {"name": "signal", "data": [2.0], "modifiers": [
            {"name": "mu", "type": "normfactor", "data": None},
            {"name": "lumi", "type": "lumi", "data": None},
        ]},
        {"name": "background", "data": [3.0], "modifiers": [{"name": "lumi", "type": "lumi", "data": None}]},
    ]}],
    "observations": [{"name": "bin", "data": [4.0]}],
    "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": [
        {"name": "lumi", "auxdata": [1.0], "sigmas": [0.1], "bounds": [[0.5, 1.5]], "inits": [1.0]},
    ]}}],
}
N_OBSERVED, SIGNAL, BACKGROUND, MU_MAX = 4, 2.0, 3.0, 10.0
LUMI = stats.truncnorm(-5.0, 5.0, loc=1.0, scale=0.1)


def _likelihood(mu: float, lumi: float) -> float:
    return stats.poisson.pmf(N_OBSERVED, lumi * (SIGNAL * mu + BACKGROUND))


def _marginal_mu_density(mu: float) -> float:
    """Unnormalised marginal posterior of mu (flat prior on [0, 10])."""
    return integrate.quad(lambda lumi: _likelihood(mu, lumi) * LUMI.pdf(lumi), 0.5, 1.5)[0]


def test_log_density_is_the_prior_product_times_poisson_terms():
    from pymc.model.transform.conditioning import remove_value_transforms

    model = build_model(MIXED, priors={"mu": {"HalfNormal": {"sigma": 5.0}}})
    pymc_model = model.pymc_model
    # sampled: Gaussian-constrained entries as standardised pulls, the Gamma ones as their own vector
    assert {v.name for v in pymc_model.free_RVs} == {"gaussian_pulls", "shape", "mu"}
    np.testing.assert_array_equal(pymc_model.coords["gaussian_pulls_entries"], ["bkg_norm", "lumi", "stat[0]"])
    theta = {"mu": 1.3, "lumi": 1.02, "bkg_norm": 1.0, "stat": np.array([0.97, 1.0]), "shape": np.array([1.05, 0.9])}
    sigmas = np.array([1.0, 0.05, 0.1])  # of bkg_norm, lumi, stat[0]; their prior means are 0, 1, 1
    point = {"mu": theta["mu"], "shape": theta["shape"],
             "gaussian_pulls": (np.array([theta["bkg_norm"], theta["lumi"], theta["stat"][0]]) - [0.0, 1.0, 1.0]) / sigmas}
    # (the model's start values are irrelevant here, and the conversion refuses them)
    pymc_model.rvs_to_initial_values = {rv: None for rv in pymc_model.rvs_to_initial_values}
    unconstrained = remove_value_transforms(pymc_model)
    names = ("bkg_norm", "lumi", "stat")
    outputs = unconstrained.replace_rvs_by_values([unconstrained[name] for name in names])
    values = unconstrained.compile_fn(outputs, inputs=unconstrained.value_vars, on_unused_input="ignore")(point)
    for name, value in zip(names, values):
        np.testing.assert_allclose(value, theta[name], rtol=1e-14, err_msg=name)
    # by hand, in the natural parameters: normsys code 4 at alpha = 1 is exactly the "hi" factor;
    # stat bin 2 is fixed at 1 (zero MC uncertainty)
    rates = theta["mu"] * theta["lumi"] * np.array([3.0, 1.0]) + (
        np.array([10.0, 20.0]) * 1.1 * theta["stat"] * theta["shape"])
    expected = stats.poisson.logpmf([15, 19], rates).sum()
    expected += stats.halfnorm(scale=5.0).logpdf(1.3) - stats.halfnorm(scale=5.0).logcdf(10.0)
    expected += stats.truncnorm.logpdf(1.02, (0.8 - 1) / 0.05, (1.2 - 1) / 0.05, loc=1.0, scale=0.05)
    expected += stats.truncnorm.logpdf(1.0, -5.0, 5.0)
    expected += stats.truncnorm.logpdf(0.97, (1e-10 - 1) / 0.1, (10 - 1) / 0.1, loc=1.0, scale=0.1)
    gamma = stats.gamma(26.0, scale=1 / 25.0)  # Gamma(alpha = tau + 1, beta = tau)
    expected += np.sum(gamma.logpdf(theta["shape"]) - np.log(gamma.cdf(10.0) - gamma.cdf(1e-10)))
    # the pulls z = (theta - mu) / sigma carry the constant Jacobian prod(sigma): same posterior in theta
    expected += np.sum(np.log(sigmas))
    assert unconstrained.compile_logp()(point) == pytest.approx(expected, abs=1e-8)  # erf normalisations: ~1e-9
    # the same priors in the model's own log density (natural units, normalised on the bounds)
    import pytensor

    symbols = {v.name: pytensor.tensor.tensor(name=v.name, shape=v.shape, dtype="float64") for v in model.variables}
    prior = pytensor.function(list(symbols.values()), model.log_prior(symbols))
    assert float(prior(*(np.asarray(theta[v.name], dtype=float) for v in model.variables))) == pytest.approx(
        expected - stats.poisson.logpmf([15, 19], rates).sum() - np.sum(np.log(sigmas)), abs=1e-8)


def test_bad_requests_are_named():
    with pytest.raises(ModelError, match="'lumi' is constrained"):
        build_model(COUNTING, priors={"lumi": {"Normal": {"mu": 1, "sigma": 1}}})
    with pytest.raises(ModelError, match="unknown parameter 'nope'"):
        build_model(COUNTING, priors={"nope": {"Normal": {"mu": 1, "sigma": 1}}})
    with pytest.raises(ModelError, match="unknown sampler 'hmc'"):
        sample_posterior(build_model(COUNTING), sampler="hmc")


def test_posterior_mean_and_credible_upper_limit_match_quadrature():
    model = build_model(COUNTING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = sample_posterior(model, draws=1500, tune=700, chains=2, seed=11, sampler="pymc", progressbar=False)
    assert {"posterior", "log_likelihood", "observed_data"} <= set(idata.groups())
    limit = upper_limit(model, method="credible", idata=idata)
    draws = idata.posterior["mu"].values.ravel()
    assert limit.method == "credible" and limit.observed == pytest.approx(np.quantile(draws, 0.95))

    norm = integrate.quad(_marginal_mu_density, 0.0, MU_MAX, limit=200)[0]
    mean = integrate.quad(lambda mu: mu * _marginal_mu_density(mu), 0.0, MU_MAX, limit=200)[0] / norm
    quantile = optimize.brentq(
        lambda x: integrate.quad(_marginal_mu_density, 0.0, x, limit=200)[0] / norm - 0.95, 0.1, MU_MAX)
    mcse_mean = float(az.mcse(idata, var_names=["mu"])["mu"])
    mcse_limit = float(az.mcse(idata, var_names=["mu"], method="quantile", prob=0.95)["mu"])
    assert abs(draws.mean() - mean) < 4 * mcse_mean
    assert abs(limit.observed - quantile) < 4 * mcse_limit


@pytest.mark.slow
def test_bayes_factor_matches_quadrature():
    model = build_model(COUNTING)
    z_signal = integrate.dblquad(lambda lumi, mu: _likelihood(mu, lumi) * LUMI.pdf(lumi) / MU_MAX,
                                 0.0, MU_MAX, 0.5, 1.5)[0]
    z_background = integrate.quad(lambda lumi: _likelihood(0.0, lumi) * LUMI.pdf(lumi), 0.5, 1.5)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = bayes_factor(model, {"mu": 0.0}, draws=2000, chains=2, seed=5)
    assert result.numerator.log_evidence == pytest.approx(np.log(z_signal), abs=0.05)
    assert result.denominator.log_evidence == pytest.approx(np.log(z_background), abs=0.05)
    assert result.ln_bayes_factor == pytest.approx(np.log(z_signal / z_background), abs=0.07)


def laplace_poi_mean(model, poi_hat: float, poi_error: float) -> float:
    """Posterior mean of the POI (flat prior) in the Laplace approximation of the nuisance integral:
    p(mu) ~ L(mu, best nuisance) det(H_nuisance(mu))^(-1/2), on a grid of +-5 Hesse errors."""
    from scipy.interpolate import CubicSpline

    objective = objective_for(model)
    nuisance = np.array([label != model.poi for label in objective.labels()])
    grid = poi_hat + poi_error * np.linspace(-5.0, 5.0, 21)
    log_density = []
    for poi in grid:
        conditional = fit(model, fixed={model.poi: poi}, errors=False)
        hessian = objective.hessian(conditional.x, entries=np.flatnonzero(nuisance))
        log_density.append(-conditional.nll - 0.5 * np.linalg.slogdet(hessian)[1])
    fine = np.linspace(grid[0], grid[-1], 4001)
    density = np.exp(CubicSpline(grid, np.array(log_density) - max(log_density))(fine))
    return float(integrate.trapezoid(fine * density, fine) / integrate.trapezoid(density, fine))


@pytest.mark.slow
def test_atlas_posterior_converges_at_the_ml_value():
    model = build_model(REFERENCE / "pyhf" / "atlas-ttbar-ljets-xsec-inclusive-pruned.json")
    assert sum(v.size for v in model.parameters) == 132
    best = fit(model)
    poi_hat, poi_error = best.value(model.poi), float(best.errors[model.poi])
    # defaults: nutpie, low-rank mass matrix, target_accept 0.98, constraint groups started from
    # prior draws (a few minutes on 2 cores; settings and numbers in docs/histfactory.md)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = sample_posterior(model, draws=2000, tune=1000, chains=4, seed=3, sampler="nutpie", progressbar=False)
    assert int(idata.sample_stats["diverging"].sum()) == 0
    names = [v.name for v in model.free_parameters]
    rhat = az.rhat(idata, var_names=names)
    # the largest of 131 r-hats of 4 x 2000 draws: 1.006-1.011 in runs with different seeds
    assert max(float(np.nanmax(rhat[name].values)) for name in names) < 1.015
    draws = idata.posterior[model.poi].values.ravel()
    mean, sd = draws.mean(), draws.std(ddof=1)
    mcse = float(az.mcse(idata, var_names=[model.poi])[model.poi])
    # The marginal posterior mean is not the ML value: the profile likelihood falls more slowly
    # above it and the nuisance volume det(H)^(-1/2) grows with the POI. The Laplace approximation
    # puts the mean 0.09 sd above the ML value.
    assert mean == pytest.approx(laplace_poi_mean(model, poi_hat, poi_error), abs=4 * mcse)
    assert abs(mean - poi_hat) < 0.1 * sd + 3 * mcse
    assert sd == pytest.approx(poi_error, rel=0.15)  # near-Gaussian: sd close to the Hesse error
