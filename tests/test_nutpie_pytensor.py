"""nutpie's NUTS on PyTensor's C functions of a pm.Model: the density is PyMC's, chains do not
depend on how they are spread over processes, the posterior is the conjugate one."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pytest
from scipy import stats

from bayesfit.model import BinnedModel
from test_posterior import TEMPLATE, TemplateSum

nutpie = pytest.importorskip("nutpie")

from bayesfit.inference.nutpie_pytensor import (  # noqa: E402
    chain_seeds,
    objective_nutpie_model,
    pytensor_nutpie_model,
    sample_chains,
    samples_natural_entries,
)
from bayesfit.inference.objective import objective_for  # noqa: E402

COUNTS = np.array([2.0, 3.0, 6.0, 1.0, 0.0])
SETTINGS = dict(draws=300, tune=300, target_accept=0.9)


PRIORS = {"log": {"Gamma": {"alpha": 2.0, "beta": 1.0}}, "interval": {"Uniform": {"lower": 0.0, "upper": 4.0}}}


def two_templates(prior):
    """Two templates, both norms with ``prior``."""
    templates = np.stack([TEMPLATE, TEMPLATE[::-1] + 0.5])[None]  # (1, 2, 5)
    return BinnedModel(TemplateSum(templates), COUNTS, priors={"norm": prior})


@pytest.fixture(scope="module")
def model():
    """Two templates with Gamma priors: a log transform."""
    return two_templates(PRIORS["log"])


@pytest.mark.parametrize("transform", ["log", "interval"])
@pytest.mark.parametrize("source", ["pm.Model", "objective"])
def test_density_and_gradient_are_pymcs(source, transform):
    """logp and gradient at random unconstrained points against PyMC's own compiled logp (the
    objective's maps are PyMC's log transform of a Gamma prior and its interval transform of a
    Uniform one) and a finite difference of it; the traced values are the natural-unit norms."""
    model = two_templates(PRIORS[transform])
    pymc_model = model.pymc_model
    if source == "objective":
        assert samples_natural_entries(model)
        compiled = objective_nutpie_model(objective_for(model, "map"))
    else:
        compiled = pytensor_nutpie_model(pymc_model, set(pymc_model.free_RVs))
    logp_function = compiled._make_logp_func()
    expand = compiled._make_expand_func(0, 0, 0)
    pymc_logp = pymc_model.compile_logp(jacobian=True)
    (value_var,) = pymc_model.value_vars
    rng = np.random.default_rng(3)
    for _ in range(5):
        y = rng.normal(0.0, 1.0, size=2)
        value, gradient = logp_function(y)
        assert value == pytest.approx(float(pymc_logp({value_var.name: y})), rel=1e-12)
        numeric = [(float(pymc_logp({value_var.name: y + h})) - float(pymc_logp({value_var.name: y - h}))) / 2e-6
                   for h in np.eye(2) * 1e-6]
        np.testing.assert_allclose(gradient, numeric, rtol=1e-6)
        natural = np.exp(y) if transform == "log" else 4.0 / (1.0 + np.exp(-y))
        np.testing.assert_allclose(expand(y)["norm"], natural, rtol=1e-12)


def test_chains_do_not_depend_on_the_number_of_processes(model):
    pymc_model = model.pymc_model
    compiled = pytensor_nutpie_model(pymc_model, set(pymc_model.free_RVs))
    serial = sample_chains(compiled, chains=3, cores=1, seed=5, settings=SETTINGS)
    parallel = sample_chains(compiled, chains=3, cores=2, seed=5, settings=SETTINGS)
    assert serial.posterior["norm"].shape == (3, 300, 2)
    np.testing.assert_array_equal(serial.posterior["norm"].values, parallel.posterior["norm"].values)
    np.testing.assert_array_equal(serial.posterior.chain.values, [0, 1, 2])
    assert len(set(chain_seeds(5, 3))) == 3 and chain_seeds(5, 3) == chain_seeds(5, 3)
    # different chains are different streams
    assert not np.array_equal(serial.posterior["norm"].values[0], serial.posterior["norm"].values[1])


def test_one_template_posterior_is_the_conjugate_gamma():
    """Gamma(2, 1) prior x Poisson(k | norm T): posterior Gamma(2 + sum k, 1 + sum T), through
    sample_posterior's default sampler."""
    from bayesfit.inference import sample_posterior

    model = BinnedModel(TemplateSum(TEMPLATE[None, None, :]), COUNTS,
                        priors={"norm": {"Gamma": {"alpha": 2.0, "beta": 1.0}}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        idata = sample_posterior(model, draws=1000, tune=500, chains=2, seed=2, progressbar=False)
    posterior = stats.gamma(2.0 + COUNTS.sum(), scale=1.0 / (1.0 + TEMPLATE.sum()))
    draws = idata.posterior["norm"].values.ravel()
    standard_error = posterior.std() / np.sqrt(float(az.ess(idata, var_names=["norm"])["norm"].min()))
    assert abs(draws.mean() - posterior.mean()) < 4 * standard_error
    assert draws.std() == pytest.approx(posterior.std(), rel=0.1)
    assert stats.kstest(draws[::4], posterior.cdf).pvalue > 1e-3
