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

The PyMC model samples one vector per prior family (Gaussian-constrained entries as standardised
pulls ``z = (theta - a) / sigma``, an affine change of variables that leaves the posterior of
``theta`` unchanged; see :func:`build_pymc_model`) and records every parameter set under its own
name (scalars, or vectors with dims ``<name>_entries``). It has one observed variable per channel,
``counts_<channel>`` with dims ``<channel>_bins``, and the deterministic ``expected`` (dims
``bins``, all channels in the workspace's sorted order).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pytensor.tensor as pt

from bayesfit.errors import InferenceError, ModelError
from bayesfit.histfactory.model import HistFactoryModel, PriorSpec
from bayesfit.histfactory.modifiers import ParameterSet

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
#: Names of the grouped sampling variables (one vector per prior family, see :func:`build_pymc_model`).
PULLS_NAME = "gaussian_pulls"
GAMMAS_NAME = "poisson_gammas"
FLAT_NAME = "flat_normalisations"

#: Prior families sampled as one vector over all parameter sets, with the arguments they must have.
_GROUPED = {"normal": (PULLS_NAME, ("mu", "sigma")), "gamma": (GAMMAS_NAME, ("alpha", "beta")),
            "uniform": (FLAT_NAME, ("lower", "upper"))}


@dataclass
class _Group:
    """Free entries of one grouped prior family: flat indices ``(n,)``, arguments and bounds ``(n,)``."""

    indices: list[np.ndarray]
    arguments: dict[str, list[np.ndarray]]
    lower: list[np.ndarray]
    upper: list[np.ndarray]

    def stacked(self) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray]:
        arguments = {key: np.concatenate(values) for key, values in self.arguments.items()}
        return np.concatenate(self.indices), arguments, np.concatenate(self.lower), np.concatenate(self.upper)


