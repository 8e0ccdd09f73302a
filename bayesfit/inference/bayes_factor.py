"""Bayes factors: evidences by Sequential Monte Carlo, and the Savage-Dickey density ratio.

- :func:`log_evidence_smc`: ``ln Z = ln int L(theta) pi(theta) dtheta`` from ``pm.sample_smc``,
  one estimate per independent chain; their spread gives the error.
- :func:`bayes_factor`: ``ln BF = ln Z_a - ln Z_b`` of two analyses of the same counts
  (positive: the data prefer ``model_a``).
- :func:`savage_dickey`: for a nested hypothesis (one entry fixed at a value, priors of the others
  independent of it) ``BF(nested / full) = p(value | data) / p(value)``, the posterior density
  estimated in the sampler's unconstrained space (log or logit of a bounded entry) by a Gaussian
  KDE with a normal parametric start (bias-corrected), or by a reflected KDE when the value is on
  a bound.

Evidences need proper priors: a flat prior over an infinite range makes ``Z`` arbitrary.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np
from scipy import special
from scipy.stats import gaussian_kde

from bayesfit.errors import InferenceError, ModelError
from bayesfit.model import BinnedModel, ModelParameter

__all__ = [
    "BayesFactorResult",
    "EvidenceResult",
    "bayes_factor",
    "log_evidence_smc",
    "pymc_log_evidence",
    "savage_dickey",
]

BAYES_FACTOR_METHODS = ("smc",)


class EvidenceResult(NamedTuple):
    """``log_evidence``: ``ln`` of the mean evidence over chains; ``error``: standard error of the
    per-chain ``ln Z`` (NaN with one chain); ``per_chain``: ``ln Z`` of every chain, ``(chains,)``."""

    log_evidence: float
    error: float
    per_chain: np.ndarray


class BayesFactorResult(NamedTuple):
    """``ln_bayes_factor`` (first over second hypothesis) with its standard ``error``; the evidences
    when they were computed (SMC), else ``None`` (Savage-Dickey)."""

    ln_bayes_factor: float
    error: float
    evidence_a: EvidenceResult | None
    evidence_b: EvidenceResult | None


def log_evidence_smc(
    model: BinnedModel,
    *,
    draws: int = 2000,
    chains: int = 4,
    seed: int | None = 0,
    progressbar: bool = False,
    cores: int | None = None,
) -> EvidenceResult:
    """Log evidence of ``model`` (its PyMC model: priors, likelihood and any added terms) by SMC.

    Each of the ``chains`` independent SMC runs of ``draws`` particles gives one estimate (the last
    entry of its ``log_marginal_likelihood``); they are combined as ``ln mean(Z)``.
    """
    _check_proper_priors(model)
    return pymc_log_evidence(
        model.pymc_model, draws=draws, chains=chains, seed=seed, progressbar=progressbar, cores=cores
    )


def pymc_log_evidence(
    pymc_model: Any,
    *,
    draws: int = 2000,
    chains: int = 4,
    seed: int | None = 0,
    progressbar: bool = False,
    cores: int | None = None,
) -> EvidenceResult:
    """Log evidence of any ``pm.Model`` with proper priors by SMC, particles drawn from the prior."""
    import pymc as pm

    if chains < 1 or draws < 2:
        raise ModelError(f"SMC needs chains >= 1 and draws >= 2, got chains={chains}, draws={draws}")
    cores = cores or min(chains, os.cpu_count() or 1)
    seeds = np.random.SeedSequence(seed).spawn(chains + 1)
    idata = pm.sample_smc(
        draws=draws, chains=chains, cores=cores, random_seed=np.random.default_rng(seeds[-1]),
        progressbar=progressbar, model=pymc_model, compute_convergence_checks=False,
        start=[_prior_population(pymc_model, draws, np.random.default_rng(s)) for s in seeds[:-1]],
    )
    per_chain = _last_finite_per_chain(idata.sample_stats["log_marginal_likelihood"].values)
    log_evidence = float(special.logsumexp(per_chain) - np.log(chains))
    error = float(np.std(per_chain, ddof=1) / np.sqrt(chains)) if chains > 1 else float("nan")
    return EvidenceResult(log_evidence, error, per_chain)


def bayes_factor(
    model_a: BinnedModel, model_b: BinnedModel, *, method: str = "smc", **kwargs: Any
) -> BayesFactorResult:
    """``ln BF = ln Z_a - ln Z_b`` of two models of the same counts (``kwargs`` go to :func:`log_evidence_smc`)."""
    if method not in BAYES_FACTOR_METHODS:
        raise ModelError(
            f"unknown Bayes factor method {method!r}; valid: {list(BAYES_FACTOR_METHODS)} "
            "(use savage_dickey for a nested hypothesis)"
        )
    if not np.array_equal(model_a.observed, model_b.observed):
        raise ModelError("a Bayes factor compares models of the same counts, but the observed counts differ")
    evidence_a = log_evidence_smc(model_a, **kwargs)
    evidence_b = log_evidence_smc(model_b, **kwargs)
    return BayesFactorResult(
        evidence_a.log_evidence - evidence_b.log_evidence,
        float(np.hypot(evidence_a.error, evidence_b.error)),
        evidence_a,
        evidence_b,
    )


def savage_dickey(
    model: BinnedModel,
    parameter: str,
    value: float,
    *,
    idata: Any = None,
    draws: int = 2000,
    chains: int = 4,
    seed: int | None = 0,
) -> BayesFactorResult:
    """``ln BF`` of the nested model (``parameter`` fixed at ``value``) over the full model.

    Parameters
    ----------
    parameter:
        A scalar variable's name or an entry label such as ``"weights[2]"``.
    idata:
        Posterior draws of ``model`` (from :func:`bayesfit.inference.sample_posterior`); sampled
        here with ``draws``, ``chains`` and ``seed`` when not given.

    The error is the standard error of the per-chain estimates.
    """
    variable, index = _find_entry(model, parameter)
    lower, upper = variable.lower, variable.upper
    if not lower <= value <= upper:
        raise ModelError(f"savage_dickey: {parameter} = {value:g} is outside its support [{lower:g}, {upper:g}]")
    log_prior = _log_prior_density(model, variable, index, value)
    if idata is None:
        from bayesfit.inference.posterior import sample_posterior

        idata = sample_posterior(model, draws=draws, chains=chains, seed=seed, progressbar=False)
    if variable.name not in idata.posterior:
        raise InferenceError(f"the posterior has no variable {variable.name!r}: is idata from this model?")
    samples = idata.posterior[variable.name].values
    samples = samples.reshape(*samples.shape[:2], -1)[:, :, index]  # (chain, draw)
    log_posterior = _log_density_at(samples.ravel(), value, lower, upper)
    per_chain = np.array([_log_density_at(chain, value, lower, upper) for chain in samples])
    n_chains = len(per_chain)
    error = float(np.std(per_chain, ddof=1) / np.sqrt(n_chains)) if n_chains > 1 else float("nan")
    return BayesFactorResult(log_posterior - log_prior, error, None, None)


# ---------------------------------------------------------------------- helpers
def _check_proper_priors(model: BinnedModel) -> None:
    for variable in model.free_parameters:
        if variable.prior.is_flat and not (np.isfinite(variable.lower) and np.isfinite(variable.upper)):
            raise ModelError(
                f"parameter {variable.name!r} has a flat prior on [{variable.lower:g}, {variable.upper:g}]: "
                "evidences and Bayes factors need proper priors; give it one in priors="
            )


def _prior_population(pymc_model: Any, draws: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``draws`` joint prior draws of every free variable, in the sampler's (transformed) space.

    SMC must start from the prior; PyMC 5.28 starts it at the explicit initial values instead when
    a model has them (as every :class:`BinnedModel` does), which silently biases the evidence.
    """
    import pymc as pm
    from pymc.initial_point import make_initial_point_expression

    expression = make_initial_point_expression(
        free_rvs=pymc_model.free_RVs,
        rvs_to_transforms=pymc_model.rvs_to_transforms,
        initval_strategies={},
        default_strategy="prior",
        return_transformed=True,
    )
    values = pm.draw(expression, draws=draws, random_seed=rng)
    names = [pymc_model.rvs_to_values[rv].name for rv in pymc_model.free_RVs]
    return {name: np.asarray(value) for name, value in zip(names, values)}


