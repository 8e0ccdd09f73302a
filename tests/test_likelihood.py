"""Per-bin likelihoods and universe marginalisation against scipy/numpy implementations."""

from __future__ import annotations


import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import optimize, special, stats

from reference_data import REFERENCE
from bayesfit.errors import LikelihoodError, ModelError
from bayesfit.likelihood import (
    ThrowConstraint,
    barlow_beeston_lite_logp,
    barlow_beeston_lite_scales,
    barlow_beeston_scaled_logp,
    check_observed,
    effective_logp,
    impossible_bins,
    marginalise_universes,
    poisson_logp,
    universe_probabilities,
)
from bayesfit.likelihood.poisson import poisson_deviance, saturated_poisson_logp

HESE = REFERENCE / "hese"

OBSERVED = np.array([0.0, 1.0, 3.0, 0.0, 2.0, 7.0, 40.0, 2.5])
EXPECTED = np.array([0.0, 1.5, 2.0, 0.5, 1.0, 3.0, 35.0, 1.7])
SUMW2 = np.array([0.0, 0.3, 0.8, 0.1, 0.5, 0.5, 4.0, 0.2])


@pytest.fixture(scope="module")
def per_bin():
    """All per-bin likelihoods compiled in one function of (observed, expected, sumw2, scales)."""
    k, mu, s2, b = (pt.vector(n, dtype="float64") for n in ("k", "mu", "s2", "b"))
    outputs = [
        poisson_logp(k, mu),
        pytensor.grad(poisson_logp(k, mu).sum(), mu),
        effective_logp(k, mu, s2),
        pytensor.grad(effective_logp(k, mu, s2).sum(), mu),
        barlow_beeston_lite_scales(k, mu, s2),
        barlow_beeston_lite_logp(k, mu, s2),
        barlow_beeston_scaled_logp(k, mu, s2, b),
    ]
    names = ["poisson", "poisson_grad", "effective", "effective_grad", "bb_scales", "bb_lite", "bb_sampled"]
    function = pytensor.function([k, mu, s2, b], outputs)
    return lambda k, mu, s2, b=None: dict(
        zip(names, function(k, mu, s2, np.ones_like(mu) if b is None else b))
    )


def effective_reference(k, mu, s2):
    """The Arguelles-Schneider-Yuan formula, written directly with scipy.special.gammaln."""
    alpha = mu**2 / s2 + 1.0
    beta = mu / s2
    return (
        alpha * np.log(beta)
        + special.gammaln(k + alpha)
        - special.gammaln(k + 1.0)
        - (k + alpha) * np.log1p(beta)
        - special.gammaln(alpha)
    )


def test_poisson_matches_scipy_including_zero_expectation(per_bin):
    integer = OBSERVED != np.round(OBSERVED)
    result = per_bin(OBSERVED, EXPECTED, SUMW2)
    expected = stats.poisson.logpmf(OBSERVED[~integer], EXPECTED[~integer])
    np.testing.assert_allclose(result["poisson"][~integer], expected, rtol=1e-12)
    assert result["poisson"][0] == 0.0  # mu = 0, k = 0
    # Asimov (non-integer) counts: continuous extension k ln mu - mu - lnGamma(k + 1)
    k, mu = OBSERVED[integer], EXPECTED[integer]
    np.testing.assert_allclose(result["poisson"][integer], k * np.log(mu) - mu - special.gammaln(k + 1))
    # d/dmu = k/mu - 1, finite (-1) where k = 0 even at mu = 0
    gradient = np.where(OBSERVED == 0, -1.0, OBSERVED / np.where(EXPECTED > 0, EXPECTED, 1) - 1.0)
    np.testing.assert_allclose(result["poisson_grad"], gradient)
    # mu = 0 with data is impossible
    assert per_bin(np.array([1.0]), np.array([0.0]), np.array([0.0]))["poisson"][0] == -np.inf


