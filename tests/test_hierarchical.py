"""Hierarchical priors in the ``pm.Model``: the sampling coordinates change, the posterior does not.

For each parametrisation (``non_centered="auto"``, ``True``, ``False``) the PyMC log density in
the sampler's unconstrained coordinates ``y`` must equal the log posterior in natural units,
written with scipy, plus ``ln |det d(natural) / dy|``, the Jacobian taken by central finite
differences of the model's own map from ``y`` to the natural values. The adaptive map's scale is
checked against the rule of :mod:`bayesfit.model.pymc_model` with the Fisher information of the
templates computed in numpy, and prior draws (used by SMC) against numpy draws.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytest
from scipy import stats

from bayesfit.model import BinnedModel
from bayesfit.predictors import TemplatePredictor

TEMPLATES = np.array([[30.0, 15.0, 5.0, 1.0], [4.0, 20.0, 12.0, 4.0], [1.0, 5.0, 60.0, 300.0]])
COUNTS = np.array([33, 45, 70, 290])
TAU_SCALE = 0.5


def hierarchical_model(family: str, non_centered, **kwargs) -> BinnedModel:
    prior = (
        {"Normal": {"mu": 1.0, "sigma": "tau"}} if family == "normal" else {"LogNormal": {"mu": 0.0, "sigma": "tau"}}
    )
    return BinnedModel(
        TemplatePredictor(TEMPLATES), COUNTS, priors={"weights": prior},
        hyperpriors={"tau": {"HalfNormal": {"sigma": TAU_SCALE}}}, non_centered=non_centered, **kwargs,
    )


def natural_log_posterior(family: str, tau: float, weights: np.ndarray) -> float:
    """Log posterior density in natural units (tau, weights), independent of PyMC."""
    if family == "normal":  # Normal(1, tau) truncated to the templates' bound 0
        prior = stats.truncnorm.logpdf(weights, -1.0 / tau, np.inf, loc=1.0, scale=tau).sum()
    else:
        prior = stats.lognorm.logpdf(weights, tau).sum()
    return float(
        stats.halfnorm.logpdf(tau, scale=TAU_SCALE) + prior + stats.poisson.logpmf(COUNTS, weights @ TEMPLATES).sum()
    )


def natural_map(pymc_model, names):
    """``{value variable: array} -> [natural value of each name]``: the model's own map from the
    sampler's coordinates (its value variables) to the natural values."""
    outputs = pymc_model.replace_rvs_by_values([pymc_model[name] for name in names])
    function = pytensor.function(pymc_model.value_vars, outputs, on_unused_input="ignore")
    return lambda point: function(*(point[v.name] for v in pymc_model.value_vars))


class Coordinates:
    """The sampler's flat unconstrained coordinates of a ``pm.Model`` and its map to natural values."""

    def __init__(self, pymc_model):
        self.pymc_model = pymc_model
        self.names = [value.name for value in pymc_model.value_vars]
        start = pymc_model.initial_point()
        self.shapes = [np.shape(start[name]) for name in self.names]
        self.logp = pymc_model.compile_logp(jacobian=True)
        self.natural = natural_map(pymc_model, ["tau", "weights"])

    def point(self, y: np.ndarray) -> dict[str, np.ndarray]:
        point, offset = {}, 0
        for name, shape in zip(self.names, self.shapes):
            size = int(np.prod(shape, dtype=int))
            point[name] = y[offset:offset + size].reshape(shape)
            offset += size
        return point

    def natural_values(self, y: np.ndarray) -> np.ndarray:
        tau, weights = self.natural(self.point(y))
        return np.concatenate([[tau], weights])

    def log_jacobian(self, y: np.ndarray, step: float = 1e-6) -> float:
        """``ln |det d(tau, weights) / dy|`` by central finite differences."""
        columns = [
            (self.natural_values(y + step * e) - self.natural_values(y - step * e)) / (2 * step)
            for e in np.eye(y.size)
        ]
        return float(np.linalg.slogdet(np.array(columns).T)[1])


@pytest.mark.parametrize("non_centered", ["auto", True, False])
@pytest.mark.parametrize("family", ["normal", "lognormal"])
def test_density_in_natural_units_is_unchanged(family, non_centered):
    model = hierarchical_model(family, non_centered)
    coordinates = Coordinates(model.pymc_model)
    rng = np.random.default_rng(3)
    size = sum(int(np.prod(shape, dtype=int)) for shape in coordinates.shapes)
    assert size == 4
    for _ in range(5):
        y = rng.normal(0.0, 1.0, size)
        tau, *weights = coordinates.natural_values(y)
        expected = natural_log_posterior(family, tau, np.array(weights)) + coordinates.log_jacobian(y)
        assert coordinates.logp(coordinates.point(y)) == pytest.approx(expected, abs=1e-6)


