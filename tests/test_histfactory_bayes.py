"""Bayesian reading of workspaces: PyMC log density against scipy, posterior and credible limit
against numerical integration, Bayes factor against quadrature, ATLAS posterior against the ML fit."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pytest
from scipy import integrate, optimize, stats

from reference_data import REFERENCE
from bayesfit.errors import InferenceError, ModelError, WorkspaceError
from bayesfit.histfactory import HistFactoryModel
from bayesfit.histfactory.bayes import bayes_factor, build_pymc_model, poi_posterior, sample_posterior

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

    model = HistFactoryModel(MIXED)
    bayesian = build_pymc_model(model, free_priors={"mu": ("HalfNormal", {"sigma": 5.0})})
    assert bayesian.var_names == ("bkg_norm", "lumi", "mu", "shape", "stat")
    assert bayesian.pymc_model["shape"].ndim == 1 and "stat_free" in bayesian.pymc_model.named_vars
    logp = remove_value_transforms(bayesian.pymc_model).compile_logp()
    point = {"mu": 1.3, "lumi": 1.02, "bkg_norm": 1.0, "stat_free": np.array([0.97]),
             "shape": np.array([1.05, 0.9])}
    # by hand: normsys code 4 at alpha = 1 is exactly the "hi" factor; stat bin 2 is fixed at 1
    rates = point["mu"] * point["lumi"] * np.array([3.0, 1.0]) + (
        np.array([10.0, 20.0]) * 1.1 * np.array([0.97, 1.0]) * point["shape"])
    expected = stats.poisson.logpmf([15, 19], rates).sum()
    expected += stats.halfnorm(scale=5.0).logpdf(1.3) - stats.halfnorm(scale=5.0).logcdf(10.0)
    expected += stats.truncnorm.logpdf(1.02, (0.8 - 1) / 0.05, (1.2 - 1) / 0.05, loc=1.0, scale=0.05)
    expected += stats.truncnorm.logpdf(1.0, -5.0, 5.0)
    expected += stats.truncnorm.logpdf(0.97, (1e-10 - 1) / 0.1, (10 - 1) / 0.1, loc=1.0, scale=0.1)
    gamma = stats.gamma(26.0, scale=1 / 25.0)  # Gamma(alpha = tau + 1, beta = tau)
    expected += np.sum(gamma.logpdf(point["shape"]) - np.log(gamma.cdf(10.0) - gamma.cdf(1e-10)))
    assert logp(point) == pytest.approx(expected, abs=1e-8)  # erf-based normalisations: ~1e-9


def test_bad_requests_are_named():
    model = HistFactoryModel(COUNTING)
    with pytest.raises(ModelError, match="cannot fix 'nope'"):
        build_pymc_model(model, fixed={"nope": 0.0})
    with pytest.raises(WorkspaceError, match="'lumi' is constrained"):
        build_pymc_model(model, free_priors={"lumi": ("Normal", {"mu": 1, "sigma": 1})})
    with pytest.raises(ModelError, match="unknown distribution 'Lorentz'"):
        build_pymc_model(model, free_priors={"mu": ("Lorentz", {"gamma": 1.0})})
    with pytest.raises(ModelError, match="unknown sampler 'hmc'"):
        sample_posterior(build_pymc_model(model), sampler="hmc")


def test_posterior_mean_and_credible_upper_limit_match_quadrature():
    model = HistFactoryModel(COUNTING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = sample_posterior(build_pymc_model(model), draws=1500, tune=700, chains=2, seed=11,
                                 sampler="pymc", progressbar=False)
    assert {"posterior", "log_likelihood", "observed_data"} <= set(idata.groups())
    result = poi_posterior(idata, "mu", level=0.95)

    norm = integrate.quad(_marginal_mu_density, 0.0, MU_MAX, limit=200)[0]
    mean = integrate.quad(lambda mu: mu * _marginal_mu_density(mu), 0.0, MU_MAX, limit=200)[0] / norm
    limit = optimize.brentq(
        lambda x: integrate.quad(_marginal_mu_density, 0.0, x, limit=200)[0] / norm - 0.95, 0.1, MU_MAX)
    mcse_mean = float(az.mcse(idata, var_names=["mu"])["mu"])
    mcse_limit = float(az.mcse(idata, var_names=["mu"], method="quantile", prob=0.95)["mu"])
    assert abs(result.mean - mean) < 4 * mcse_mean
    assert abs(result.upper_limit - limit) < 4 * mcse_limit
    with pytest.raises(InferenceError, match="credibility level"):
        poi_posterior(idata, "mu", level=95)
    with pytest.raises(InferenceError, match="no 'nu' in the posterior"):
        poi_posterior(idata, "nu")


@pytest.mark.slow
def test_bayes_factor_matches_quadrature():
    model = HistFactoryModel(COUNTING)
    z_signal = integrate.dblquad(lambda lumi, mu: _likelihood(mu, lumi) * LUMI.pdf(lumi) / MU_MAX,
                                 0.0, MU_MAX, 0.5, 1.5)[0]
    z_background = integrate.quad(lambda lumi: _likelihood(0.0, lumi) * LUMI.pdf(lumi), 0.5, 1.5)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = bayes_factor(model, draws=2000, chains=2, seed=5)
    assert result.signal.log_evidence == pytest.approx(np.log(z_signal), abs=0.05)
    assert result.background.log_evidence == pytest.approx(np.log(z_background), abs=0.05)
    assert result.log_bayes_factor == pytest.approx(np.log(z_signal / z_background), abs=0.07)


@pytest.mark.slow
def test_atlas_posterior_converges_at_the_ml_value():
    from bayesfit.histfactory.fit import fit

    model = HistFactoryModel(REFERENCE / "pyhf" / "atlas-ttbar-ljets-xsec-inclusive-pruned.json")
    assert model.n_parameters == 132
    best = fit(model)
    bayesian = build_pymc_model(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = sample_posterior(bayesian, draws=1000, tune=1000, chains=4, seed=3, sampler="nutpie",
                                 progressbar=False)
    assert int(idata.sample_stats["diverging"].sum()) == 0
    rhat = az.rhat(idata, var_names=list(bayesian.var_names))
    assert max(float(np.nanmax(rhat[name].values)) for name in bayesian.var_names) < 1.01
    poi = poi_posterior(idata, model.poi_name)
    assert abs(poi.mean - best.poi) < 0.1 * poi.sd
    assert poi.sd == pytest.approx(best.poi_error, rel=0.15)  # near-Gaussian: sd close to the Hesse error
