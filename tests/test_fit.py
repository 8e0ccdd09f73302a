"""Maximum-likelihood and MAP fits against analytic results and the seed HESE numbers."""

from __future__ import annotations


import numpy as np
import pytensor.tensor as pt
import pytest
from scipy import optimize, special, stats

from reference_data import REFERENCE
from bayesfit.errors import ModelError
from bayesfit.inference import Objective, fit
from bayesfit.model import BinnedModel
from bayesfit.predictors.base import Parameter, Predictor

HESE = REFERENCE / "hese"


class TemplateSum(Predictor):
    """expected[k] = sum_t norm[t] * templates[k, t]; sumw2[k] = sum_t norm[t]^2 * sumw2[k, t]."""

    def __init__(self, templates, sumw2=None, weights=None):
        self.name = "templates"
        self.templates = np.asarray(templates, dtype=float)  # (K, T, n)
        n_variations, n_templates, self.n_out = self.templates.shape
        self.parameters = (Parameter("norm", (n_templates,), lower=0.0, default=1.0),)
        self.variation_weights = np.ones(n_variations) if weights is None else np.asarray(weights, float)
        self.sumw2 = None if sumw2 is None else np.asarray(sumw2, dtype=float)

    def expected(self, params):
        return pt.tensordot(params["norm"], self.templates, axes=[[0], [1]])

    def expected_sumw2(self, params):
        if self.sumw2 is None:
            return None
        return pt.tensordot(params["norm"] ** 2, self.sumw2, axes=[[0], [1]])


@pytest.fixture(scope="module")
def hese():
    counts = np.loadtxt(HESE / "seed-binned-data.txt")
    expectation = np.loadtxt(HESE / "expectation-atmo1-astro1-gamma2.5.txt")
    model = BinnedModel(TemplateSum(expectation[None, None, :]), counts)
    return counts, expectation, Objective(model)


def test_seed_hese_likelihood_and_one_template_mle(hese):
    counts, expectation, objective = hese
    assert objective(np.array([1.0])) == pytest.approx(222.27828, abs=5e-6)
    result = fit(objective)
    norm = counts.sum() / expectation.sum()  # one-template MLE
    assert result.converged
    assert result.values["norm"][0] == pytest.approx(norm, rel=1e-6)
    # Fisher information of the norm: sum T^2 / mu = sum T / norm
    assert result.errors["norm"][0] == pytest.approx(np.sqrt(norm / expectation.sum()), rel=1e-6)
    nll = -stats.poisson.logpmf(counts, norm * expectation).sum()
    assert result.nll == pytest.approx(nll, rel=1e-9)


def test_toys_and_asimov_reuse_one_compiled_function(hese):
    counts, expectation, objective = hese
    compiled = objective._value_and_grad
    rng = np.random.default_rng(7)
    for toy in rng.poisson(0.8 * expectation, size=(3, expectation.size)):
        result = fit(objective, observed=toy, n_random_starts=0)
        assert result.values["norm"][0] == pytest.approx(toy.sum() / expectation.sum(), rel=1e-6)
    asimov = 1.7 * expectation  # non-integer data
    assert fit(objective, observed=asimov, n_random_starts=0).values["norm"][0] == pytest.approx(1.7, rel=1e-6)
    assert objective._value_and_grad is compiled


TWO_TEMPLATES = np.array([[[4.0, 3.0, 2.0, 1.0, 0.5], [0.5, 1.0, 2.0, 3.0, 4.0]]])
TWO_COUNTS = np.array([5.0, 3.0, 6.0, 4.0, 9.0])


@pytest.fixture(scope="module")
def two_templates():
    return BinnedModel(
        TemplateSum(TWO_TEMPLATES), TWO_COUNTS,
        priors={"norm": {"Gamma": {"alpha": 3.0, "beta": 2.0}}},
    )