def test_sampling_coordinates_follow_the_rule():
    """auto: tau on s * softplus(y), weights through the adaptive map; True: plain non-centred;
    False: centred (PyMC's transform of the truncated prior)."""
    assert set(hierarchical_model("normal", "auto").pymc_model.named_vars) >= {"tau", "weights", "weights_offset"}
    names = {v.name for v in hierarchical_model("normal", "auto").pymc_model.value_vars}
    assert names == {"tau_soft_positive__", "weights_offset_soft_lower__"}
    names = {v.name for v in hierarchical_model("lognormal", "auto").pymc_model.value_vars}
    assert names == {"tau_soft_positive__", "weights_offset"}  # ln(weights) is unbounded
    names = {v.name for v in hierarchical_model("normal", False).pymc_model.value_vars}
    assert names == {"tau_soft_positive__", "weights_interval__"}


@pytest.mark.parametrize("family", ["normal", "lognormal"])
@pytest.mark.parametrize("tau", [0.01, 0.1, 1.0])
def test_adaptive_scale_matches_the_fisher_information(family, tau):
    """d(theta) / du at fixed tau is v = tau / sqrt(1 + tau^2 F) (times theta for LogNormal), with
    F_i = sum_b T_ib^2 / lambda_b at the start (weights 1; per unit of ln theta for LogNormal) from
    numpy; True gives v = tau."""
    information = (TEMPLATES**2 / TEMPLATES.sum(axis=0)).sum(axis=1)  # templates are linear: F at weights 1
    for non_centered, expected in (("auto", tau / np.sqrt(1 + tau**2 * information)), (True, np.full(3, tau))):
        pymc_model = hierarchical_model(family, non_centered).pymc_model
        tau_rv, weights = pymc_model["tau"], pymc_model["weights"]
        offset = pymc_model["weights_offset"]
        function = pytensor.function([tau_rv, offset], weights)
        u = np.array([0.3, -0.2, 0.1])
        step = 1e-6
        derivative = np.array([
            (function(tau, u + step * e) - function(tau, u - step * e))[i] / (2 * step)
            for i, e in enumerate(np.eye(3))
        ])
        if family == "lognormal":
            derivative /= function(tau, u)  # d ln(theta) / du
        np.testing.assert_allclose(derivative, expected, rtol=1e-6)


@pytest.mark.parametrize("family", ["normal", "lognormal"])
def test_prior_draws_follow_the_hierarchical_prior(family):
    """Draws of the PyMC model's prior (SMC starts from them) against numpy draws: KS tests."""
    pymc_model = hierarchical_model(family, "auto").pymc_model
    tau, weights = pm.draw([pymc_model["tau"], pymc_model["weights"]], draws=4000, random_seed=5)
    rng = np.random.default_rng(6)
    expected_tau = np.abs(rng.normal(0.0, TAU_SCALE, 4000))
    noise = rng.normal(0.0, 1.0, (4000, 3))
    if family == "normal":  # truncation at 0 by rejection
        expected = 1.0 + expected_tau[:, None] * noise
        while np.any(negative := expected < 0):
            expected[negative] = 1.0 + np.broadcast_to(expected_tau[:, None], expected.shape)[negative] * rng.normal(
                0.0, 1.0, int(negative.sum()))
    else:
        expected = np.exp(expected_tau[:, None] * noise)
    assert stats.ks_2samp(tau, expected_tau).pvalue > 0.01
    for i in range(3):
        assert stats.ks_2samp(weights[:, i], expected[:, i]).pvalue > 0.01
    assert np.all(weights > 0)


def test_hyperparameter_location_and_starts_away_from_it():
    """A hierarchical mean (and start values away from it) keep the density: Normal(m, 0.3) with
    m ~ Normal(1, 0.5), starts (0.5, 2, 1)."""
    model = BinnedModel(
        TemplatePredictor(TEMPLATES), COUNTS, priors={"weights": {"Normal": {"mu": "m", "sigma": 0.3}}},
        hyperpriors={"m": {"Normal": {"mu": 1.0, "sigma": 0.5}}}, starts={"weights": [0.5, 2.0, 1.0]},
    )
    pymc_model = model.pymc_model
    logp = pymc_model.compile_logp(jacobian=True)
    natural = natural_map(pymc_model, ["m", "weights"])
    names = [v.name for v in pymc_model.value_vars]
    assert names == ["m", "weights_offset_soft_lower__"]

    def values(y):
        m, weights = natural({"m": y[0], names[1]: y[1:]})
        return np.concatenate([[m], weights])

    rng = np.random.default_rng(4)
    for _ in range(5):
        y = rng.normal(0.0, 1.0, 4)
        y[0] += 1.0
        m, *weights = values(y)
        columns = [(values(y + 1e-6 * e) - values(y - 1e-6 * e)) / 2e-6 for e in np.eye(4)]
        expected = (
            stats.norm.logpdf(m, 1.0, 0.5)
            + stats.truncnorm.logpdf(weights, -m / 0.3, np.inf, loc=m, scale=0.3).sum()
            + stats.poisson.logpmf(COUNTS, np.array(weights) @ TEMPLATES).sum()
            + np.linalg.slogdet(np.array(columns).T)[1]
        )
        assert logp({"m": y[0], names[1]: y[1:]}) == pytest.approx(expected, abs=1e-6)
    # the chain starts at the start values
    start = natural(pymc_model.initial_point())
    np.testing.assert_allclose(start[1], [0.5, 2.0, 1.0], rtol=1e-10)
