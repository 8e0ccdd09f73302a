"""A user term (``BinnedModel(..., extra_terms=...)``) counts in every inference, by exactly the
right amount: each path is compared with an independent numpy/scipy computation of the same
quantity with the term (closed-form derivatives solved by root finding, 1-D quadrature), and
shown to differ from the same quantity without it.

Two small models:

* ``one``: one rate ``mu`` (a template on a constant background, 3 bins), an external Gaussian
  measurement ``mu = 1.0 +- 0.3`` as the user term and a Gamma(2, 1) prior (the Bayesian paths:
  MAP, NUTS, SMC; posterior and evidence by quadrature);
* ``two``: a signal and a background normalisation (4 bins), an external measurement of the
  background normalisation ``1.0 +- 0.1`` as a lambda (the frequentist paths: ML fit, profile,
  toy p-value on one process and on two, asymptotic ``qmu_tilde`` hypotest).

The user term is a fixed function of the parameters: toys resample the main counts only (the
term has no data of its own), and the numpy re-implementation does the same.
"""

from __future__ import annotations

import multiprocessing
import pickle
import warnings
from concurrent.futures import ProcessPoolExecutor

import arviz as az
import cloudpickle
import numpy as np
import pymc as pm
import pytest
from scipy import integrate, optimize, special, stats

from bayesfit.errors import ModelError
from bayesfit.inference import fit, hypotest, profile_likelihood, sample_posterior
from bayesfit.inference.bayes_factor import log_evidence_smc
from bayesfit.inference.objective import Objective, objective_for
from bayesfit.inference.toys import SerialExecutor, generate_toys, toy_pvalue
from bayesfit.model import BinnedModel
from bayesfit.predictors import TemplatePredictor

# ---------------------------------------------------------------------- model "one": one rate
RATE_TEMPLATE = np.array([4.0, 6.0, 10.0])
RATE_BACKGROUND = np.array([2.0, 2.0, 1.0])
RATE_COUNTS = np.array([9.0, 12.0, 20.0])
RATE_MEASURED, RATE_SIGMA = 1.0, 0.3  # the external measurement of mu (the user term)
GAMMA_ALPHA, GAMMA_BETA = 2.0, 1.0  # prior of mu
RATE_PRIOR = {"mu": {"Gamma": {"alpha": GAMMA_ALPHA, "beta": GAMMA_BETA}}}


def rate_measurement(values):
    """The user term of model ``one``: ln N(RATE_MEASURED | mu, RATE_SIGMA) up to a constant."""
    return -0.5 * ((values["mu"][0] - RATE_MEASURED) / RATE_SIGMA) ** 2


# ---------------------------------------------------------------------- model "two": signal + background
SIGNAL = np.array([1.0, 3.0, 6.0, 2.0])
BACKGROUND = np.array([10.0, 8.0, 5.0, 3.0])
COUNTS = np.array([15.0, 13.0, 13.0, 6.0])
BACKGROUND_MEASURED, BACKGROUND_SIGMA = 1.0, 0.1  # external measurement of the background normalisation
POI = "weights[signal]"
TOY_HYPOTHESIS = 0.8  # signal rate of the toy p-value's hypothesis
TESTED_MU = 2.5  # signal rate of the hypotest
N_TOYS, TOY_SEED = 300, 20240614
NUTS = dict(draws=1000, tune=1000, chains=2, cores=1, seed=5, progressbar=False)


# ---------------------------------------------------------------------- numpy references
def poisson_nll(counts, expected):
    """-ln prod Poisson(k | e), ln k! included, for non-integer k too (Asimov data)."""
    return float(np.sum(expected - special.xlogy(counts, expected) + special.gammaln(counts + 1.0)))


def rate_log_density(mu, term=True, prior=True):
    """ln L (+ the term) (+ ln prior) of model ``one`` at ``mu``."""
    value = -poisson_nll(RATE_COUNTS, mu * RATE_TEMPLATE + RATE_BACKGROUND)
    if term:
        value -= 0.5 * ((mu - RATE_MEASURED) / RATE_SIGMA) ** 2
    if prior:
        value += stats.gamma.logpdf(mu, GAMMA_ALPHA, scale=1.0 / GAMMA_BETA)
    return value


def rate_map():
    """MAP of model ``one`` with the term: the root of d ln p / d mu (ln p is concave)."""

    def derivative(mu):
        expected = mu * RATE_TEMPLATE + RATE_BACKGROUND
        return (np.sum(RATE_COUNTS * RATE_TEMPLATE / expected - RATE_TEMPLATE)
                - (mu - RATE_MEASURED) / RATE_SIGMA**2 + (GAMMA_ALPHA - 1.0) / mu - GAMMA_BETA)

    mu = optimize.brentq(derivative, 1e-6, 20.0, xtol=1e-14, rtol=1e-15)
    return mu, -rate_log_density(mu)