def test_two_template_mle_covariance_and_profile(two_templates):
    objective = Objective(two_templates)
    result = fit(objective)
    templates = TWO_TEMPLATES[0]

    def nll(norm):
        return -stats.poisson.logpmf(TWO_COUNTS, norm @ templates).sum()

    reference = optimize.minimize(nll, [1.0, 1.0], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12})
    np.testing.assert_allclose(result.values["norm"], reference.x, rtol=1e-5)
    # observed Fisher information: sum_i k_i T_ai T_bi / mu_i^2
    mu = result.values["norm"] @ templates
    information = (templates * TWO_COUNTS / mu**2) @ templates.T
    np.testing.assert_allclose(result.covariance, np.linalg.inv(information), rtol=1e-5)
    assert result.labels == ["norm[0]", "norm[1]"]
    # profile: norm[1] fixed at 1.5 -> sum_i k_i T_0i / (a T_0i + 1.5 T_1i) = sum_i T_0i
    profile = fit(objective, fixed={"norm[1]": 1.5})

    def score(a):
        return np.sum(TWO_COUNTS * templates[0] / (a * templates[0] + 1.5 * templates[1])) - templates[0].sum()

    assert profile.values["norm"][1] == 1.5 and profile.errors["norm"][1] == 0.0
    assert profile.values["norm"][0] == pytest.approx(optimize.brentq(score, 1e-3, 10.0), rel=1e-6)
    assert profile.nll >= result.nll
    with pytest.raises(ModelError, match="unknown parameter 'norm\\[2\\]'"):
        fit(objective, fixed={"norm[2]": 1.0})
    # without the Hessian (toy fits): the same minimum (without the Newton step from L-BFGS-B's
    # stop that the Hessian allows), no errors
    quick = fit(objective, errors=False)
    np.testing.assert_allclose(quick.values["norm"], result.values["norm"], rtol=1e-9)
    assert quick.nll == pytest.approx(result.nll, rel=1e-14) and quick.converged
    assert np.all(np.isnan(quick.errors["norm"])) and np.all(np.isnan(quick.covariance))


def test_map_with_gamma_prior_is_conjugate_mode(hese):
    counts, expectation, _ = hese
    model = BinnedModel(
        TemplateSum(expectation[None, None, :]), counts, priors={"norm": {"Gamma": {"alpha": 3.0, "beta": 2.0}}}
    )
    result = fit(model, kind="map")
    mode = (3.0 + counts.sum() - 1.0) / (2.0 + expectation.sum())
    assert result.values["norm"][0] == pytest.approx(mode, rel=1e-6)
    with pytest.raises(ModelError, match="unknown fit kind"):
        fit(model, kind="bayes")


def test_marginalised_and_effective_objectives():
    weights = np.array([1.0, 3.0])
    universes = TWO_TEMPLATES * np.array([0.9, 1.1])[:, None, None]
    sumw2 = 0.05 * universes
    model = BinnedModel(TemplateSum(universes, sumw2=sumw2, weights=weights), TWO_COUNTS, likelihood="effective")
    objective = Objective(model)
    norm = np.array([1.3, 0.7])
    mu = norm @ universes  # (K, n)
    s2 = norm**2 @ sumw2
    alpha, beta = mu**2 / s2 + 1, mu / s2
    k = TWO_COUNTS
    per_universe = (
        alpha * np.log(beta) + special.gammaln(k + alpha) - special.gammaln(k + 1)
        - (k + alpha) * np.log1p(beta) - special.gammaln(alpha)
    ).sum(axis=1)
    marginal = special.logsumexp(per_universe, b=weights / weights.sum())
    assert objective(norm) == pytest.approx(-marginal, rel=1e-9)


# ---------------------------------------------------------------------- the seed's HESE procedure
ENERGY_BINS = np.logspace(np.log10(60.0e3), np.log10(1.0e7), 21)
ZENITH_BINS = np.arccos(np.linspace(-1, 1, 11))[::-1]
TOPOLOGY_BINS = np.linspace(0, 2, 3)


def seed_bin_index(energy, zenith, topology):
    """Flat seed bin index (topology, zenith, energy), -1 outside the binning (as np.digitize - 1)."""
    indices = [np.digitize(v, b) - 1 for v, b in ((topology, TOPOLOGY_BINS), (zenith, ZENITH_BINS), (energy, ENERGY_BINS))]
    inside = np.all([(i >= 0) & (i < len(b) - 1) for i, b in zip(indices, (TOPOLOGY_BINS, ZENITH_BINS, ENERGY_BINS))], axis=0)
    flat = (indices[0] * 10 + indices[1]) * 20 + indices[2]
    return np.where(inside, flat, -1)


class HeseFlux(Predictor):
    """The seed's weighting: atmo_norm w_atmo + astro_norm w_astro (E/100 TeV)^-(gamma - 2.5), binned."""

    def __init__(self, simulation):
        self.name = "hese"
        self.parameters = (
            Parameter("atmo_norm", lower=0.0, default=1.0),
            Parameter("astro_norm", lower=0.0, default=1.0),
            Parameter("astro_gamma", default=2.5),
        )
        self.n_out = 400
        self.variation_weights = np.ones(1)
        index = seed_bin_index(simulation[:, 2], simulation[:, 6], simulation[:, 5])
        keep = index >= 0
        self.bin_index = index[keep]
        self.astro, self.atmo = simulation[keep, 0], simulation[keep, 1]
        self.log_energy = np.log(simulation[keep, 3] / 1e5)

    def expected(self, params):
        weights = params["atmo_norm"] * self.atmo + params["astro_norm"] * self.astro * pt.exp(
            -(params["astro_gamma"] - 2.5) * self.log_energy
        )
        return pt.zeros(self.n_out)[self.bin_index].inc(weights)[None, :]


