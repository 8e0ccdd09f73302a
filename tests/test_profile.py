"""Profile likelihoods against direct numpy/scipy minimisation and analytic intervals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special

from bayesfit.inference.objective import Objective
from bayesfit.inference.profile import profile_likelihood, profile_likelihood_2d
from bayesfit.model import BinnedModel
from bayesfit.predictors import TemplatePredictor

TEMPLATES = np.array([[5.0, 4.0, 3.0, 1.0, 0.5], [0.5, 1.0, 2.0, 4.0, 6.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
COUNTS = np.array([9, 7, 6, 8, 9])


def numpy_nll(weights: np.ndarray) -> float:
    expected = weights @ TEMPLATES
    return float(np.sum(expected - COUNTS * np.log(expected) + special.gammaln(COUNTS + 1)))


@pytest.fixture(scope="module")
def objective() -> Objective:
    model = BinnedModel(TemplatePredictor(TEMPLATES, labels=["a", "b", "flat"]), COUNTS)
    return Objective(model, "ml")


def test_profile_matches_scipy_refits(objective):
    values = np.linspace(0.4, 2.2, 7)
    scan = profile_likelihood(objective, "weights[0]", values)
    best = optimize.minimize(numpy_nll, [1, 1, 1], bounds=[(1e-9, None)] * 3, method="L-BFGS-B", options={"ftol": 1e-14, "gtol": 1e-10})
    assert scan.best_fit.nll == pytest.approx(best.fun, abs=1e-6)
    for value, twice_delta in zip(values, scan.twice_delta_nll):
        conditional = optimize.minimize(
            lambda others: numpy_nll(np.array([value, *others])),
            [1, 1],
            bounds=[(1e-9, None)] * 2,
            method="L-BFGS-B",
            options={"ftol": 1e-14, "gtol": 1e-10},
        )
        assert twice_delta == pytest.approx(2 * (conditional.fun - best.fun), abs=1e-5)
    assert scan.converged.all()


def test_interval_of_a_single_rate_is_analytic():
    # one template, total expectation s * T: -2 Delta ln L = 2 [s T - K - K ln(s T / K)]
    template = np.array([[2.0, 3.0, 5.0]])
    counts = np.array([4, 6, 11])
    total, observed_total = template.sum(), counts.sum()
    model = BinnedModel(TemplatePredictor(template), counts)
    scan = profile_likelihood(model, "weights[0]", np.linspace(1.0, 3.5, 101))

    def curve(s: float) -> float:
        return 2 * (s * total - observed_total - observed_total * np.log(s * total / observed_total)) - 1.0

    s_hat = observed_total / total
    lower, upper = scan.interval()
    assert lower == pytest.approx(optimize.brentq(curve, 0.5, s_hat), abs=2e-3)
    assert upper == pytest.approx(optimize.brentq(curve, s_hat, 5.0), abs=2e-3)


def test_profile_2d_grid_and_bad_entry(objective):
    scan = profile_likelihood_2d(objective, ("weights[0]", "weights[1]"), [0.8, 1.2], [0.5, 1.0, 1.5])
    assert scan.twice_delta_nll.shape == (2, 3)
    for i, a in enumerate(scan.grid[0]):
        for j, b in enumerate(scan.grid[1]):
            conditional = optimize.minimize_scalar(
                lambda flat: numpy_nll(np.array([a, b, flat])), bounds=(1e-9, 20), method="bounded", options={"xatol": 1e-10}
            )
            assert scan.twice_delta_nll[i, j] == pytest.approx(2 * (conditional.fun - scan.best_fit.nll), abs=1e-5)
    with pytest.raises(Exception, match="cannot profile"):
        profile_likelihood(objective, "weights", [1.0])


def test_an_interval_that_reaches_a_physical_bound_ends_there():
    """A signal weight fitted at its bound 0: the 68% interval is [0, upper], not (-inf, upper)."""
    background, signal = np.array([10.0, 10.0, 10.0]), np.array([1.0, 3.0, 1.0])
    model = BinnedModel(TemplatePredictor(np.stack([background, signal]), labels=["b", "s"]), [11, 7, 10],
                        fixed={"b": 1.0})
    scan = profile_likelihood(model, "s", np.linspace(0.0, 3.0, 61))
    assert scan.best_fit.values["weights"][1] == 0.0
    lower, upper = scan.interval()
    assert lower == 0.0 and scan.bounds == ((0.0, np.inf),)

    def excess(s):  # -2 Delta ln L - 1 with the minimum at s = 0
        mu, mu_0 = background + s * signal, background
        k = np.array([11.0, 7.0, 10.0])
        return 2 * np.sum(mu - mu_0 - k * np.log(mu / mu_0)) - 1.0

    assert upper == pytest.approx(optimize.brentq(excess, 1e-6, 3.0), abs=2e-3)
    # a scan that ends inside the allowed range without crossing says so
    short = profile_likelihood(model, "s", [0.0, 0.05, 0.1])
    assert short.interval() == (0.0, np.inf)


def test_negative_expectations_are_impossible_not_favourable():
    """A template weight allowed below 0 must not buy likelihood with negative rates in empty bins:
    -ln L is infinite there, and the fit stays where every rate is >= 0."""
    from bayesfit.inference import fit

    templates = np.array([[5.0, 5.0, 5.0], [0.0, 4.0, 1.0]])
    model = BinnedModel(TemplatePredictor(templates, lower=-10.0), [6, 0, 5], bounds={"weights[0]": (0.0, None)})
    objective = Objective(model)
    assert objective(np.array([1.0, -2.0])) == np.inf  # mu = (5, -3, 3): the empty bin goes negative
    assert np.isfinite(objective(np.array([1.0, -1.0])))  # mu = (5, 1, 4)
    result = fit(model)
    assert np.all(result.values["weights"] @ templates >= 0)  # the empty bin's rate 5 w0 + 4 w1 stays >= 0
    # and against a direct minimisation over the region where every rate is >= 0
    counts = np.array([6.0, 0.0, 5.0])

    def nll(w):
        mu = w @ templates
        return np.inf if np.any(mu < 0) else float(np.sum(mu - special.xlogy(counts, mu) + special.gammaln(counts + 1)))

    reference = optimize.minimize(nll, [1.0, 0.0], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12})
    assert result.nll == pytest.approx(reference.fun, abs=1e-6)