def test_saturated_value_and_deviance_are_the_poisson_maximum_and_distance():
    """At ``mu = k`` the Poisson log likelihood is at its maximum over ``mu``; the deviance is twice the
    distance from it (scipy's pmf for integer counts, a numerical maximisation for the Asimov one)."""
    counts = OBSERVED[OBSERVED == np.round(OBSERVED)]
    np.testing.assert_allclose(saturated_poisson_logp(counts), stats.poisson.logpmf(counts, counts).sum(), rtol=1e-12)
    best = optimize.minimize_scalar(lambda mu: -(2.5 * np.log(mu) - mu), bounds=(0.1, 10.0), method="bounded")
    assert saturated_poisson_logp(np.array([2.5])) == pytest.approx(-best.fun - special.gammaln(3.5), abs=1e-9)
    expected = EXPECTED[OBSERVED == np.round(OBSERVED)] + 0.1
    deviance = 2.0 * (stats.poisson.logpmf(counts, counts) - stats.poisson.logpmf(counts, expected)).sum()
    assert poisson_deviance(counts, expected) == pytest.approx(deviance, rel=1e-12)
    stacked = poisson_deviance(counts, np.stack([expected, counts]))
    np.testing.assert_allclose(stacked, [deviance, 0.0], atol=1e-12)


def test_seed_hese_negative_log_likelihood(per_bin):
    counts = np.loadtxt(HESE / "seed-binned-data.txt")
    expectation = np.loadtxt(HESE / "expectation-atmo1-astro1-gamma2.5.txt")
    assert counts.shape == expectation.shape == (400,)
    nll = -per_bin(counts, expectation, np.zeros(400))["poisson"].sum()
    assert nll == pytest.approx(222.27828, abs=5e-6)


def test_effective_likelihood_matches_formula(per_bin):
    usable = (SUMW2 > 0) & (EXPECTED > 0)
    result = per_bin(OBSERVED, EXPECTED, SUMW2)
    reference = effective_reference(OBSERVED[usable], EXPECTED[usable], SUMW2[usable])
    np.testing.assert_allclose(result["effective"][usable], reference, rtol=1e-9)
    # empty-bin convention: no MC uncertainty -> Poisson (here mu = 0, k = 0 -> 0)
    assert result["effective"][0] == 0.0
    # gradient against the analytic derivative (digamma), d alpha/d mu = 2 mu/s2, d beta/d mu = 1/s2
    k, mu, s2 = OBSERVED[usable], EXPECTED[usable], SUMW2[usable]
    alpha, beta = mu**2 / s2 + 1, mu / s2
    d_alpha, d_beta = 2 * mu / s2, 1 / s2
    numeric = (
        d_alpha * (np.log(beta) - np.log1p(beta) + special.digamma(k + alpha) - special.digamma(alpha))
        + d_beta * (alpha / beta - (k + alpha) / (1 + beta))
    )
    # PyTensor's digamma (gradient of gammaln) is accurate to about 1e-9
    np.testing.assert_allclose(result["effective_grad"][usable], numeric, rtol=1e-8)


@pytest.mark.parametrize("relative_variance", [1e-4, 1e-8, 1e-14])
def test_effective_likelihood_tends_to_poisson(per_bin, relative_variance):
    k = np.array([0.0, 1.0, 3.0, 7.0, 40.0, 1000.0])
    mu = np.array([0.2, 1.5, 2.0, 3.0, 35.0, 980.0])
    result = per_bin(k, mu, relative_variance * mu**2)
    poisson = stats.poisson.logpmf(k, mu)
    # the difference is of order s2 (k - mu)^2 / mu^2; it must shrink with s2 without precision loss
    np.testing.assert_allclose(result["effective"], poisson, atol=50 * relative_variance * k.max() ** 2 + 1e-9)


def test_barlow_beeston_lite_profiles_the_scale(per_bin):
    usable = (SUMW2 > 0) & (EXPECTED > 0)
    result = per_bin(OBSERVED, EXPECTED, SUMW2)
    for i in np.flatnonzero(usable):
        k, mu, sigma2 = OBSERVED[i], EXPECTED[i], SUMW2[i] / EXPECTED[i] ** 2

        def negative(b):
            return -(k * np.log(b * mu) - b * mu - special.gammaln(k + 1) - (b - 1) ** 2 / (2 * sigma2))

        best = optimize.minimize_scalar(negative, bounds=(1e-9, 10), method="bounded", options={"xatol": 1e-10})
        assert result["bb_scales"][i] == pytest.approx(best.x, rel=1e-6)
        assert result["bb_lite"][i] == pytest.approx(-best.fun, rel=1e-9)
    assert result["bb_lite"][0] == 0.0 and result["bb_scales"][0] == 1.0