def rate_posterior(term=True):
    """ln Z, posterior mean and sd of mu by quadrature of L x exp(term) x prior on [0, inf)."""
    peak = -optimize.minimize_scalar(lambda m: -rate_log_density(m, term), bounds=(1e-6, 20), method="bounded").fun

    def moment(power):
        value, _ = integrate.quad(lambda m: m**power * np.exp(rate_log_density(m, term) - peak), 0.0, np.inf,
                                  epsabs=0.0, epsrel=1e-11, limit=200)
        return value

    norm, first, second = moment(0), moment(1), moment(2)
    mean = first / norm
    return np.log(norm) + peak, mean, np.sqrt(second / norm - mean**2)


def nll_two(mu, beta, counts, term=True):
    """-ln L of model ``two`` at signal rate ``mu`` and background normalisation ``beta``."""
    value = poisson_nll(counts, mu * SIGNAL + beta * BACKGROUND)
    return value + (0.5 * ((beta - BACKGROUND_MEASURED) / BACKGROUND_SIGMA) ** 2 if term else 0.0)


def beta_hat(mu, counts, term=True):
    """The conditional best background normalisation (>= 0): the root of d nll / d beta (convex)."""

    def derivative(beta):
        expected = mu * SIGNAL + beta * BACKGROUND
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.sum(BACKGROUND - np.where(counts > 0, counts * BACKGROUND / expected, 0.0))
        return value + ((beta - BACKGROUND_MEASURED) / BACKGROUND_SIGMA**2 if term else 0.0)

    if derivative(0.0) >= 0:
        return 0.0
    return optimize.brentq(derivative, 1e-12, 100.0, xtol=1e-15, rtol=1e-15)


def best_two(counts, term=True):
    """``(mu_hat, beta_hat, nll)`` of model ``two`` (both >= 0): the root of the profile's
    derivative in mu, which is the partial derivative at beta_hat(mu) (the profile is convex)."""

    def derivative(mu):
        expected = mu * SIGNAL + beta_hat(mu, counts, term) * BACKGROUND
        return np.sum(SIGNAL - counts * SIGNAL / expected)

    mu = 0.0 if derivative(0.0) >= 0 else optimize.brentq(derivative, 0.0, 50.0, xtol=1e-15, rtol=1e-15)
    beta = beta_hat(mu, counts, term)
    return mu, beta, nll_two(mu, beta, counts, term)


def conditional_nll(mu, counts, term=True):
    return nll_two(mu, beta_hat(mu, counts, term), counts, term)


def likelihood_ratio(mu, counts, term=True):
    """``2 [nll(mu, beta_hat(mu)) - nll(mu_hat, beta_hat)]`` (clipped at 0) and ``mu_hat``."""
    mu_hat, _, best = best_two(counts, term)
    return max(2.0 * (conditional_nll(mu, counts, term) - best), 0.0), mu_hat


def asymptotic_cls(mu, counts, term=True):
    """Observed ``q~_mu`` and (CLs+b, CLb, CLs) from Cowan, Cranmer, Gross, Vitells eqs. (65-66):
    sigma from the Asimov data of the background-only fit to the data (beta at beta_hat(0))."""
    twice, mu_hat = likelihood_ratio(mu, counts, term)
    q = twice if mu_hat <= mu else 0.0
    asimov = beta_hat(0.0, counts, term) * BACKGROUND
    twice_asimov, mu_hat_asimov = likelihood_ratio(mu, asimov, term)
    q_asimov = twice_asimov if mu_hat_asimov <= mu else 0.0
    sigma = mu / np.sqrt(q_asimov)
    root, ratio = np.sqrt(q), mu / sigma
    if root <= ratio:
        clsb, clb = stats.norm.sf(root), stats.norm.sf(root - ratio)
    else:
        clsb = stats.norm.sf((q + ratio**2) / (2 * ratio))
        clb = stats.norm.sf((q - ratio**2) / (2 * ratio))
    return q, clsb, clb, clsb / clb


# ---------------------------------------------------------------------- models
@pytest.fixture(scope="module")
def one():
    predictor = TemplatePredictor(RATE_TEMPLATE[None], constant=RATE_BACKGROUND, parameter="mu")
    return BinnedModel(predictor, RATE_COUNTS, priors=RATE_PRIOR, extra_terms={"rate_measurement": rate_measurement})


def two_model(term=True):
    predictor = TemplatePredictor(np.stack([SIGNAL, BACKGROUND]), labels=["signal", "background"])
    # a lambda on purpose: toy workers must receive it (cloudpickle)
    terms = {"background_measurement": lambda values: -0.5 * (
        (values["weights"][1] - BACKGROUND_MEASURED) / BACKGROUND_SIGMA) ** 2} if term else None
    return BinnedModel(predictor, COUNTS, poi=POI, extra_terms=terms)