@pytest.mark.slow
def test_reproduces_the_seed_maximum_likelihood_fit():
    import json

    folder = HESE / "synthetic-small"
    simulation = np.array(json.load(open(folder / "hese_toy_simulation.json"))["events"])
    data = np.array(json.load(open(folder / "hese_toy_data.json"))["events"])
    data_index = seed_bin_index(data[:, 0], data[:, 2], data[:, 1])
    counts = np.bincount(data_index[data_index >= 0], minlength=400).astype(float)

    # the seed, in numpy: per-bin masks, its llh and scipy L-BFGS-B from (1, 8, 2.5)
    sim_index = seed_bin_index(simulation[:, 2], simulation[:, 6], simulation[:, 5])
    masks = [sim_index == i for i in range(400)]

    def seed_llh(x):
        atmo_norm, astro_norm, astro_gamma = x
        weight = simulation[:, 1] * atmo_norm + simulation[:, 0] * astro_norm * (simulation[:, 3] / 1e5) ** -(astro_gamma - 2.5)
        expect = np.array([weight[m].sum() for m in masks])
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = -(counts * np.log(expect) - expect - special.gammaln(counts + 1))
        terms[(counts == 0) & (expect == 0)] = 0
        return terms.sum()

    seed = optimize.minimize(seed_llh, [1.0, 8.0, 2.5], method="L-BFGS-B", bounds=[[0, None], [0, None], [None, None]])
    model = BinnedModel(HeseFlux(simulation), counts)
    result = fit(model, starts=[{"atmo_norm": 1.0, "astro_norm": 8.0, "astro_gamma": 2.5}])
    assert result.converged
    assert result.nll == pytest.approx(seed.fun, abs=1e-4)
    found = [result.values[name] for name in ("atmo_norm", "astro_norm", "astro_gamma")]
    np.testing.assert_allclose(found, seed.x, rtol=2e-3)
    assert seed_llh([1.0, 6.0, 2.9]) == pytest.approx(Objective(model)(np.array([1.0, 6.0, 2.9])), rel=1e-10)


# ---------------------------------------------------------------------- fits that find the minimum
class DoubleWell(Predictor):
    """``expected = background + signal * f(theta)`` with ``f`` a double well: a shallow minimum
    near ``theta = -1`` (``f = 0.3``) and the global one at ``theta = 1.5`` (``f = 0``)."""

    def __init__(self):
        self.name = "double-well"
        self.parameters = (Parameter("theta", lower=-3.0, upper=3.0, default=0.0),)
        self.n_out = 3
        self.variation_weights = np.ones(1)

    @staticmethod
    def well(theta):
        return 0.1 * (theta + 1.0) ** 2 * (theta - 1.5) ** 2 + 0.3 * (1.5 - theta) / 2.5 * (theta < 1.5)

    def expected(self, params):
        theta = params["theta"]
        shape = 0.1 * (theta + 1.0) ** 2 * (theta - 1.5) ** 2 + 0.3 * pt.maximum(1.5 - theta, 0.0) / 2.5
        return (np.array([20.0, 20.0, 20.0]) + np.array([60.0, 30.0, 10.0]) * shape)[None, :]


def test_several_minima_give_the_best_and_say_the_starts_disagree():
    background, signal = np.array([20.0, 20.0, 20.0]), np.array([60.0, 30.0, 10.0])
    model = BinnedModel(DoubleWell(), background, allow_noninteger=True)  # data at f = 0: theta = 1.5

    def nll(theta):
        mu = background + signal * DoubleWell.well(theta)
        return np.sum(mu - background * np.log(mu) + special.gammaln(background + 1))

    grid = np.linspace(-3, 3, 60001)
    best = grid[np.argmin([nll(t) for t in grid])]
    local = fit(model, starts=[{"theta": -1.2}], n_random_starts=0)
    assert local.values["theta"] < 0 and local.minima_agree  # one start: stuck in the shallow well
    result = fit(model, starts=[{"theta": -1.2}], n_random_starts=6, seed=1)
    assert result.values["theta"] == pytest.approx(best, abs=1e-3)
    assert result.nll == pytest.approx(nll(result.values["theta"]), rel=1e-12)
    assert result.nll < local.nll - 0.1
    assert not result.minima_agree and np.sum(np.isfinite(result.all_nll)) == 7


