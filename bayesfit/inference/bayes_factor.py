"""Bayes factors: evidences by Sequential Monte Carlo, and the Savage-Dickey density ratio.

- :func:`log_evidence_smc`: ``ln Z = ln int L(theta) pi(theta) dtheta`` from ``pm.sample_smc``,
  one estimate per independent chain; their spread gives the error.
- :func:`bayes_factor`: ``ln BF = ln Z(numerator) - ln Z(denominator)`` of two models of the same
  data, or of a model and a nested hypothesis of it (``{"mu": 0.0}``); positive values favour
  the numerator.
- :func:`savage_dickey`: for a nested hypothesis (one entry fixed at a value, priors of the others
  independent of it) ``BF(nested / full) = p(value | data) / p(value)``, the posterior density
  estimated in the sampler's unconstrained space (log or logit of a bounded entry) by a Gaussian
  KDE with a normal parametric start (bias-corrected), or by a reflected KDE when the value is on
  a bound.

Evidences need proper priors: a flat prior over an infinite range makes ``Z`` arbitrary.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import special
from scipy.stats import gaussian_kde

from bayesfit.backend import configure_blas
from bayesfit.errors import InferenceError, ModelError
from bayesfit.inference.results import BayesFactorResult, EvidenceResult
from bayesfit.model import BinnedModel, ModelParameter

__all__ = ["BAYES_FACTOR_METHODS", "bayes_factor", "log_evidence_smc", "pymc_log_evidence", "savage_dickey"]

BAYES_FACTOR_METHODS = ("smc", "savage_dickey")

logger = logging.getLogger(__name__)


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
    configure_blas()
    logger.info("SMC: %d chains of %d particles on %d cores", chains, draws, cores)
    start = time.perf_counter()
    seeds = np.random.SeedSequence(seed).spawn(chains + 1)
    idata = pm.sample_smc(
        draws=draws, chains=chains, cores=cores, random_seed=np.random.default_rng(seeds[-1]),
        progressbar=progressbar, model=pymc_model, compute_convergence_checks=False,
        start=[_prior_population(pymc_model, draws, np.random.default_rng(s)) for s in seeds[:-1]],
    )
    per_chain = _last_finite_per_chain(idata.sample_stats["log_marginal_likelihood"].values)
    log_evidence = float(special.logsumexp(per_chain) - np.log(chains))
    error = float(np.std(per_chain, ddof=1) / np.sqrt(chains)) if chains > 1 else float("nan")
    logger.info("SMC: ln Z = %.3f +- %.3f in %.1f s", log_evidence, error, time.perf_counter() - start)
    return EvidenceResult(log_evidence, error, per_chain)


def bayes_factor(
    numerator: BinnedModel,
    denominator: BinnedModel | Mapping[str, float],
    *,
    method: str = "smc",
    **kwargs: Any,
) -> BayesFactorResult:
    """``ln BF = ln Z(numerator) - ln Z(denominator)`` of two models of the same data.

    Parameters
    ----------
    numerator:
        A model.
    denominator:
        Another model of the same data, or a hypothesis nested in ``numerator``: entries held
        fixed, e.g. ``{"mu": 0.0}`` (background only) or ``{"model_A": 0.0}``.
    method:
        ``"smc"``: both evidences by Sequential Monte Carlo (``kwargs`` go to
        :func:`log_evidence_smc`); ``"savage_dickey"``: the density ratio of a nested hypothesis
        fixing one entry (``kwargs`` go to :func:`savage_dickey`).
    """
    if method not in BAYES_FACTOR_METHODS:
        raise ModelError(f"unknown Bayes factor method {method!r}; valid: {list(BAYES_FACTOR_METHODS)}")
    if method == "savage_dickey":
        if not isinstance(denominator, Mapping) or len(denominator) != 1:
            raise ModelError("the Savage-Dickey ratio needs a nested hypothesis fixing one entry, e.g. {'mu': 0.0}")
        ((entry, value),) = denominator.items()
        nested = savage_dickey(numerator, entry, float(value), **kwargs)
        return BayesFactorResult(-nested.ln_bayes_factor, nested.error, "savage_dickey")
    if isinstance(denominator, Mapping):
        denominator = numerator.fixed_at(denominator)
    if not (np.array_equal(numerator.observed, denominator.observed)
            and np.array_equal(numerator.auxdata, denominator.auxdata)):
        raise ModelError("a Bayes factor compares models of the same data, but the observed data differ")
    evidence_numerator = log_evidence_smc(numerator, **kwargs)
    evidence_denominator = log_evidence_smc(denominator, **kwargs)
    return BayesFactorResult(
        evidence_numerator.log_evidence - evidence_denominator.log_evidence,
        float(np.hypot(evidence_numerator.error, evidence_denominator.error)),
        "smc",
        evidence_numerator,
        evidence_denominator,
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
    variable, index = model.entry(parameter, "savage_dickey")
    if not variable.free.ravel()[index]:
        raise ModelError(f"savage_dickey: {parameter!r} is fixed in the model")
    lower, upper = float(variable.lower.ravel()[index]), float(variable.upper.ravel()[index])
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
    return BayesFactorResult(log_posterior - log_prior, error, "savage_dickey")


# ---------------------------------------------------------------------- helpers
def _check_proper_priors(model: BinnedModel) -> None:
    for variable in model.free_parameters:
        lower, upper = variable.lower.ravel(), variable.upper.ravel()
        for index in variable.free_index:
            if variable.priors[index].is_flat and not (np.isfinite(lower[index]) and np.isfinite(upper[index])):
                raise ModelError(
                    f"parameter {variable.labels[index]!r} has a flat prior on [{lower[index]:g}, {upper[index]:g}]: "
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


def _log_prior_density(model: BinnedModel, variable: ModelParameter, index: int, value: float) -> float:
    """Marginal prior log density of one entry at ``value`` (truncation to the bounds normalised),
    from the same prior the model samples and MAP fits use."""
    prior = variable.priors[index]
    if prior.hyperparameters:
        raise ModelError(
            f"savage_dickey: the prior of {variable.labels[index]!r} depends on hyperparameters "
            f"{list(prior.hyperparameters)}; its marginal density at a point is not available"
        )
    if prior.distribution == "MvNormal":
        raise ModelError(f"savage_dickey: the prior of {variable.name!r} is multivariate; "
                         "the marginal density of one entry is not available")
    lower, upper = float(variable.lower.ravel()[index]), float(variable.upper.ravel()[index])
    if prior.is_flat:
        if not (np.isfinite(lower) and np.isfinite(upper)):
            raise ModelError(
                f"savage_dickey: {variable.labels[index]!r} has an improper flat prior; the Bayes factor needs a proper prior"
            )
        return -float(np.log(upper - lower))
    log_density = float(np.asarray(prior.logp(np.asarray(value, dtype=float), {}, lower, upper).eval()))
    if not np.isfinite(log_density):
        raise ModelError(
            f"savage_dickey: the prior density of {variable.labels[index]!r} at {value:g} is zero; "
            "the ratio is not defined there"
        )
    return log_density


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
