"""Asymptotic p-values and posterior predictive checks against independent numpy/scipy computations."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
from scipy import optimize, stats

from bayesfit.errors import InferenceError, ModelError
from bayesfit.inference import Objective
from bayesfit.inference.pvalues import goodness_of_fit, posterior_predictive_pvalue, wilks_pvalue
from bayesfit.model import BinnedModel
from bayesfit.predictors import TemplatePredictor

TEMPLATES = np.array([[8.0, 6.0, 4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 5.0, 7.0, 9.0]])
COUNTS = np.array([11.0, 6.0, 9.0, 6.0, 12.0, 9.0])


def numpy_nll(weights: np.ndarray, counts: np.ndarray) -> float:
    return -stats.poisson.logpmf(counts, weights @ TEMPLATES).sum()


def numpy_minimum(counts: np.ndarray, fixed_second: float | None = None) -> float:
    """Minimum of -ln L over both weights, or over the first with the second fixed."""
    if fixed_second is None:
        result = optimize.minimize(lambda w: numpy_nll(w, counts), [1.0, 1.0], bounds=[(1e-9, None)] * 2, tol=1e-12)
    else:
        result = optimize.minimize_scalar(
            lambda w: numpy_nll(np.array([w, fixed_second]), counts), bounds=(1e-9, 20), method="bounded",
            options={"xatol": 1e-10},
        )
    return float(result.fun)


@pytest.fixture(scope="module")
def objective():
    return Objective(BinnedModel(TemplatePredictor(TEMPLATES), COUNTS))


def test_wilks_pvalue_matches_scipy_fit_and_chi2(objective):
    result = wilks_pvalue(objective, {"weights[1]": 0.4})
    statistic = 2 * (numpy_minimum(COUNTS, 0.4) - numpy_minimum(COUNTS))
    assert result.dof == 1
    assert result.statistic == pytest.approx(statistic, abs=1e-5)
    assert result.p_value == pytest.approx(stats.chi2.sf(statistic, 1), rel=1e-4)
    assert result.conditional_fit.values["weights"][1] == 0.4


def test_wilks_pvalue_on_other_counts_reuses_objective(objective):
    counts = np.array([3.0, 4.0, 2.0, 8.0, 9.0, 14.0])
    result = wilks_pvalue(objective, {"weights[1]": 1.0}, observed=counts)
    statistic = 2 * (numpy_minimum(counts, 1.0) - numpy_minimum(counts))
    assert result.statistic == pytest.approx(statistic, abs=1e-5)


def test_goodness_of_fit_is_saturated_likelihood_ratio(objective):
    result = goodness_of_fit(objective)
    saturated = -stats.poisson.logpmf(COUNTS, COUNTS).sum()
    statistic = 2 * (numpy_minimum(COUNTS) - saturated)
    assert result.dof == len(COUNTS) - 2
    assert result.statistic == pytest.approx(statistic, abs=1e-5)
    assert result.p_value == pytest.approx(stats.chi2.sf(statistic, len(COUNTS) - 2), rel=1e-4)


def test_goodness_of_fit_counts_the_auxiliary_measurements():
    """With a Gaussian measurement a = 0.8 +- 0.1 of the first weight: one more datum, and its term."""
    from bayesfit.likelihood import GaussianConstraint

    model = BinnedModel(TemplatePredictor(TEMPLATES), COUNTS,
                        constraints=[GaussianConstraint("weights", [0.8], [0.1], entries=[0])])
    result = goodness_of_fit(model)

    def nll(weights):
        return numpy_nll(weights, COUNTS) - stats.norm.logpdf(0.8, weights[0], 0.1)

    best = optimize.minimize(nll, [1.0, 1.0], bounds=[(1e-9, None)] * 2, tol=1e-12).fun
    saturated = -stats.poisson.logpmf(COUNTS, COUNTS).sum() - stats.norm.logpdf(0.8, 0.8, 0.1)
    assert result.dof == len(COUNTS) + 1 - 2
    assert result.statistic == pytest.approx(2 * (best - saturated), abs=1e-5)


def test_bad_hypotheses_are_named(objective):
    with pytest.raises(ModelError, match="fixes no parameter"):
        wilks_pvalue(objective, {})
    with pytest.raises(ModelError, match="unknown parameter 'signal'"):
        wilks_pvalue(objective, {"signal": 0.0})
    with pytest.raises(ModelError, match="fixes all 2"):
        wilks_pvalue(objective, {"weights": [1.0, 1.0]})


# ---------------------------------------------------------------------- posterior predictive
ONE_TEMPLATE = np.array([[4.0, 6.0, 10.0, 5.0]])
ALPHA, BETA = 2.0, 1.0
GAMMA_PRIOR = {"weights": {"Gamma": {"alpha": ALPHA, "beta": BETA}}}


def conjugate_idata(counts: np.ndarray, seed: int) -> az.InferenceData:
    """Exact posterior draws of the weight of one template with a Gamma(2, 1) prior."""
    rng = np.random.default_rng(seed)
    draws = rng.gamma(ALPHA + counts.sum(), 1.0 / (BETA + ONE_TEMPLATE.sum()), size=(2, 500, 1))
    return az.from_dict(posterior={"weights": draws})


def test_posterior_predictive_discrepancies_and_pvalues():
    good = np.array([5.0, 5.0, 11.0, 4.0])
    model = BinnedModel(TemplatePredictor(ONE_TEMPLATE), good, priors=GAMMA_PRIOR)
    idata = conjugate_idata(good, seed=1)
    check = posterior_predictive_pvalue(model, idata)
    expected = idata.posterior["weights"].values.reshape(-1, 1) * ONE_TEMPLATE  # (S, n)
    deviance = 2 * (stats.poisson.logpmf(good, good) - stats.poisson.logpmf(good, expected)).sum(axis=1)
    assert check.method == "posterior_predictive" and check.statistic_name == "deviance"
    np.testing.assert_allclose(check.statistic, deviance, rtol=1e-10)
    replicated = check.toys.statistics
    assert replicated.shape == (1000,)
    assert 0.2 < check.p_value < 0.95
    assert check.p_value == np.mean(replicated >= check.statistic)

    chi2 = posterior_predictive_pvalue(model, idata, discrepancy="chi2")
    np.testing.assert_allclose(chi2.statistic, ((good - expected) ** 2 / expected).sum(axis=1), rtol=1e-10)

    # counts with the wrong shape for this template: the check must reject them
    bad = np.array([30.0, 0.0, 2.0, 18.0])
    bad_model = BinnedModel(TemplatePredictor(ONE_TEMPLATE), bad, priors=GAMMA_PRIOR)
    assert posterior_predictive_pvalue(bad_model, conjugate_idata(bad, seed=2)).p_value < 0.01

    with pytest.raises(ModelError, match="unknown discrepancy"):
        posterior_predictive_pvalue(model, idata, discrepancy="kl")
    with pytest.raises(InferenceError, match="lacks the model's variable"):
        posterior_predictive_pvalue(model, az.from_dict(posterior={"other": np.ones((1, 3))}))