def test_a_kink_of_piecewise_linear_interpolation_gives_the_best_point():
    """Code 0 (piecewise linear) with both variations raising the rate: the minimum is the kink at 0."""
    from bayesfit.predictors import InterpolatedShifts, TemplatePredictor

    nominal = np.array([50.0, 40.0, 30.0])
    shifted = InterpolatedShifts(TemplatePredictor(nominal[None, :], default=1.0), nominal,
                                 {"alpha": (nominal * 1.1, nominal * 1.2)}, code="0")
    model = BinnedModel(shifted, nominal, fixed={"weights": [1.0]}, allow_noninteger=True)
    result = fit(model)

    def nll(alpha):
        mu = nominal * (1.0 + np.where(alpha > 0, 0.2 * alpha, -0.1 * alpha))
        return np.sum(mu - nominal * np.log(mu) + special.gammaln(nominal + 1))

    assert result.values["alpha"] == pytest.approx(0.0, abs=1e-6)
    assert result.nll == pytest.approx(nll(0.0), abs=1e-9)
    assert result.nll <= min(nll(a) for a in np.linspace(-1, 1, 2001)) + 1e-9


def test_asimov_data_give_back_the_point_that_generated_them():
    from bayesfit.inference import asimov_data
    from bayesfit.likelihood import GaussianConstraint, PoissonConstraint

    model = BinnedModel(
        TemplateSum(TWO_TEMPLATES * 30), TWO_COUNTS * 30,
        constraints=[GaussianConstraint("norm", [1.0], [0.1], entries=[0]),
                     PoissonConstraint("norm", [400.0], [400.0], entries=[1])],
    )
    truth = {"norm": np.array([1.07, 0.93])}
    asimov = asimov_data(model, truth)
    np.testing.assert_allclose(asimov.aux, [1.07, 400.0 * 0.93])
    result = fit(model, observed=asimov)
    objective = Objective(model)
    at_truth = objective(objective.pack(truth), asimov)
    assert abs(2 * (result.nll - at_truth)) < 1e-6
    np.testing.assert_allclose(result.values["norm"], truth["norm"], rtol=1e-5)
    assert result.converged and result.minima_agree


def test_singular_and_flat_directions_are_not_converged_and_have_nan_errors():
    identical = BinnedModel(TemplateSum(np.array([[[2.0, 3.0, 4.0], [2.0, 3.0, 4.0]]])), [3, 2, 5])
    result = fit(identical)  # only the sum of the two norms is measured
    assert not result.converged
    assert np.all(np.isnan(result.errors["norm"])) and np.all(np.isnan(result.covariance))
    assert result.values["norm"].sum() == pytest.approx(10 / 9, rel=1e-6)

    class Unused(Predictor):  # a parameter the expectation does not depend on
        name, n_out, variation_weights = "unused", 3, np.ones(1)
        parameters = (Parameter("norm", lower=0.0, default=1.0), Parameter("ghost", default=0.0))

        def expected(self, params):
            return (params["norm"] * np.array([2.0, 3.0, 4.0]) + 0.0 * params["ghost"])[None, :]

    flat = fit(BinnedModel(Unused(), [3, 2, 5]))
    assert not flat.converged and np.isnan(flat.errors["ghost"])
    assert flat.values["norm"] == pytest.approx(10 / 9, rel=1e-6)


def test_convergence_is_judged_on_the_scale_of_the_problem():
    """1e9 counts per bin: the exact fit converges, the value to 1e-9 of the analytic one."""
    template = np.array([1.0, 2.0, 3.0, 2.5]) * 1e9
    counts = np.round(template * 1.2345678)
    result = fit(BinnedModel(TemplateSum(template[None, None, :]), counts))
    assert result.converged and result.edm < 1e-5
    assert result.values["norm"][0] == pytest.approx(counts.sum() / template.sum(), rel=1e-9)
    assert result.errors["norm"][0] == pytest.approx(np.sqrt(result.values["norm"][0] / template.sum()), rel=1e-5)


def test_fixed_values_outside_the_bounds_are_refused_as_everywhere():
    model = BinnedModel(TemplateSum(TWO_TEMPLATES), TWO_COUNTS)
    for call in (lambda: fit(model, fixed={"norm[0]": -1.0}),
                 lambda: __import__("bayesfit").profile_likelihood(model, "norm[0]", [-1.0, 1.0]),
                 lambda: __import__("bayesfit").wilks_pvalue(model, {"norm[1]": -0.5})):
        with pytest.raises(ModelError, match=r"norm\[\d\] = -[\d.]+ is outside its bounds \[0, inf\]"):
            call()
