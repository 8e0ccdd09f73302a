"""Bayesian inference on a workspace: PyMC model, NUTS posterior, credible limit, Bayes factor.

The Bayesian reading of a workspace (see :meth:`HistFactoryModel.priors` and
``docs/histfactory.md``) replaces every constraint term by a prior on its parameter:

* a Gaussian constraint ``Normal(a | theta, sigma)`` (normsys, histosys, lumi, staterror) becomes
  the prior ``Normal(mu=a, sigma)``;
* a Poisson constraint ``Poisson(a | tau theta)`` (shapesys) becomes ``Gamma(alpha=a + 1, beta=tau)``,
  the posterior of the auxiliary count under a flat prior;
* free normalisations (normfactor, shapefactor) get a flat prior on their bounds, or the prior the
  user chooses (``free_priors``).

Every prior is truncated to the parameter's bounds from the measurement (and normalised there), so
evidences and Bayes factors are those of proper priors; entries that are fixed (by the measurement
or because their uncertainty is zero) are constants. The main bins keep HistFactory's Poisson terms,
written for non-integer counts as ``n log(nu) - nu - lgamma(n + 1)`` as in the frequentist reading.

The PyMC model has one variable per parameter set (scalars, or vectors with dims
``<name>_entries``), one observed variable per channel, ``counts_<channel>`` with dims
``<channel>_bins``, and the deterministic ``expected`` (dims ``bins``, all channels in the
workspace's sorted order).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pytensor.tensor as pt

from bayesfit.errors import InferenceError, ModelError
from bayesfit.histfactory.model import HistFactoryModel, PriorSpec

__all__ = [
    "BayesFactorResult",
    "EvidenceResult",
    "PoiPosterior",
    "WorkspacePosteriorModel",
    "bayes_factor",
    "build_pymc_model",
    "log_evidence",
    "poi_posterior",
    "sample_posterior",
]

EXPECTED_NAME = "expected"

#: PyMC distributions for the prior families of :class:`PriorSpec` (user families are looked up by name).
_FAMILIES = {"normal": "Normal", "gamma": "Gamma", "uniform": "Uniform"}


@dataclass(frozen=True)
class WorkspacePosteriorModel:
    """A workspace read as a Bayesian model.

    Attributes
    ----------
    model:
        The workspace measurement (:class:`HistFactoryModel`).
    pymc_model:
        The ``pm.Model`` (see the module docstring for its variables and dims).
    priors:
        The Bayesian reading, one :class:`PriorSpec` per parameter set.
    var_names:
        Parameter sets with at least one free entry (in the posterior, in the model's order).
    constants:
        Parameter sets held fixed as a whole, ``{name: values (size,)}``.
    """

    model: HistFactoryModel
    pymc_model: Any
    priors: dict[str, PriorSpec]
    var_names: tuple[str, ...]
    constants: dict[str, np.ndarray]


class PoiPosterior(NamedTuple):
    """Posterior of the POI: mean, sd and the one-sided credible upper limit at ``level``."""

    mean: float
    sd: float
    upper_limit: float
    level: float


class EvidenceResult(NamedTuple):
    """``ln Z`` from Sequential Monte Carlo: ``ln`` of the mean evidence over chains, each chain's
    estimate, and the standard error from their spread."""

    log_evidence: float
    per_chain: np.ndarray
    standard_error: float


class BayesFactorResult(NamedTuple):
    """``ln B = ln Z(signal + background) - ln Z(background only)``, with its Monte Carlo error."""

    log_bayes_factor: float
    standard_error: float
    signal: EvidenceResult
    background: EvidenceResult


# ---------------------------------------------------------------------- model
def build_pymc_model(
    model: HistFactoryModel,
    *,
    free_priors: Mapping[str, tuple[str, Mapping[str, Any]]] | None = None,
    fixed: Mapping[str, float] | None = None,
) -> WorkspacePosteriorModel:
    """The PyMC model of ``model`` in the Bayesian reading (see the module docstring).

    Parameters
    ----------
    free_priors:
        ``{name: (family, arguments)}`` replacing the flat prior of free parameters, e.g.
        ``{"mu": ("gamma", {"alpha": 1.0, "beta": 0.5})}``; family names are PyMC's, any case.
    fixed:
        ``{name: value}`` holding scalar parameters constant, e.g. ``{poi: 0.0}`` for the
        background-only hypothesis.
    """
    import pymc as pm

    priors = model.priors(free_priors)
    fixed = dict(fixed or {})
    for name, value in fixed.items():
        if name not in priors or priors[name].size != 1:
            raise ModelError(f"cannot fix {name!r}: it is not a scalar parameter of the workspace")
        priors[name] = PriorSpec(name, "fixed", {"value": np.array([float(value)])}, 1,
                                 np.ones(1, dtype=bool), np.array([float(value)]))
    layout = model.layout
    observed_names = {f"counts_{channel}" for channel in layout.channel_names} | {EXPECTED_NAME}
    clashes = sorted(observed_names & set(priors))
    if clashes:
        raise ModelError(f"parameter name(s) {clashes} clash with variables of the PyMC model; rename them")

    coords: dict[str, Any] = {"bins": np.arange(model.n_bins)}
    for channel, bins in layout.channel_slices.items():
        coords[f"{channel}_bins"] = np.arange(bins.stop - bins.start)
    for parameter in model.parameter_sets:
        if not parameter.is_scalar:
            coords[f"{parameter.name}_entries"] = np.arange(parameter.size)

    var_names, constants, pieces = [], {}, []
    with pm.Model(coords=coords) as pymc_model:
        for parameter in model.parameter_sets:
            spec = priors[parameter.name]
            if spec.family == "fixed" or spec.fixed.all():
                values = spec.parameters["value"] if spec.family == "fixed" else spec.init
                constants[parameter.name] = np.asarray(values, dtype=float)
                pieces.append(pt.as_tensor_variable(constants[parameter.name]))
                continue
            var_names.append(parameter.name)
            pieces.append(_parameter_variable(spec, parameter.bounds, parameter.is_scalar).reshape((parameter.size,)))
        theta = pt.concatenate(pieces)
        expected = pm.Deterministic(EXPECTED_NAME, layout.expected(theta), dims="bins")
        observed = model.data.main
        for channel, bins in layout.channel_slices.items():
            pm.CustomDist(
                f"counts_{channel}", expected[bins], logp=_poisson_logp, random=_poisson_random,
                observed=observed[bins], dims=f"{channel}_bins", dtype="float64",
            )
    return WorkspacePosteriorModel(model, pymc_model, priors, tuple(var_names), constants)


def _parameter_variable(spec: PriorSpec, bounds: np.ndarray, is_scalar: bool) -> pt.TensorVariable:
    """The random variable of one parameter set (free entries only), as a full ``(size,)`` vector
    with its fixed entries held at ``spec.init``: named ``spec.name`` if every entry is free,
    else the free entries are ``<name>_free`` and ``<name>`` is a deterministic."""
    import pymc as pm

    free = ~spec.fixed
    all_free = bool(free.all())
    name = spec.name if all_free else f"{spec.name}_free"
    dims = None if is_scalar else (f"{spec.name}_entries" if all_free else None)
    shape = () if is_scalar else (int(free.sum()),)
    arguments = {key: (value[0] if is_scalar else value[free]) for key, value in spec.parameters.items()}
    lower, upper = (bounds[0] if is_scalar else bounds[free]).T
    size = {"dims": dims} if dims else {"shape": shape}
    if spec.family == "uniform":
        variable = pm.Uniform(name, lower=np.maximum(arguments["lower"], lower),
                              upper=np.minimum(arguments["upper"], upper), **size)
    else:
        distribution = _pymc_distribution(spec)
        variable = pm.Truncated(name, distribution.dist(**arguments), lower=lower, upper=upper, **size)
    if all_free:
        return variable
    full = pt.set_subtensor(pt.as_tensor_variable(spec.init.astype(float))[np.flatnonzero(free)], variable)
    return pm.Deterministic(spec.name, full, dims=f"{spec.name}_entries")


def _pymc_distribution(spec: PriorSpec) -> Any:
    import pymc as pm

    family = _FAMILIES.get(spec.family.lower())
    if family is None:
        family = next((n for n in dir(pm) if n.lower() == spec.family.lower()), None)
    if family is None or not hasattr(getattr(pm, family), "dist"):
        raise ModelError(f"prior of {spec.name!r}: unknown distribution {spec.family!r}")
    return getattr(pm, family)


def _poisson_logp(value: pt.TensorVariable, rate: pt.TensorVariable) -> pt.TensorVariable:
    """Poisson log probability for non-integer counts, ``0 log 0 = 0``; ``-inf`` for negative rates."""
    safe_rate = pt.switch(pt.gt(value, 0), rate, 1.0)
    terms = value * pt.log(safe_rate) - rate - pt.gammaln(value + 1.0)
    return pt.switch(pt.ge(rate, 0), terms, -np.inf)


def _poisson_random(rate: np.ndarray, rng: np.random.Generator | None = None, size: Any = None) -> np.ndarray:
    return rng.poisson(rate, size=size).astype(float)


# ---------------------------------------------------------------------- posterior
def sample_posterior(
    bayesian: WorkspacePosteriorModel,
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    cores: int | None = None,
    seed: int | None = None,
    sampler: str = "auto",
    target_accept: float = 0.8,
    progressbar: bool = True,
    sampler_kwargs: Mapping[str, Any] | None = None,
) -> Any:
    """NUTS posterior of all free parameters as :class:`arviz.InferenceData`.

    ``sampler`` is ``"nutpie"``, ``"pymc"`` or ``"auto"`` (nutpie when installed: on the ATLAS
    workspace it is several times faster). Problems (divergences, r-hat, small ESS) are reported
    as :class:`~bayesfit.inference.posterior.SamplingWarning`. Groups: ``posterior`` (parameter
    sets and ``expected``), ``sample_stats``, ``observed_data`` and ``log_likelihood`` per channel.
    """
    import pymc as pm

    from bayesfit.inference.posterior import SamplingWarning, diagnose, resolve_sampler

    sampler = resolve_sampler(sampler)
    arguments: dict[str, Any] = dict(
        draws=draws, tune=tune, chains=chains, cores=cores or min(chains, os.cpu_count() or 1),
        random_seed=seed, progressbar=progressbar, target_accept=target_accept,
    )
    if sampler == "nutpie":
        arguments["nuts_sampler"] = "nutpie"
    arguments.update(sampler_kwargs or {})
    with bayesian.pymc_model:
        idata = pm.sample(**arguments)
        pm.compute_log_likelihood(idata, progressbar=False)
    for message in diagnose(idata, list(bayesian.var_names)):
        warnings.warn(message, SamplingWarning, stacklevel=2)
    return idata


def poi_posterior(idata: Any, poi: str, level: float = 0.95) -> PoiPosterior:
    """Mean, sd and one-sided credible upper limit (the ``level`` quantile) of the POI's posterior."""
    if not 0.0 < level < 1.0:
        raise InferenceError(f"credibility level must lie in (0, 1), got {level}")
    if poi not in idata.posterior:
        raise InferenceError(f"no {poi!r} in the posterior; variables: {sorted(idata.posterior.data_vars)}")
    samples = np.asarray(idata.posterior[poi].values, dtype=float).ravel()
    return PoiPosterior(float(samples.mean()), float(samples.std(ddof=1)), float(np.quantile(samples, level)), level)


# ---------------------------------------------------------------------- evidence
def log_evidence(pymc_model: Any, *, draws: int = 2000, chains: int = 4, seed: int | None = None,
                 progressbar: bool = False) -> EvidenceResult:
    """``ln Z`` of a ``pm.Model`` by Sequential Monte Carlo (``pm.sample_smc``).

    Particles start from prior draws; each chain's estimate is its last finite log marginal
    likelihood (see :func:`bayesfit.inference.bayes_factor.pymc_log_evidence`).
    """
    from bayesfit.inference.bayes_factor import pymc_log_evidence

    result = pymc_log_evidence(pymc_model, draws=draws, chains=chains, seed=seed, progressbar=progressbar)
    return EvidenceResult(result.log_evidence, result.per_chain, result.error)


def bayes_factor(
    model: HistFactoryModel,
    *,
    background_poi: float = 0.0,
    free_priors: Mapping[str, tuple[str, Mapping[str, Any]]] | None = None,
    draws: int = 2000,
    chains: int = 4,
    seed: int | None = None,
    progressbar: bool = False,
) -> BayesFactorResult:
    """Bayes factor of signal + background (POI with its prior) against background only (POI fixed
    at ``background_poi``), both with the same priors on all other parameters.

    ``ln B > 0`` favours the signal. The POI prior (flat on its bounds unless ``free_priors``
    says otherwise) sets the scale of ``ln B``: a wider prior lowers it (Occam factor).
    """
    signal = build_pymc_model(model, free_priors=free_priors)
    background = build_pymc_model(model, free_priors=free_priors, fixed={model.poi_name: background_poi})
    seeds = (None, None) if seed is None else (seed, seed + 1)
    z_signal = log_evidence(signal.pymc_model, draws=draws, chains=chains, seed=seeds[0], progressbar=progressbar)
    z_background = log_evidence(background.pymc_model, draws=draws, chains=chains, seed=seeds[1],
                                progressbar=progressbar)
    return BayesFactorResult(
        z_signal.log_evidence - z_background.log_evidence,
        float(np.hypot(z_signal.standard_error, z_background.standard_error)),
        z_signal,
        z_background,
    )