def test_barlow_beeston_sampled_density(per_bin):
    scales = np.linspace(0.6, 1.4, OBSERVED.size)
    usable = (SUMW2 > 0) & (EXPECTED > 0)
    result = per_bin(OBSERVED, EXPECTED, SUMW2, scales)
    sigma = np.sqrt(SUMW2[usable]) / EXPECTED[usable]
    truncated = stats.truncnorm.logpdf(scales[usable], (0 - 1) / sigma, np.inf, loc=1, scale=sigma)
    k, rate = OBSERVED[usable], scales[usable] * EXPECTED[usable]
    reference = k * np.log(rate) - rate - special.gammaln(k + 1) + truncated
    np.testing.assert_allclose(result["bb_sampled"][usable], reference, rtol=1e-10)


def test_marginalised_universes_is_log_mean_exp():
    rng = np.random.default_rng(3)
    universe_logp = rng.normal(-250.0, 3.0, size=7)
    weights = rng.uniform(0.1, 2.0, size=7)
    value = pt.vector("ll")
    function = pytensor.function([value], marginalise_universes(value, weights))
    reference = np.log(np.sum(weights * np.exp(universe_logp + 250.0)) / weights.sum()) - 250.0
    assert float(function(universe_logp)) == pytest.approx(reference, rel=1e-12)
    probabilities = universe_probabilities(universe_logp[None, :], weights)[0]
    direct = weights * np.exp(universe_logp + 250.0)
    np.testing.assert_allclose(probabilities, direct / direct.sum(), rtol=1e-10)


def test_throw_nuisance_moments():
    rng = np.random.default_rng(5)
    throws = rng.multivariate_normal([1.0, 2.0, 3.0], [[1.0, 0.5, 0.0], [0.5, 2.0, 0.3], [0.0, 0.3, 0.5]], size=50)
    weights = rng.uniform(0.5, 1.5, size=50)
    nuisance = ThrowConstraint("flux", throws, weights)
    assert nuisance.variable == "flux_throw" and nuisance.size == nuisance.rank == 3
    np.testing.assert_allclose(nuisance.mean, np.average(throws, axis=0, weights=weights))
    np.testing.assert_allclose(nuisance.covariance, np.cov(throws.T, aweights=weights), rtol=1e-10)
    np.testing.assert_allclose(nuisance.loadings @ nuisance.loadings.T, nuisance.covariance, atol=1e-12)
    # fewer throws than entries: the covariance is singular and the rank drops
    assert ThrowConstraint("flux", throws[:2]).rank == 1
    with pytest.raises(ModelError, match="throws of 'flux' must have shape"):
        ThrowConstraint("flux", throws[0])


def test_observed_count_validation():
    assert check_observed([1, 2, 0], 3).dtype == float
    with pytest.raises(LikelihoodError, match=r"shape \(2,\), expected \(3,\)"):
        check_observed([1, 2], 3)
    with pytest.raises(LikelihoodError, match="bin 1 = -1.0 is negative"):
        check_observed([1, -1, 0], 3)
    with pytest.raises(LikelihoodError, match="bin 2 = 0.5 is not an integer"):
        check_observed([1, 1, 0.5], 3)
    np.testing.assert_array_equal(check_observed([1, 1, 0.5], 3, allow_noninteger=True), [1, 1, 0.5])
    with pytest.raises(LikelihoodError, match="bin 0 = nan is not finite"):
        check_observed([np.nan, 1, 0], 3)


def test_impossible_bins():
    expectations = np.array([[[0.0, 1.0, 0.0, 0.0]], [[0.0, 2.0, 1.0, 0.0]]])
    np.testing.assert_array_equal(impossible_bins(np.array([1.0, 1.0, 1.0, 0.0]), expectations), [0])


def test_marginal_gradient_stays_finite_when_every_universe_fits_badly():
    rng = np.random.default_rng(0)
    matrices = rng.uniform(0, 10, (3, 8, 2))
    counts = np.full(8, 2000.0)
    weights = pt.vector("weights")
    expected = pt.einsum("kij,j->ki", matrices, weights)
    total = marginalise_universes(poisson_logp(counts, expected).sum(-1), np.ones(3))
    function = pytensor.function([weights], [total, pytensor.grad(total, weights)])
    value, gradient = function(np.ones(2))

    def numpy_total(w: np.ndarray) -> float:
        mu = np.einsum("kij,j->ki", matrices, w)
        per_universe = stats.poisson.logpmf(counts, mu).sum(-1)
        return float(special.logsumexp(per_universe) - np.log(3))

    assert value == pytest.approx(numpy_total(np.ones(2)), rel=1e-12)
    step = 1e-6
    numeric = [(numpy_total(np.ones(2) + step * e) - numpy_total(np.ones(2) - step * e)) / (2 * step) for e in np.eye(2)]
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5)
