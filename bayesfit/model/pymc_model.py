"""The ``pm.Model`` of a :class:`~bayesfit.model.BinnedModel`: its Bayesian reading, for NUTS and SMC.

The likelihood is the model's own log-density builder (:meth:`BinnedModel.log_density`): one
``pm.Potential`` for the main bins (``counts``) and one per user term (``extra_terms``). The
priors are random variables whose density in natural units is exactly
:meth:`BinnedModel.log_prior`, sampled in coordinates chosen for NUTS:

* entries with a Gaussian constraint ``Normal(a | theta, sigma)`` (the prior
  ``Normal(a, sigma)`` truncated to their bounds) are standardised pulls in one vector over all
  variables, ``gaussian_pulls`` = ``z``, ``theta = a + sigma * z``, ``z ~ Normal(0, 1)`` truncated
  to ``[(lower - a) / sigma, (upper - a) / sigma]``. The map is affine with a constant Jacobian,
  so posteriors and evidences are exactly those of the centred form; all pulls share the scale 1
  (a staterror factor of 0.06% and a systematic's alpha alike);
* entries with a Poisson constraint (prior ``Gamma(a + 1, tau)``) are one vector,
  ``poisson_gammas``, truncated to their bounds;
* Normal and LogNormal priors whose arguments are hyperparameters (``non_centered="auto"``, or
  every Normal and LogNormal prior with ``non_centered=True``) are sampled non-centred:
  ``theta = mu + sigma * z`` (``exp(mu + sigma * z)`` for LogNormal) with ``z`` (``<name>_offset``)
  standard normal, truncated where the bounds require; this removes the funnel between a
  hierarchical scale and the variables it governs;
* every other prior is a random variable of its variable (``pm.Truncated`` where the bounds cut
  its support, ``pm.Uniform`` or ``pm.Flat`` with an interval transform for flat priors).

A variable sampled as itself keeps its name; every other free variable is a ``pm.Deterministic``
of its name (dims as in :attr:`BinnedModel.coords`), so posteriors read the same whatever the
coordinates. A throw parameter (e.g. ``flux``) is a deterministic of its components
(``flux_throw``). Fixed entries are constants.

Constraint groups start every chain from a draw of their prior (the middle of a wide interval
and a jitter in its transformed space put a staterror factor thousands of sd away); the other
variables start at the model's start values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytensor.tensor as pt

from bayesfit.errors import ModelError
from bayesfit.likelihood.constraints import GaussianConstraint, PoissonConstraint
from bayesfit.model.binned import OBSERVED_NAME, SCALES_NAME, BinnedModel
from bayesfit.model.variables import ModelParameter, PriorGroup, group_priors
from bayesfit.priors import LOCATION_SCALE, Prior

__all__ = ["GAMMAS_NAME", "OBSERVED_DATA_NAME", "PULLS_NAME", "build_pymc_model", "constraint_group_names"]

#: Names of the grouped sampling variables of constrained entries.
PULLS_NAME = "gaussian_pulls"
GAMMAS_NAME = "poisson_gammas"
#: Name of the ``pm.Data`` container of the observed counts.
OBSERVED_DATA_NAME = "observed_counts"

#: An infinite bound of a truncated group is replaced by this many prior sd from its mean (a
#: transform needs finite bounds for every entry; the prior mass beyond is below 1e-300).
FAR = 40.0

#: Relative step of the finite differences of the predictor that measure the information (see
#: :func:`_information`); the predictor is linear in most normalisations, and the information
#: only sets the sampling coordinates, never the density.
INFORMATION_STEP = 1e-4


@dataclass
class _Pieces:
    """Sampled pieces of every variable: ``{name: [(flat indices, tensor (n,))]}``."""

    parts: dict[str, list[tuple[np.ndarray, Any]]] = field(default_factory=dict)
    own: dict[str, Any] = field(default_factory=dict)  # variables sampled as themselves

    def add(self, name: str, indices: np.ndarray, value: Any) -> None:
        self.parts.setdefault(name, []).append((indices, value))


def constraint_group_names(pymc_model: Any) -> list[str]:
    """The grouped constraint variables present in ``pymc_model`` (they start from prior draws)."""
    return [name for name in (PULLS_NAME, GAMMAS_NAME) if name in pymc_model.named_vars]


def build_pymc_model(model: BinnedModel) -> Any:
    """The ``pm.Model`` of ``model`` (see the module docstring)."""
    import pymc as pm

    with pm.Model(coords=model.coords) as pymc_model:
        variables: dict[str, Any] = {}
        for hyper in model.hyperparameters:
            variables[hyper.name] = hyper.prior.create(hyper.name, variables, initval=float(hyper.start))
        pieces = _Pieces()
        _constraint_groups(model, pieces, pymc_model)
        for variable in model.parameters:
            _prior_groups(model, variable, variables, pieces)
        for variable in model.parameters:
            variables[variable.name] = _assemble(variable, pieces)
        values = model.predictor_values(variables)
        for name, constraint in model.throws.items():
            dims = next((p.dim or f"{p.name}_dim") for p in model.predictor.parameters if p.name == name)
            values[name] = pm.Deterministic(name, values[name], dims=(dims,))
        observed = pm.Data(OBSERVED_DATA_NAME, model.observed, dims="bins")
        scales = None
        if model.likelihood == "barlow-beeston-sampled":
            scales = pm.HalfFlat(SCALES_NAME, dims="bins", initval=np.ones(model.predictor.n_out))
        point = {v.name: variables[v.name] for v in model.variables}
        terms = model.log_density(point, observed, scales=scales)
        pm.Potential(OBSERVED_NAME, terms.likelihood.total)
        for name, term in terms.extra.items():
            pm.Potential(name, term)
    return pymc_model


# ---------------------------------------------------------------------- constraint groups
def _constraint_groups(model: BinnedModel, pieces: _Pieces, pymc_model: Any) -> None:
    """One standardised-pull vector for the Gaussian-constrained entries, one Gamma vector for the
    Poisson-constrained ones (free entries only)."""
    import pymc as pm

    for kind, name in ((GaussianConstraint, PULLS_NAME), (PoissonConstraint, GAMMAS_NAME)):
        owners: list[tuple[str, np.ndarray]] = []
        arguments: dict[str, list[np.ndarray]] = {"first": [], "second": [], "lower": [], "upper": []}
        labels: list[str] = []
        for constraint, variable_name, entries, _ in model._constraint_slots:
            if not isinstance(constraint, kind):
                continue
            variable = model.variable(variable_name)
            free = variable.free.ravel()[entries]
            if not free.any():
                continue
            flat = entries[free]
            owners.append((variable_name, flat))
            first, second = (
                (constraint.auxdata, constraint.sigma) if kind is GaussianConstraint
                else (constraint.auxdata + 1.0, constraint.factors)
            )
            arguments["first"].append(first[free])
            arguments["second"].append(second[free])
            arguments["lower"].append(variable.lower.ravel()[flat])
            arguments["upper"].append(variable.upper.ravel()[flat])
            labels += [variable.labels[i] for i in flat]
        if not owners:
            continue
        first, second, lower, upper = (np.concatenate(arguments[key]) for key in ("first", "second", "lower", "upper"))
        own = _sole_owner(model, owners)
        if kind is GaussianConstraint:
            z_lower, z_upper = (lower - first) / second, (upper - first) / second
            identity = own is not None and np.all(first == 0) and np.all(second == 1)
            rv_name = own if identity else name
            size = _size(model, rv_name, labels, pymc_model, name)
            if np.all(np.isinf(z_lower)) and np.all(np.isinf(z_upper)):
                z = pm.Normal(rv_name, 0.0, 1.0, initval="prior", **size)
            else:
                z = pm.TruncatedNormal(
                    rv_name, 0.0, 1.0, lower=np.maximum(z_lower, -FAR), upper=np.minimum(z_upper, FAR),
                    initval="prior", **size,
                )
            values = z if identity else first + second * z
        else:
            identity = own is not None
            rv_name = own if identity else name
            size = _size(model, rv_name, labels, pymc_model, name)
            mean, sd = first / second, np.sqrt(first) / second
            lower = np.maximum(lower, 0.0)
            upper = np.where(np.isinf(upper), mean + FAR * sd, upper)
            values = pm.Truncated(rv_name, pm.Gamma.dist(alpha=first, beta=second), lower=lower, upper=upper,
                                  initval="prior", **size)
        if identity:
            pieces.own[rv_name] = values
            continue
        offset = 0
        for variable_name, flat in owners:
            pieces.add(variable_name, flat, values[offset : offset + flat.size])
            offset += flat.size


def _sole_owner(model: BinnedModel, owners: list[tuple[str, np.ndarray]]) -> str | None:
    """The variable name if the group holds exactly all free entries of one variable, in order."""
    if len(owners) != 1:
        return None
    name, flat = owners[0]
    variable = model.variable(name)
    if variable.constrained.ravel()[variable.free_index].all() and np.array_equal(flat, variable.free_index) \
            and variable.free.all():
        return name
    return None


def _size(model: BinnedModel, rv_name: str, labels: list[str], pymc_model: Any, group: str) -> dict[str, Any]:
    """``dims`` (or ``shape`` for a scalar) of a group variable; adds the group's coordinate."""
    if rv_name != group:
        variable = model.variable(rv_name)
        return {"dims": variable.dims} if variable.dims else {"shape": variable.shape}
    pymc_model.add_coord(f"{group}_entries", labels)
    return {"dims": f"{group}_entries"}