@pytest.fixture(scope="module")
def two():
    return two_model()


@pytest.fixture(scope="module")
def two_without():
    return two_model(term=False)


# ---------------------------------------------------------------------- frequentist paths
def test_ml_fit_includes_the_term(two, two_without):
    for model, term in ((two, True), (two_without, False)):
        result = fit(model)
        mu, beta, nll = best_two(COUNTS, term)
        assert result.converged
        np.testing.assert_allclose(result.values["weights"], [mu, beta], atol=1e-6)
        assert result.nll == pytest.approx(nll, abs=1e-6)
    with_term, without = fit(two), fit(two_without)
    # the term moves the fit by what numpy says (mu from 0.99 to 1.46)
    assert with_term.values["weights"][0] - without.values["weights"][0] == pytest.approx(
        best_two(COUNTS)[0] - best_two(COUNTS, term=False)[0], abs=2e-6)
    assert abs(with_term.values["weights"][0] - without.values["weights"][0]) > 0.4
    assert with_term.nll - without.nll == pytest.approx(best_two(COUNTS)[2] - best_two(COUNTS, False)[2], abs=2e-6)
    assert with_term.nll - without.nll > 0.4


def test_profile_includes_the_term(two, two_without):
    grid = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    scans = {}
    for model, term in ((two, True), (two_without, False)):
        scan = profile_likelihood(model, POI, grid)
        best = best_two(COUNTS, term)[2]
        expected = np.array([2.0 * (conditional_nll(mu, COUNTS, term) - best) for mu in grid])
        np.testing.assert_allclose(scan.twice_delta_nll, expected, atol=1e-6)
        assert scan.converged.all()
        scans[term] = scan.twice_delta_nll
    assert np.max(np.abs(scans[True] - scans[False])) > 5.0  # at mu = 0: 11.9 with the term, 2.2 without


@pytest.fixture(scope="module")
def numpy_toys():
    """The toy study of toy_pvalue re-implemented: the toys are Poisson(expected at the conditional
    fit), drawn toy after toy from the main counts' stream (child 1) of SeedSequence(seed); each
    statistic from numpy fits."""
    mu0 = TOY_HYPOTHESIS
    expected = mu0 * SIGNAL + beta_hat(mu0, COUNTS) * BACKGROUND
    main_counts = np.random.default_rng(np.random.SeedSequence(TOY_SEED).spawn(2)[1])
    toys = main_counts.poisson(expected, size=(N_TOYS, expected.size)).astype(float)
    statistics = np.array([likelihood_ratio(mu0, toy)[0] for toy in toys])
    observed = likelihood_ratio(mu0, COUNTS)[0]
    p_value = np.mean(statistics >= observed - 1e-9 * max(1.0, observed))
    return toys, statistics, observed, p_value


@pytest.mark.parametrize("executor", ["serial", "two processes"])
def test_toy_pvalue_includes_the_term(two, numpy_toys, executor):
    toys, statistics, observed, p_value = numpy_toys
    hypothesis = {POI: TOY_HYPOTHESIS}
    if executor == "serial":
        result = toy_pvalue(two, hypothesis, n_toys=N_TOYS, seed=TOY_SEED, executor=SerialExecutor(), n_workers=1)
    else:
        with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
            # workers forked before the study registers its objective here: each must unpickle it, lambda included
            assert pool.submit(sum, [1, 1]).result() == 2
            result = toy_pvalue(two, hypothesis, n_toys=N_TOYS, seed=TOY_SEED, executor=pool, n_workers=2)
    # the same pseudo-data as generate_toys draws at the conditional fit
    np.testing.assert_array_equal(generate_toys(two, result.conditional_fit.values, N_TOYS, seed=TOY_SEED).main, toys)
    assert result.statistic == pytest.approx(observed, abs=1e-6)
    np.testing.assert_allclose(result.toys.statistics, statistics, atol=1e-6)
    assert result.p_value == pytest.approx(p_value, abs=1e-6)
    assert 0.05 < p_value < 0.4  # a p-value that the term decides: t_obs = 1.84, without it 0.07
    assert observed - likelihood_ratio(TOY_HYPOTHESIS, COUNTS, term=False)[0] > 1.5


def test_objective_with_a_lambda_term_survives_pickling(two):
    objective = objective_for(two)
    copy = pickle.loads(cloudpickle.dumps(objective))
    x = np.array([1.3, 1.1])
    assert copy(x) == pytest.approx(nll_two(1.3, 1.1, COUNTS), abs=1e-9)
    assert copy(x) == pytest.approx(objective(x), abs=1e-12)


