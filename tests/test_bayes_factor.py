"""Evidences and Bayes factors against the analytic Gamma-Poisson (negative binomial) evidence."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
from scipy import special, stats

from bayesfit.errors import ModelError
from bayesfit.inference.bayes_factor import bayes_factor, log_evidence_smc, savage_dickey
from bayesfit.model import BinnedModel
from bayesfit.predictors import TemplatePredictor

TEMPLATE = np.array([2.0, 3.0, 5.0])
COUNTS = np.array([3.0, 4.0, 6.0])
ALPHA, BETA = 2.0, 1.0
GAMMA_PRIOR = {"weights": {"Gamma": {"alpha": ALPHA, "beta": BETA}}}


def analytic_log_evidence(counts: np.ndarray) -> float:
    """ln of int prod_i Poisson(k_i | w t_i) Gamma(w | alpha, beta) dw."""
    total_counts, total_template = counts.sum(), TEMPLATE.sum()
    return float(
        np.sum(counts * np.log(TEMPLATE) - special.gammaln(counts + 1))
        + ALPHA * np.log(BETA) - special.gammaln(ALPHA)
        + special.gammaln(ALPHA + total_counts) - (ALPHA + total_counts) * np.log(BETA + total_template)
    )


def analytic_nested_ln_bf(value: float) -> float:
    """ln [L(w = value) / Z]: the weight fixed at ``value`` against the weight free."""
    return float(stats.poisson.logpmf(COUNTS, value * TEMPLATE).sum() - analytic_log_evidence(COUNTS))


@pytest.fixture(scope="module")
def conjugate_model():
    return BinnedModel(TemplatePredictor(TEMPLATE[None, :]), COUNTS, priors=GAMMA_PRIOR)


def test_savage_dickey_with_exact_posterior_draws(conjugate_model):
    rng = np.random.default_rng(3)
    shape, rate = ALPHA + COUNTS.sum(), BETA + TEMPLATE.sum()
    idata = az.from_dict(posterior={"weights": rng.gamma(shape, 1.0 / rate, size=(4, 2000, 1))})
    for value in (1.0, 1.5, 2.0):
        result = savage_dickey(conjugate_model, "weights[0]", value, idata=idata)
        assert result.ln_bayes_factor == pytest.approx(analytic_nested_ln_bf(value), abs=max(0.05, 3 * result.error))
        assert result.error < 0.1
    with pytest.raises(ModelError, match="unknown parameter 'weights\\[3\\]'"):
        savage_dickey(conjugate_model, "weights[3]", 1.0, idata=idata)
    with pytest.raises(ModelError, match="outside its support"):
        savage_dickey(conjugate_model, "weights", -1.0, idata=idata)


def test_smc_evidence_and_nested_bayes_factor(conjugate_model):
    evidence = log_evidence_smc(conjugate_model, draws=1000, chains=2, seed=1)
    assert evidence.per_chain.shape == (2,)
    assert evidence.log_evidence == pytest.approx(analytic_log_evidence(COUNTS), abs=0.05)
    ln_bf = stats.poisson.logpmf(COUNTS, 1.5 * TEMPLATE).sum() - evidence.log_evidence
    assert ln_bf == pytest.approx(analytic_nested_ln_bf(1.5), abs=0.05)


def test_improper_prior_is_rejected():
    model = BinnedModel(TemplatePredictor(TEMPLATE[None, :]), COUNTS)
    with pytest.raises(ModelError, match="flat prior"):
        log_evidence_smc(model)
    with pytest.raises(ModelError, match="improper flat prior"):
        savage_dickey(model, "weights[0]", 1.0, idata=az.from_dict(posterior={"weights": np.ones((1, 5, 1))}))


@pytest.mark.slow
def test_savage_dickey_from_nuts_agrees_with_smc_and_analytic(conjugate_model):
    value = 1.5
    analytic = analytic_nested_ln_bf(value)
    dickey = savage_dickey(conjugate_model, "weights[0]", value, draws=2000, chains=4, seed=2)
    evidence = log_evidence_smc(conjugate_model, draws=2000, chains=4, seed=2)
    smc = stats.poisson.logpmf(COUNTS, value * TEMPLATE).sum() - evidence.log_evidence
    assert dickey.ln_bayes_factor == pytest.approx(analytic, abs=0.05)
    assert smc == pytest.approx(analytic, abs=0.05)
    assert dickey.ln_bayes_factor == pytest.approx(smc, abs=0.07)


def test_bayes_factor_of_two_templates_prefers_the_true_one():
    """Noise + model A against noise + model B, data drawn from noise + B."""
    noise = np.full(6, 4.0)
    model_a = np.array([12.0, 9.0, 6.0, 3.0, 1.0, 0.5])
    model_b = model_a[::-1].copy()
    counts = np.random.default_rng(7).poisson(noise + model_b).astype(float)
    prior = {"weights": {"Gamma": {"alpha": 2.0, "beta": 2.0}}}
    analysis_a = BinnedModel(TemplatePredictor(np.stack([noise, model_a])), counts, priors=prior)
    analysis_b = BinnedModel(TemplatePredictor(np.stack([noise, model_b])), counts, priors=prior)
    result = bayes_factor(analysis_a, analysis_b, draws=500, chains=2, seed=3)
    assert result.ln_bayes_factor == pytest.approx(
        result.numerator.log_evidence - result.denominator.log_evidence
    )
    assert result.ln_bayes_factor < -3.0  # B is preferred by more than a factor e^3
    assert result.error < 0.5
    with pytest.raises(ModelError, match="unknown Bayes factor method"):
        bayes_factor(analysis_a, analysis_b, method="laplace")


def test_last_finite_entry_for_both_smc_layouts():
    from bayesfit.inference.bayes_factor import _last_finite_per_chain

    padded = np.array([[-3.0, -2.0, np.nan], [-3.5, -2.5, -2.2]])
    np.testing.assert_array_equal(_last_finite_per_chain(padded), [-2.0, -2.2])
    ragged = np.empty((1, 2), dtype=object)
    ragged[0, 0], ragged[0, 1] = [-3.0, -2.0], [-3.5, -2.5, -2.2]
    np.testing.assert_array_equal(_last_finite_per_chain(ragged), [-2.0, -2.2])