def build_pymc_model(
    model: HistFactoryModel,
    *,
    free_priors: Mapping[str, tuple[str, Mapping[str, Any]]] | None = None,
    fixed: Mapping[str, float] | None = None,
) -> WorkspacePosteriorModel:
    """The PyMC model of ``model`` in the Bayesian reading (see the module docstring).

    The free entries of all parameter sets are sampled through one vector per prior family, which
    keeps the log-density graph small (a few nodes per family instead of per parameter: on the
    ATLAS workspace 0.12 ms per gradient in nutpie instead of 1.9 ms, and a compilation of about a
    minute instead of about 14) and the sampled scales comparable:

    * Gaussian priors ``Normal(mu, sigma)`` truncated to ``[lower, upper]``, non-centred:
      ``theta = mu + sigma * z`` with ``z`` (``gaussian_pulls``) ~ ``Normal(0, 1)`` truncated to
      ``[(lower - mu) / sigma, (upper - mu) / sigma]``. The map is affine, so the prior and the
      posterior of ``theta``, and the evidence, are exactly those of the centred form;
    * Gamma priors (``poisson_gammas``) and flat priors (``flat_normalisations``), truncated to
      the bounds;
    * other user-chosen families: one variable per parameter set, as ``pm.Truncated``.

    Every parameter set with a free entry is recorded under its own name (a deterministic of the
    vectors above, dims ``<name>_entries`` for vectors), so posteriors read as before.

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
    for name, value in dict(fixed or {}).items():
        if name not in priors or priors[name].size != 1:
            raise ModelError(f"cannot fix {name!r}: it is not a scalar parameter of the workspace")
        priors[name] = PriorSpec(name, "fixed", {"value": np.array([float(value)])}, 1,
                                 np.ones(1, dtype=bool), np.array([float(value)]))
    layout = model.layout
    groups, own, constants, constant_values = _split_entries(model, priors)
    reserved = {f"counts_{channel}" for channel in layout.channel_names} | {EXPECTED_NAME}
    reserved |= {_GROUPED[family][0] for family in groups}
    reserved |= {f"{name}_free" for name in own if priors[name].fixed.any()}
    clashes = sorted(reserved & set(priors))
    if clashes:
        raise ModelError(f"parameter name(s) {clashes} clash with variables of the PyMC model; rename them")

    labels = np.array(model.parameter_names)
    coords: dict[str, Any] = {"bins": np.arange(model.n_bins)}
    for channel, bins in layout.channel_slices.items():
        coords[f"{channel}_bins"] = np.arange(bins.stop - bins.start)
    for parameter in model.parameter_sets:
        if not parameter.is_scalar:
            coords[f"{parameter.name}_entries"] = np.arange(parameter.size)

    var_names = tuple(p.name for p in model.parameter_sets if p.name not in constants)
    pieces, flat_indices = [pt.as_tensor_variable(constant_values[1])], [constant_values[0]]
    with pm.Model(coords=coords) as pymc_model:
        for family, group in groups.items():
            name = _GROUPED[family][0]
            indices, arguments, lower, upper = group.stacked()
            pymc_model.add_coord(f"{name}_entries", labels[indices])
            dims = f"{name}_entries"
            if family == "normal":
                mu, sigma = arguments["mu"], arguments["sigma"]
                pulls = pm.TruncatedNormal(name, mu=0.0, sigma=1.0, lower=(lower - mu) / sigma,
                                           upper=(upper - mu) / sigma, dims=dims)
                pieces.append(mu + sigma * pulls)
            elif family == "gamma":
                pieces.append(pm.Truncated(name, pm.Gamma.dist(**arguments), lower=lower, upper=upper, dims=dims))
            else:
                pieces.append(pm.Uniform(name, lower=np.maximum(arguments["lower"], lower),
                                         upper=np.minimum(arguments["upper"], upper), dims=dims))
            flat_indices.append(indices)
        own_variables = {}
        for name in own:
            parameter = next(p for p in model.parameter_sets if p.name == name)
            variable, indices = _own_variable(priors[name], parameter)
            own_variables[name] = variable
            pieces.append(variable.reshape((len(indices),)))
            flat_indices.append(indices)
        order = np.argsort(np.concatenate(flat_indices), kind="stable")
        theta = pt.concatenate(pieces)[order]
        for parameter in model.parameter_sets:
            sampled_as_is = parameter.name in own_variables and not priors[parameter.name].fixed.any()
            if parameter.name in constants or sampled_as_is:
                continue
            if parameter.is_scalar:
                pm.Deterministic(parameter.name, theta[parameter.offset])
            else:
                pm.Deterministic(parameter.name, theta[parameter.slice], dims=f"{parameter.name}_entries")
        expected = pm.Deterministic(EXPECTED_NAME, layout.expected(theta), dims="bins")
        observed = model.data.main
        for channel, bins in layout.channel_slices.items():
            pm.CustomDist(
                f"counts_{channel}", expected[bins], logp=_poisson_logp, random=_poisson_random,
                observed=observed[bins], dims=f"{channel}_bins", dtype="float64",
            )
    return WorkspacePosteriorModel(model, pymc_model, priors, var_names, constants)


def _split_entries(
    model: HistFactoryModel, priors: Mapping[str, PriorSpec]
) -> tuple[dict[str, _Group], list[str], dict[str, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Sort the flat entries: free entries of grouped families, parameter sets with their own
    variable, fixed entries; returns the groups, the own sets, the wholly fixed sets
    ``{name: values}`` and the fixed entries as (flat indices, values)."""
    groups: dict[str, _Group] = {}
    own, constants = [], {}
    fixed_indices, fixed_values = [], []
    for parameter in model.parameter_sets:
        spec = priors[parameter.name]
        flat = np.arange(parameter.offset, parameter.offset + parameter.size)
        if spec.family == "fixed" or spec.fixed.all():
            values = spec.parameters["value"] if spec.family == "fixed" else spec.init
            constants[parameter.name] = np.asarray(values, dtype=float)
            fixed_indices.append(flat)
            fixed_values.append(constants[parameter.name])
            continue
        free = ~spec.fixed
        fixed_indices.append(flat[spec.fixed])
        fixed_values.append(spec.init[spec.fixed].astype(float))
        family = spec.family.lower()
        if family in _GROUPED and set(spec.parameters) == set(_GROUPED[family][1]):
            group = groups.setdefault(family, _Group([], {key: [] for key in _GROUPED[family][1]}, [], []))
            group.indices.append(flat[free])
            for key in group.arguments:
                group.arguments[key].append(np.asarray(spec.parameters[key], dtype=float)[free])
            group.lower.append(parameter.bounds[free, 0])
            group.upper.append(parameter.bounds[free, 1])
        else:
            own.append(parameter.name)
    return groups, own, constants, (np.concatenate(fixed_indices), np.concatenate(fixed_values))