# ---------------------------------------------------------------------- user priors
def _parametrisation(model: BinnedModel, prior: Prior) -> str:
    """``"centred"``, ``"non-centred"`` or ``"adaptive"`` for a group with ``prior`` (module docstring)."""
    if prior.distribution not in LOCATION_SCALE or model.non_centered is False:
        return "centred"
    if model.non_centered is True:
        return "non-centred"
    return "adaptive" if prior.hyperparameters else "centred"


def _information(model: BinnedModel, variable: ModelParameter, group: PriorGroup) -> np.ndarray:
    """Expected Fisher information of the main bins for each entry of ``group``, ``(n,)``:
    ``F_i = sum_k p_k sum_b (d lambda_kb / d theta_i)^2 / lambda_kb`` at the model's start point
    (``p_k`` the universe weights, bins with ``lambda_kb <= 0`` left out), by central finite
    differences of the predictor (one-sided at a bound). In the units of the prior's ``mu``:
    for LogNormal priors per unit of ``ln theta`` (``F * theta^2``)."""
    point = model.start_point()
    expected = model.predictor.evaluate(model.predictor_values(point))  # (K, n)
    weights = model.predictor.variation_weights / np.sum(model.predictor.variation_weights)
    start = variable.start.astype(float).ravel()
    information = np.zeros(group.indices.size)
    for j, (index, lower, upper) in enumerate(zip(group.indices, group.lower, group.upper)):
        step = INFORMATION_STEP * max(abs(start[index]), 1.0)
        ends = []
        for end in (max(start[index] - step, lower), min(start[index] + step, upper)):
            shifted = start.copy()
            shifted[index] = end
            ends.append((end, model.predictor.evaluate(model.predictor_values(
                {**point, variable.name: shifted.reshape(variable.shape)}))))
        (low, expected_low), (high, expected_high) = ends
        derivative = (expected_high - expected_low) / (high - low)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_bin = np.where(expected > 0, derivative**2 / expected, 0.0)
        information[j] = float(weights @ per_bin.sum(axis=1))
    if group.prior.distribution == "LogNormal":
        information *= start[group.indices] ** 2
    return information


