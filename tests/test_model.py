"""Model assembly: validation of inputs, PyMC structure and log density against scipy."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytest
from scipy import stats

from bayesfit.errors import LikelihoodError, ModelError
from bayesfit.likelihood import ThrowConstraint
from bayesfit.model import BinnedModel
from bayesfit.predictors.base import Parameter, Predictor
from bayesfit.priors import Prior, as_prior


class TemplateSum(Predictor):
    """expected[k] = sum_t norm[t] * templates[k, t]; sumw2[k] = sum_t norm[t]^2 * sumw2[k, t]."""

    def __init__(self, templates, sumw2=None, weights=None):
        self.name = "templates"
        self.templates = np.asarray(templates, dtype=float)  # (K, T, n)
        n_variations, n_templates, self.n_out = self.templates.shape
        self.parameters = (
            Parameter("norm", (n_templates,), lower=0.0, default=1.0,
                      labels=tuple(f"t{i}" for i in range(n_templates)), dim="template"),
        )
        self.variation_weights = np.ones(n_variations) if weights is None else np.asarray(weights, float)
        self.sumw2 = None if sumw2 is None else np.asarray(sumw2, dtype=float)

    def expected(self, params):
        return pt.tensordot(params["norm"], self.templates, axes=[[0], [1]])

    def expected_sumw2(self, params):
        if self.sumw2 is None:
            return None
        return pt.tensordot(params["norm"] ** 2, self.sumw2, axes=[[0], [1]])


TEMPLATES = np.array([[[1.0, 2.0, 3.0, 0.5], [0.5, 0.5, 0.0, 1.0]]])
COUNTS = np.array([2.0, 3.0, 4.0, 1.0])


@pytest.fixture(scope="module")
def predictor():
    return TemplateSum(TEMPLATES, sumw2=0.1 * TEMPLATES)


@pytest.fixture(scope="module")
def universes():
    shifted = TEMPLATES * np.array([1.0, 1.2, 0.8])[:, None, None]
    return TemplateSum(shifted, weights=[1.0, 2.0, 1.0])


def test_unknown_names_and_distributions(predictor):
    with pytest.raises(ModelError, match=r"priors: unknown parameter 'gamma'; the model has \['norm', 'norm\[t0\]'"):
        BinnedModel(predictor, COUNTS, priors={"gamma": "flat"})
    with pytest.raises(ModelError, match="unknown prior distribution 'Gauss'; valid: .*'HalfNormal'"):
        BinnedModel(predictor, COUNTS, priors={"norm": {"Gauss": {"mu": 1}}})
    with pytest.raises(ModelError, match="needs argument"):
        as_prior({"Normal": {"mu": 1}})
    with pytest.raises(ModelError, match="unknown likelihood 'gauss'"):
        BinnedModel(predictor, COUNTS, likelihood="gauss")


def test_start_outside_prior_support(predictor):
    with pytest.raises(ModelError, match=r"'norm\[t0\]': start value 1 is outside its bounds \[1.5, 4.5\]"):
        BinnedModel(predictor, COUNTS, priors={"norm": Prior("Uniform", lower=1.5, upper=4.5)})


def test_bad_data(predictor):
    with pytest.raises(LikelihoodError, match=r"shape \(3,\), expected \(4,\)"):
        BinnedModel(predictor, COUNTS[:3])
    with pytest.raises(LikelihoodError, match="bin 1 = 2.5 is not an integer"):
        BinnedModel(predictor, [1, 2.5, 0, 0])
    with pytest.raises(LikelihoodError, match="bin 2 = -1.0 is negative"):
        BinnedModel(predictor, [1, 2, -1, 0], allow_noninteger=True)


def test_bin_no_simulation_reaches_is_reported(predictor):
    unreachable = TemplateSum(TEMPLATES * np.array([1, 1, 0, 1.0]))
    with pytest.raises(LikelihoodError, match=r"zero events in 1 bin\(s\) that hold data.*bins 2 \(k=4\)"):
        BinnedModel(unreachable, COUNTS)
    # an empty bin without data is fine
    BinnedModel(unreachable, COUNTS * np.array([1, 1, 0, 1]))


def test_systematics_modes(predictor, universes):
    with pytest.raises(ModelError, match="needs variations, but predictor 'templates' has K = 1"):
        BinnedModel(predictor, COUNTS, systematics="marginalise")
    with pytest.raises(ModelError, match="has K = 3 variations"):
        BinnedModel(universes, COUNTS, systematics="none")
    assert BinnedModel(universes, COUNTS).systematics == "marginalise"
    without_sumw2 = TemplateSum(TEMPLATES)
    with pytest.raises(ModelError, match="needs sums of squared weights"):
        BinnedModel(without_sumw2, COUNTS, likelihood="effective")


def test_pymc_model_log_density_matches_scipy(predictor):
    model = BinnedModel(predictor, COUNTS, priors={"norm": {"Gamma": {"alpha": 2.0, "beta": 1.5}}},
                        starts={"norm": [0.8, 1.7]},
                        extra_terms={"user_term": lambda values: -0.5 * (values["norm"][0] - 1.0) ** 2})
    pymc_model = model.pymc_model
    assert pymc_model.named_vars_to_dims["norm"] == ("template",)
    assert list(pymc_model.coords["template"]) == ["t0", "t1"]
    assert {p.name for p in pymc_model.potentials} == {"counts", "user_term"}
    logp = pymc_model.compile_logp(jacobian=False)(pymc_model.initial_point())
    norm = np.array([0.8, 1.7])
    mu = norm @ TEMPLATES[0]
    reference = (
        stats.gamma.logpdf(norm, 2.0, scale=1 / 1.5).sum()
        + stats.poisson.logpmf(COUNTS, mu).sum()
        - 0.5 * (0.8 - 1.0) ** 2
    )
    assert logp == pytest.approx(reference, rel=1e-10)


def test_marginalised_model_with_hyperprior_and_throws(universes):
    rng = np.random.default_rng(1)
    throws = rng.normal([1.0, 1.0], [0.1, 0.3], size=(40, 2))
    nuisance = ThrowConstraint("norm", throws)
    model = BinnedModel(universes, COUNTS, constraints=[nuisance])
    with pytest.raises(ModelError, match="unknown parameter 'norm'"):
        BinnedModel(universes, COUNTS, constraints=[nuisance], priors={"norm": "flat"})
    pymc_model = model.pymc_model
    assert set(pymc_model.named_vars) >= {"norm_throw", "norm", "counts"}
    z = np.array([0.3, -0.7])
    point = {"norm_throw": z}
    logp = pymc_model.compile_logp(jacobian=False)(point)
    norm = nuisance.mean + nuisance.loadings @ z
    per_universe = np.array([
        stats.poisson.logpmf(COUNTS, norm @ universes.templates[k]).sum() for k in range(3)
    ])
    weights = np.array([1.0, 2.0, 1.0])
    marginal = np.log(np.sum(weights * np.exp(per_universe)) / weights.sum())
    assert logp == pytest.approx(marginal + stats.norm.logpdf(z).sum(), rel=1e-10)


def test_hyperprior_on_prior_width(predictor):
    """Structure only: the density of every parametrisation against scipy is in test_hierarchical.py."""
    model = BinnedModel(
        predictor, COUNTS,
        priors={"norm": {"LogNormal": {"mu": 0.0, "sigma": "width"}}},
        hyperpriors={"width": {"HalfNormal": {"sigma": 0.5}}},
    )
    with pytest.raises(ModelError, match=r"refers to \['spread'\]"):
        BinnedModel(predictor, COUNTS, priors={"norm": {"LogNormal": {"mu": 0.0, "sigma": "spread"}}})
    pymc_model = model.pymc_model
    assert {rv.name for rv in pymc_model.free_RVs} == {"width", "norm_offset"}
    assert "norm" in {d.name for d in pymc_model.deterministics}
    assert pymc_model.named_vars_to_dims["norm"] == ("template",)
    centred = BinnedModel(
        predictor, COUNTS, priors={"norm": {"LogNormal": {"mu": 0.0, "sigma": "width"}}},
        hyperpriors={"width": {"HalfNormal": {"sigma": 0.5}}}, non_centered=False,
    ).pymc_model
    assert {rv.name for rv in centred.free_RVs} == {"width", "norm"}


def test_prior_truncated_to_parameter_bounds(predictor):
    model = BinnedModel(predictor, COUNTS, priors={"norm": {"Normal": {"mu": 0.5, "sigma": 0.5}}})
    pymc_model = model.pymc_model
    point = pymc_model.initial_point()  # the start (1, 1), in transformed space
    logp = pymc_model.compile_logp(jacobian=False)(point)
    norm = np.ones(2)
    reference = (
        stats.truncnorm.logpdf(norm, (0 - 0.5) / 0.5, np.inf, loc=0.5, scale=0.5).sum()
        + stats.poisson.logpmf(COUNTS, norm @ TEMPLATES[0]).sum()
    )
    assert logp == pytest.approx(reference, rel=1e-8)  # PyMC's normal log-cdf is approximate


def test_entry_labels_work_wherever_an_entry_is_named():
    """Template labels name entries in priors, fixed values, bounds, hypotheses, profiles and the POI,
    with the same numbers as the indices."""
    from bayesfit.inference import fit, hypotest, profile_likelihood, wilks_pvalue
    from bayesfit.predictors import TemplatePredictor

    templates = np.array([[4.0, 4.0, 4.0, 4.0], [6.0, 4.0, 2.0, 1.0], [0.5, 1.0, 3.0, 5.0]])
    counts = np.array([11.0, 9.0, 8.0, 12.0])
    labelled = TemplatePredictor(templates, labels=("noise", "background", "signal"))
    by_label = BinnedModel(labelled, counts, priors={"background": {"HalfNormal": {"sigma": 2.0}}},
                           fixed={"noise": 1.0}, bounds={"signal": (0.0, 10.0)}, poi="signal")
    by_index = BinnedModel(TemplatePredictor(templates), counts,
                           priors={"weights[1]": {"HalfNormal": {"sigma": 2.0}}},
                           fixed={"weights[0]": 1.0}, bounds={"weights[2]": (0.0, 10.0)}, poi="weights[2]")
    assert by_label.poi == "weights[signal]" and by_index.poi == "weights[2]"
    variable = by_label.variable("weights")
    assert variable.labels == ("weights[noise]", "weights[background]", "weights[signal]")
    assert variable.priors[1] == Prior("HalfNormal", sigma=2.0) and variable.priors[2].is_flat
    assert list(variable.free) == [False, True, True] and variable.upper[2] == 10.0
    assert by_label.entry("signal") == by_label.entry("weights[2]") == by_label.entry("weights[signal]")
    first, second = fit(by_label), fit(by_index)
    np.testing.assert_allclose(first.values["weights"], second.values["weights"], rtol=1e-10)
    assert first.labels == ["weights[background]", "weights[signal]"]
    assert first.value("weights[signal]") == pytest.approx(first.values["weights"][2])
    assert wilks_pvalue(by_label, {"signal": 0.0}).p_value == pytest.approx(
        wilks_pvalue(by_index, {"weights[2]": 0.0}).p_value, rel=1e-9)
    scan = profile_likelihood(by_label, "signal", [0.5, 1.0, 2.0])
    assert scan.parameter == "weights[signal]"
    np.testing.assert_allclose(
        scan.twice_delta_nll, profile_likelihood(by_index, "weights[2]", [0.5, 1.0, 2.0]).twice_delta_nll, atol=1e-9)
    assert hypotest(by_label, 1.0).cls == pytest.approx(hypotest(by_index, 1.0).cls, abs=1e-9)
    # the Bayesian reading: the fixed entry is a constant, each free entry has its own prior
    pymc_model = by_label.pymc_model
    assert {rv.name for rv in pymc_model.free_RVs} == {"weights_part0", "weights_part1"}
    with pytest.raises(ModelError, match=r"fixed: unknown parameter 'signl'; the model has \['weights', 'weights\[noise\]'"):
        BinnedModel(labelled, counts, fixed={"signl": 0.0})
    with pytest.raises(ModelError, match="'weights\\[noise\\]' is fixed in the model"):
        fit(by_label, fixed={"noise": 2.0})


class FourShapes(Predictor):
    """expected = a T0 + b T1 + c T2 + d . (T3, T4): three scalar scales and a vector of two."""

    def __init__(self):
        self.name = "shapes"
        self.templates = np.abs(np.sin(np.arange(20.0))).reshape(5, 4) + 0.1
        self.n_out, self.variation_weights = 4, np.ones(1)
        self.parameters = tuple(Parameter(name, lower=0.0, default=1.0) for name in "abc") + (
            Parameter("d", (2,), lower=0.0, default=1.0),)

    def expected(self, params):
        scales = pt.concatenate([pt.stack([params[name] for name in "abc"]), params["d"]])
        return pt.dot(scales, self.templates)[None, :]


def test_priors_of_one_family_across_variables_are_one_term_with_each_entrys_arguments():
    """Normal priors of a, b and both entries of d (each its own mu and sigma, all truncated at 0)
    are one vectorised term; its value is the sum of scipy's truncated normals per entry, in
    entry order, plus the HalfNormal of c."""
    import pytensor

    priors = {"a": {"Normal": {"mu": 1.0, "sigma": 0.5}}, "b": {"Normal": {"mu": 2.0, "sigma": 1.0}},
              "c": {"HalfNormal": {"sigma": 3.0}}, "d": {"Normal": {"mu": [0.5, 3.0], "sigma": [0.3, 2.0]}}}
    model = BinnedModel(FourShapes(), COUNTS, priors=priors)
    symbols = {v.name: pt.tensor(name=v.name, shape=v.shape, dtype="float64") for v in model.variables}
    prior = pytensor.function(list(symbols.values()), model.log_prior(symbols))
    point = {"a": 0.8, "b": 1.5, "c": 2.0, "d": np.array([0.7, 2.5])}
    mus, sigmas = np.array([1.0, 2.0, 0.5, 3.0]), np.array([0.5, 1.0, 0.3, 2.0])
    entries = np.array([point["a"], point["b"], *point["d"]])
    reference = stats.truncnorm.logpdf(entries, -mus / sigmas, np.inf, loc=mus, scale=sigmas).sum()
    reference += stats.halfnorm(scale=3.0).logpdf(point["c"])
    value = float(prior(*(np.asarray(point[v.name], dtype=float) for v in model.variables)))
    assert value == pytest.approx(reference, abs=5e-8)  # PyMC's normal log-cdf: 1e-8 here