def _own_variable(spec: PriorSpec, parameter: ParameterSet) -> tuple[pt.TensorVariable, np.ndarray]:
    """The truncated random variable of a parameter set with a user-chosen prior family (free
    entries only; named ``spec.name``, or ``<name>_free`` if some entries are fixed) and the flat
    indices of its entries."""
    import pymc as pm

    free = ~spec.fixed
    name = spec.name if free.all() else f"{spec.name}_free"
    arguments = {key: (value[0] if parameter.is_scalar else value[free]) for key, value in spec.parameters.items()}
    lower, upper = (parameter.bounds[0] if parameter.is_scalar else parameter.bounds[free]).T
    if parameter.is_scalar:
        size = {}
    elif free.all():
        size = {"dims": f"{spec.name}_entries"}
    else:
        size = {"shape": (int(free.sum()),)}
    variable = pm.Truncated(name, _pymc_distribution(spec).dist(**arguments), lower=lower, upper=upper, **size)
    return variable, np.arange(parameter.offset, parameter.offset + parameter.size)[free]


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
    target_accept: float = 0.98,
    progressbar: bool = True,
    sampler_kwargs: Mapping[str, Any] | None = None,
) -> Any:
    """NUTS posterior of all free parameters as :class:`arviz.InferenceData`.

    ``sampler`` is ``"nutpie"``, ``"pymc"`` or ``"auto"`` (nutpie when installed). Every chain
    starts from its own draw of the prior (PyMC's default start, the middle of each interval
    plus a jitter in the transformed space, puts staterror factors bounded by ``[1e-10, 10]`` at
    about 5). With nutpie the mass matrix is diagonal plus low rank
    (``low_rank_modified_mass_matrix``): workspaces have many nuisance parameters correlated
    through the same bins, and on the ATLAS workspace this takes about 30-60 gradient evaluations
    per draw instead of about 450 with a diagonal one. ``target_accept`` defaults to 0.98: the
    Poisson terms of bins with 10^4-10^6 events make some directions of the posterior narrow and
    curved, and with 0.8 (0.95) about 1 in 20 (1 in 4000) transitions diverged there, with 0.98
    none in 24000 at the same cost per draw (see ``docs/histfactory.md``). ``sampler_kwargs`` go
    to ``nutpie.sample`` or ``pm.sample``.

    Problems (divergences, r-hat, small ESS) are reported as
    :class:`~bayesfit.inference.posterior.SamplingWarning`. Groups: ``posterior`` (parameter
    sets, the sampled vectors of :func:`build_pymc_model` and ``expected``), ``sample_stats``,
    ``observed_data`` and ``log_likelihood`` per channel.
    """
    import pymc as pm

    from bayesfit.inference.posterior import SamplingWarning, diagnose, resolve_sampler

    sampler = resolve_sampler(sampler)
    cores = cores or min(chains, os.cpu_count() or 1)
    pymc_model = bayesian.pymc_model
    if sampler == "nutpie":
        idata = _sample_nutpie(pymc_model, draws=draws, tune=tune, chains=chains, cores=cores, seed=seed,
                               target_accept=target_accept, progressbar=progressbar,
                               options={"low_rank_modified_mass_matrix": True, **(sampler_kwargs or {})})
    else:
        arguments = dict(draws=draws, tune=tune, chains=chains, cores=cores, random_seed=seed,
                         progressbar=progressbar, target_accept=target_accept, init="adapt_diag",
                         initvals=_prior_start_points(pymc_model, chains, seed))
        with pymc_model:
            idata = pm.sample(**{**arguments, **(sampler_kwargs or {})})
    with pymc_model:
        pm.compute_log_likelihood(idata, progressbar=False)
    for message in diagnose(idata, list(bayesian.var_names)):
        warnings.warn(message, SamplingWarning, stacklevel=2)
    return idata


def _prior_start_points(pymc_model: Any, chains: int, seed: int | None) -> list[dict[str, np.ndarray]]:
    """One draw of the prior per chain, ``{free variable: value}``."""
    import pymc as pm

    variables = pymc_model.free_RVs
    draws = pm.draw(variables, draws=chains, random_seed=seed)
    return [{variable.name: values[chain] for variable, values in zip(variables, draws)} for chain in range(chains)]


def _sample_nutpie(pymc_model: Any, *, draws: int, tune: int, chains: int, cores: int, seed: int | None,
                   target_accept: float, progressbar: bool, options: Mapping[str, Any]) -> Any:
    """nutpie's NUTS, every chain started from a prior draw, with the model's observed data."""
    import arviz as az
    import nutpie
    import pymc as pm
    from pymc.backends.arviz import coords_and_dims_for_inferencedata, find_observations

    compiled = nutpie.compile_pymc_model(pymc_model, default_initialization_strategy="prior")
    start = time.perf_counter()
    idata = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, cores=cores, seed=seed,
                          target_accept=target_accept, progress_bar=progressbar, **options)
    idata.posterior.attrs["sampling_time"] = time.perf_counter() - start
    coords, dims = coords_and_dims_for_inferencedata(pymc_model)
    observed = az.dict_to_dataset(find_observations(pymc_model), library=pm, coords=coords, dims=dims,
                                  default_dims=[])
    idata.add_groups({"observed_data": observed})
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
