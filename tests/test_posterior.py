"""NUTS posteriors against conjugate results; InferenceData contents; diagnostics."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pytensor.tensor as pt
import pytest
from scipy import special, stats

from bayesfit.inference import SamplingWarning, diagnose, sample_posterior, universe_posterior
from bayesfit.model import BinnedModel
from bayesfit.predictors.base import Parameter, Predictor


class TemplateSum(Predictor):
    """expected[k] = sum_t norm[t] * templates[k, t] for K universes."""

    def __init__(self, templates, weights=None):
        self.name = "templates"
        self.templates = np.asarray(templates, dtype=float)  # (K, T, n)
        n_variations, n_templates, self.n_out = self.templates.shape
        self.parameters = (Parameter("norm", (n_templates,), lower=0.0, default=1.0),)
        self.variation_weights = np.ones(n_variations) if weights is None else np.asarray(weights, float)

    def expected(self, params):
        return pt.tensordot(params["norm"], self.templates, axes=[[0], [1]])


TEMPLATE = np.array([0.5, 2.0, 3.0, 1.5, 0.0])
COUNTS = np.array([1.0, 3.0, 5.0, 2.0, 0.0])
ALPHA, BETA = 2.0, 1.0


def sampled(model, **kwargs):
    options = dict(draws=1000, tune=500, chains=2, cores=1, seed=11, progressbar=False, sampler="pymc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return sample_posterior(model, **{**options, **kwargs})


def check_conjugate(idata, counts, template):
    """Gamma(ALPHA, BETA) prior x Poisson(k | norm T): posterior Gamma(ALPHA + sum k, BETA + sum T)."""
    shape, rate = ALPHA + counts.sum(), BETA + template.sum()
    draws = idata.posterior["norm"].values.ravel()
    mean, sd = shape / rate, np.sqrt(shape) / rate
    standard_error = sd / np.sqrt(float(az.ess(idata, var_names=["norm"])["norm"].min()))
    assert abs(draws.mean() - mean) < 4 * standard_error
    assert draws.std() == pytest.approx(sd, rel=0.1)


@pytest.fixture(scope="module")
def multi_bin():
    model = BinnedModel(TemplateSum(TEMPLATE[None, None, :]), COUNTS,
                        priors={"norm": {"Gamma": {"alpha": ALPHA, "beta": BETA}}})
    return model, sampled(model, predictive=True)


def test_multi_bin_posterior_is_conjugate(multi_bin):
    check_conjugate(multi_bin[1], COUNTS, TEMPLATE)


def test_inference_data_groups(multi_bin):
    model, idata = multi_bin
    assert {"posterior", "sample_stats", "log_likelihood", "observed_data", "posterior_predictive"} <= set(idata.groups())
    np.testing.assert_array_equal(idata.observed_data["counts"].values, COUNTS)
    # pointwise log likelihood per bin, against scipy at the drawn parameters
    norm = idata.posterior["norm"].values[..., 0]
    pointwise = stats.poisson.logpmf(COUNTS, norm[..., None] * TEMPLATE)
    np.testing.assert_allclose(idata.log_likelihood["counts"].values, pointwise, rtol=1e-10)
    assert idata.log_likelihood["counts"].dims == ("chain", "draw", "bins")
    # predictive counts: Poisson with the posterior-averaged rate; empty bin stays empty
    predictive = idata.posterior_predictive["counts"].values
    assert predictive.shape == (2, 1000, 5) and np.all(predictive[..., 4] == 0)
    rate = norm.mean() * TEMPLATE
    np.testing.assert_allclose(predictive.mean(axis=(0, 1)), rate, rtol=0.1, atol=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Pareto-k warnings for 5 bins
        assert np.isfinite(az.loo(idata).elpd_loo)  # LOO works on the per-bin log likelihood


@pytest.mark.slow
def test_single_bin_posterior_with_nutpie():
    pytest.importorskip("nutpie")
    model = BinnedModel(TemplateSum([[[2.5]]]), [4], priors={"norm": {"Gamma": {"alpha": ALPHA, "beta": BETA}}})
    idata = sampled(model, sampler="nutpie")
    check_conjugate(idata, np.array([4.0]), np.array([2.5]))


@pytest.mark.slow
def test_universe_probabilities_per_draw():
    factors = np.array([0.6, 1.0, 1.8])
    universes = TEMPLATE[None, None, :] * factors[:, None, None]
    weights = np.array([1.0, 2.0, 1.0])
    model = BinnedModel(TemplateSum(universes, weights), COUNTS, priors={"norm": {"Gamma": {"alpha": ALPHA, "beta": BETA}}})
    idata = sampled(model, predictive=True)
    norm = idata.posterior["norm"].values[..., 0]
    per_universe = stats.poisson.logpmf(COUNTS, norm[..., None, None] * universes[:, 0]).sum(axis=-1)
    expected = np.exp(np.log(weights) + per_universe - special.logsumexp(np.log(weights) + per_universe, axis=-1, keepdims=True))
    np.testing.assert_allclose(idata.posterior["universe_probability"].values, expected, rtol=1e-8)
    np.testing.assert_allclose(universe_posterior(idata), expected.mean(axis=(0, 1)), rtol=1e-8)
    marginal = special.logsumexp(per_universe, b=weights / weights.sum(), axis=-1)
    np.testing.assert_allclose(idata.log_likelihood["counts"].values, marginal, rtol=1e-10)
    # posterior of norm: mixture of conjugate Gammas with weights w_k * evidence_k, where
    # evidence_k = c_k^(sum k) Gamma(shape) / rate_k^shape up to factors common to all universes
    shape = ALPHA + COUNTS.sum()
    rates = BETA + universes[:, 0].sum(axis=1)
    log_evidence = COUNTS.sum() * np.log(factors) - shape * np.log(rates)
    mixture = np.exp(np.log(weights) + log_evidence - special.logsumexp(np.log(weights) + log_evidence))
    mean = np.sum(mixture * shape / rates)
    assert norm.mean() == pytest.approx(mean, rel=0.05)
    # the marginal posterior probability of each universe is its mixture weight
    np.testing.assert_allclose(universe_posterior(idata), mixture, atol=0.03)


def test_diagnostics_in_plain_words():
    rng = np.random.default_rng(0)
    idata = az.from_dict(
        posterior={"norm": np.stack([rng.normal(0, 1, 200), rng.normal(3, 1, 200)])},
        sample_stats={"diverging": np.r_[np.ones(5), np.zeros(395)].reshape(2, 200).astype(bool)},
    )
    messages = diagnose(idata, ["norm"])
    assert any("5 of 400 transitions diverged" in m for m in messages)
    assert any("chains disagree for 'norm'" in m for m in messages)
    assert any("effective bulk samples for 'norm'" in m for m in messages)
    assert issubclass(SamplingWarning, UserWarning)


def test_auto_sampler_is_nutpie_when_installed():
    """nutpie when it is installed, else PyMC; explicit choices are kept."""
    import importlib.util

    from bayesfit.inference.posterior import resolve_sampler

    installed = importlib.util.find_spec("nutpie") is not None
    assert resolve_sampler("auto") == ("nutpie" if installed else "pymc")
    assert resolve_sampler("pymc") == "pymc"
    if installed:
        assert resolve_sampler("nutpie") == "nutpie"


def test_pymc_stopped_before_its_first_draw_is_an_interrupt_not_an_internal_error(monkeypatch):
    # what pm.sample raises when Ctrl-C arrives during tuning (it keeps no draw to build a trace from)
    import pymc

    from bayesfit.errors import SamplingInterrupted

    def interrupted(**_):
        raise ValueError("Not enough samples to build a trace.")

    monkeypatch.setattr(pymc, "sample", interrupted)
    model = BinnedModel(TemplateSum(TEMPLATE[None, None, :]), COUNTS)
    with pytest.raises(SamplingInterrupted, match="before its first draw"):
        sample_posterior(model, sampler="pymc", progressbar=False)


def test_prior_draws_follow_the_priors_without_warnings_or_pymc_chatter(caplog):
    """Prior draws follow the prior, with no warning and no INFO line of PyMC's ("Sampling: [...]",
    which reached stderr under --quiet); PyMC's logger keeps its level."""
    import logging

    from bayesfit.inference import sample_prior

    model = BinnedModel(TemplateSum(TEMPLATE[None, None, :]), COUNTS, priors={"norm": {"HalfNormal": {"sigma": 3.0}}})
    level = logging.getLogger("pymc.sampling.forward").level
    with warnings.catch_warnings(), caplog.at_level(logging.INFO):
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=FutureWarning)
        prior = sample_prior(model, draws=4000, seed=3)
    draws = prior.prior["norm"].values.ravel()
    assert stats.kstest(draws, stats.halfnorm(scale=3.0).cdf).pvalue > 1e-3
    assert not [record for record in caplog.records if record.name.startswith("pymc")]
    assert logging.getLogger("pymc.sampling.forward").level == level