def _last_finite_per_chain(log_marginal_likelihood: np.ndarray) -> np.ndarray:
    """Last finite entry of every SMC chain.

    PyMC stores a (chain, stage) array padded with NaN, or, when chains ran different numbers of
    stages, an object array whose items are the chains' lists of stages.
    """
    values = np.asarray(log_marginal_likelihood)
    if values.dtype == object and any(np.ndim(item) > 0 for item in values.ravel()):
        chains = [np.asarray(item, dtype=float).ravel() for item in values.ravel()]
    else:
        chains = list(np.atleast_2d(values.astype(float)))
    per_chain = []
    for chain, stages in enumerate(chains):
        finite = stages[np.isfinite(stages)]
        if finite.size == 0:
            raise InferenceError(f"SMC chain {chain} reports no finite log marginal likelihood")
        per_chain.append(finite[-1])
    return np.array(per_chain)


def _find_entry(model: BinnedModel, parameter: str) -> tuple[ModelParameter, int]:
    """The model variable and the flat index of entry ``parameter`` (a name or ``"name[i]"``)."""
    labels = {}
    for variable in model.free_parameters:
        if variable.shape == ():
            labels[variable.name] = (variable, 0)
        else:
            labels.update({f"{variable.name}[{i}]": (variable, i) for i in range(variable.size)})
            if variable.size == 1:
                labels[variable.name] = (variable, 0)
    if parameter not in labels:
        raise ModelError(f"unknown parameter entry {parameter!r}; entries are {list(labels)}")
    return labels[parameter]