def _prior_groups(model: BinnedModel, variable: ModelParameter, variables: Mapping[str, Any], pieces: _Pieces) -> None:
    """Random variables for the free, unconstrained entries of ``variable``, grouped by prior
    family and bound pattern."""
    unconstrained = variable.free_index[~variable.constrained.ravel()[variable.free_index]]
    if unconstrained.size == 0:
        return
    groups = [part for group in group_priors(variable, unconstrained) for part in _split_by_bounds(group)]
    whole = len(groups) == 1 and unconstrained.size == variable.size
    for k, group in enumerate(groups):
        stem = variable.name if whole else f"{variable.name}_free" if len(groups) == 1 else f"{variable.name}_part{k}"
        parametrisation = _parametrisation(model, group.prior)
        if parametrisation != "centred":
            information = (
                _information(model, variable, group) if parametrisation == "adaptive" else np.zeros(group.indices.size)
            )
            pieces.add(variable.name, group.indices, _non_centred_group(stem, group, variable, variables, information))
        elif whole:
            pieces.own[variable.name] = _centred_group(variable.name, group, variable, variables, own=True)
        else:
            pieces.add(variable.name, group.indices, _centred_group(stem, group, variable, variables, own=False))


def _split_by_bounds(group: PriorGroup) -> list[PriorGroup]:
    """Split a group so that each part has one pattern of finite bounds (transforms need it)."""
    pattern = np.isfinite(group.lower) * 1 + np.isfinite(group.upper) * 2
    if np.all(pattern == pattern[0]):
        return [group]
    parts = []
    for value in np.unique(pattern):
        keep = pattern == value
        prior = group.prior
        if not (prior.hyperparameters or prior.is_flat or np.all(keep)):
            prior = Prior(prior.distribution, **{
                key: (np.asarray(arg)[keep] if np.ndim(arg) else arg) for key, arg in prior.arguments.items()
            })
        parts.append(PriorGroup(prior, group.indices[keep], group.lower[keep], group.upper[keep]))
    return parts