def test_hypotest_includes_the_term(two, two_without):
    results = {}
    for model, term in ((two, True), (two_without, False)):
        result = hypotest(model, TESTED_MU)
        q, clsb, clb, cls = asymptotic_cls(TESTED_MU, COUNTS, term)
        assert result.statistic == pytest.approx(q, abs=1e-6)
        assert (result.clsb, result.clb, result.cls) == pytest.approx((clsb, clb, cls), abs=1e-6)
        results[term] = result
    assert results[False].statistic - results[True].statistic > 0.5  # 3.97 without the term, 3.23 with it
    assert abs(results[False].cls - results[True].cls) > 0.005  # 0.0362 with the term, 0.0257 without


# ---------------------------------------------------------------------- Bayesian paths
def test_map_fit_includes_the_term(one):
    result = fit(one, kind="map")
    mu, value = rate_map()
    assert result.converged
    assert result.values["mu"][0] == pytest.approx(mu, abs=1e-6)
    assert result.nll == pytest.approx(value, abs=1e-6)
    # without the term the MAP would be elsewhere
    without = optimize.minimize_scalar(lambda m: -rate_log_density(m, term=False), bounds=(1e-6, 20), method="bounded")
    assert abs(without.x - mu) > 0.3


def sampled(model, sampler):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return sample_posterior(model, sampler=sampler, **NUTS)


def check_posterior(idata, term=True):
    """Posterior mean and sd of mu against quadrature within 4 Monte Carlo errors; far from the
    posterior of the other reading."""
    _, mean, sd = rate_posterior(term)
    _, other_mean, _ = rate_posterior(not term)
    draws = idata.posterior["mu"].values[..., 0]
    # Monte Carlo errors from the effective sample sizes (sd of the sd of n normal draws: sd / sqrt(2 n))
    mcse_mean = sd / np.sqrt(float(az.ess(idata, var_names=["mu"], method="mean")["mu"].values.min()))
    mcse_sd = sd / np.sqrt(2.0 * float(az.ess(idata, var_names=["mu"], method="sd")["mu"].values.min()))
    assert abs(draws.mean() - mean) < 4 * mcse_mean
    assert abs(draws.std() - sd) < 4 * mcse_sd
    assert abs(draws.mean() - other_mean) > 20 * mcse_mean  # 1.42 with the term, 1.81 without


@pytest.mark.parametrize("sampler", ["nutpie", "pymc"])
def test_nuts_posterior_includes_the_term(one, sampler):
    if sampler == "nutpie":
        pytest.importorskip("nutpie")
    check_posterior(sampled(one, sampler))


@pytest.mark.filterwarnings("ignore:More chains")  # PyMC's SMC statistics, not ours
def test_smc_evidence_includes_the_term(one):
    evidence = log_evidence_smc(one, draws=2000, chains=4, seed=3)
    log_z, _, _ = rate_posterior()
    assert evidence.error < 0.05
    assert abs(evidence.log_evidence - log_z) < max(3 * evidence.error, 0.03)
    assert abs(evidence.log_evidence - log_z) < 0.1
    assert abs(rate_posterior(term=False)[0] - log_z) > 1.0  # ln Z: -10.29 with the term, -8.13 without


# ---------------------------------------------------------------------- terms added to the pm.Model
def test_potential_added_to_the_pymc_model_is_refused_by_fits_but_seen_by_nuts():
    predictor = TemplatePredictor(RATE_TEMPLATE[None], constant=RATE_BACKGROUND, parameter="mu")
    model = BinnedModel(predictor, RATE_COUNTS, priors=RATE_PRIOR)  # no extra_terms
    before = fit(model)  # compiles and keeps the objective: a later change must still be seen
    compiled = objective_for(model)
    best = optimize.minimize_scalar(lambda m: -rate_log_density(m, term=False, prior=False), bounds=(1e-6, 20),
                                    method="bounded", options={"xatol": 1e-10})
    assert before.values["mu"][0] == pytest.approx(best.x, abs=1e-6)
    with model.pymc_model:
        pm.Potential("rate_measurement", rate_measurement({"mu": model.pymc_model["mu"]}))
    message = r"model.pymc_model was changed \(added \['rate_measurement'\]\).*extra_terms="
    for run in (
        lambda: fit(model),
        lambda: fit(model, kind="map"),
        lambda: fit(compiled),
        lambda: profile_likelihood(model, "mu", [1.0, 1.5]),
        lambda: toy_pvalue(model, {"mu": 1.0}, n_toys=5, executor=SerialExecutor(), n_workers=1),
        lambda: hypotest(model, 2.0, poi="mu"),
        lambda: Objective(model),
    ):
        with pytest.raises(ModelError, match=message):
            run()
    # NUTS samples the pm.Model as it is: the added Potential counts like the user term
    check_posterior(sampled(model, "auto"), term=True)