def _log_prior_density(model: BinnedModel, variable: ModelParameter, index: int, value: float) -> float:
    """Marginal prior log density of one entry at ``value`` (truncation to the bounds normalised)."""
    import pymc as pm

    prior = variable.prior
    if prior.hyperparameters:
        raise ModelError(
            f"savage_dickey: the prior of {variable.name!r} depends on hyperparameters {list(prior.hyperparameters)}; "
            "its marginal density at a point is not available"
        )
    if prior.is_flat and not (np.isfinite(variable.lower) and np.isfinite(variable.upper)):
        raise ModelError(
            f"savage_dickey: {variable.name!r} has an improper flat prior; the Bayes factor needs a proper prior"
        )
    random_variable = model.pymc_model[variable.name]
    point = np.full(variable.shape, value, dtype=float)
    log_density = np.asarray(pm.logp(random_variable, point).eval(), dtype=float)
    if log_density.shape != variable.shape:
        raise ModelError(
            f"savage_dickey: the prior of {variable.name!r} ({prior}) is not elementwise; "
            "the marginal density of one entry is not available"
        )
    return float(log_density.reshape(-1)[index])


def _log_density_at(samples: np.ndarray, value: float, lower: float, upper: float) -> float:
    """Log posterior density at ``value`` from draws on ``[lower, upper]``.

    Inside: Gaussian KDE of the unconstrained draws (log or logit of bounded ones) with the
    Jacobian of the transform; on a finite bound: KDE of the draws reflected at it.
    """
    samples = np.asarray(samples, dtype=float)
    if value in (lower, upper):
        distance = np.abs(samples - value)
        mirrored = np.concatenate([distance, -distance])
        return float(np.log(2.0 * gaussian_kde(mirrored)(0.0)[0]))
    if np.isfinite(lower) and np.isfinite(upper):
        width = upper - lower
        fraction, at = (samples - lower) / width, (value - lower) / width
        transformed, point = special.logit(fraction), special.logit(at)
        log_jacobian = -np.log(width * at * (1.0 - at))
    elif np.isfinite(lower):
        transformed, point, log_jacobian = np.log(samples - lower), np.log(value - lower), -np.log(value - lower)
    elif np.isfinite(upper):
        transformed, point, log_jacobian = np.log(upper - samples), np.log(upper - value), -np.log(upper - value)
    else:
        transformed, point, log_jacobian = samples, value, 0.0
    return _log_density_parametric_start(transformed, point) + log_jacobian


def _log_density_parametric_start(samples: np.ndarray, point: float) -> float:
    """Log density at ``point`` by a Gaussian KDE with a normal parametric start (Hjort and Glad 1995).

    A KDE with bandwidth ``h`` of normal draws ``N(m, s)`` estimates ``N(m, sqrt(s^2 + h^2))``;
    multiplying by ``N(point; m, s) / N(point; m, sqrt(s^2 + h^2))`` removes this smoothing bias for
    near-normal posteriors (the usual case in the unconstrained space) and keeps the KDE's shape
    otherwise.
    """
    kde = gaussian_kde(samples)
    mean, variance = float(np.mean(samples)), float(np.var(samples))
    smoothed_variance = variance + float(kde.covariance[0, 0])
    correction = _normal_logpdf(point, mean, variance) - _normal_logpdf(point, mean, smoothed_variance)
    return float(np.log(kde(point)[0]) + correction)


def _normal_logpdf(x: float, mean: float, variance: float) -> float:
    return -0.5 * ((x - mean) ** 2 / variance + np.log(2 * np.pi * variance))