def _start_values(variable: ModelParameter, indices: np.ndarray) -> np.ndarray:
    return variable.start.ravel()[indices].astype(float)


def _centred_group(
    name: str, group: PriorGroup, variable: ModelParameter, variables: Mapping[str, Any], *, own: bool
) -> Any:
    """The random variable of a group in natural units (the whole variable when ``own``)."""
    if own:
        shape, dims = variable.shape, variable.dims
        lower, upper, start = variable.lower, variable.upper, variable.start.astype(float)
    else:
        shape, dims = (group.indices.size,), None
        lower, upper, start = group.lower, group.upper, _start_values(variable, group.indices)
    return group.prior.create(name, variables, (lower, upper), dims, shape, initval=start)


def _non_centred_group(
    name: str, group: PriorGroup, variable: ModelParameter, variables: Mapping[str, Any], information: np.ndarray
) -> Any:
    """The entries of a Normal or LogNormal group as ``theta = a + v * u`` (LogNormal:
    ``exp(a + v * u)``) with ``u`` (``<name>_offset``) normal and truncated to the bounds, where
    ``v = sigma / sqrt(1 + sigma^2 F)``, ``a = mu + (1 - v^2 / sigma^2) (c - mu)``, ``F`` the
    likelihood's ``information`` ``(n,)`` per entry (in the units of ``mu``; 0: plain non-centred
    ``theta = mu + sigma * u``) and ``c`` the start values (see the module docstring). Returns the
    natural values ``(n,)``."""
    import pymc as pm

    arguments = group.prior.resolved(variables)
    mu, sigma = pt.as_tensor_variable(arguments["mu"]), pt.as_tensor_variable(arguments["sigma"])
    log_normal = group.prior.distribution == "LogNormal"
    lower, upper = group.lower, group.upper
    start_values = _start_values(variable, group.indices)
    if log_normal:
        with np.errstate(divide="ignore"):
            lower, upper, centre = np.log(np.maximum(lower, 0.0)), np.log(upper), np.log(start_values)
    else:
        centre = start_values
    shape = (group.indices.size,)
    spread = pt.sqrt(1.0 + sigma**2 * information)  # sigma / v: the prior sd of u
    scale = sigma / spread  # v
    location = mu + (centre - mu) * (1.0 - 1.0 / spread**2)  # a
    mu_start, sigma_start = _numeric(arguments["mu"]), _numeric(arguments["sigma"])
    initval = (centre - mu_start) / (sigma_start * np.sqrt(1.0 + sigma_start**2 * information))
    has_lower, has_upper = bool(np.all(np.isfinite(lower))), bool(np.all(np.isfinite(upper)))
    u_name = f"{name}_offset"
    u_mean = (mu - location) / scale
    if not (has_lower or has_upper):
        u = pm.Normal(u_name, u_mean, spread, shape=shape, initval=initval)
    else:  # infinite bounds as constants, not graphs of sigma (see priors._bound)
        u = pm.TruncatedNormal(
            u_name, u_mean, spread, shape=shape, initval=initval,
            lower=(lower - location) / scale if has_lower else np.full(shape, -np.inf),
            upper=(upper - location) / scale if has_upper else np.full(shape, np.inf),
        )
    value = location + scale * u
    return pt.exp(value) if log_normal else value


def _numeric(value: Any) -> np.ndarray:
    """A prior argument as a number: a hyperparameter is taken at its initial value."""
    if isinstance(value, np.ndarray):
        return value
    import pymc as pm

    initval = pm.modelcontext(None).rvs_to_initial_values.get(value)
    if initval is None or isinstance(initval, str):
        raise ModelError(f"prior argument {value} has no numeric initial value")
    return np.asarray(initval, dtype=float)


def _assemble(variable: ModelParameter, pieces: _Pieces) -> Any:
    """The full value of ``variable``: its own random variable, or a deterministic of its pieces
    and fixed entries."""
    import pymc as pm

    if variable.name in pieces.own:
        return pieces.own[variable.name]
    parts = pieces.parts.get(variable.name, [])
    if not parts:  # every entry fixed
        return pt.as_tensor_variable(variable.start.astype(float))
    flat = pt.as_tensor_variable(variable.start.astype(float).ravel())
    for indices, value in parts:
        flat = pt.set_subtensor(flat[indices], value)
    full = flat.reshape(variable.shape) if variable.shape else flat[0]
    return pm.Deterministic(variable.name, full, dims=variable.dims)
