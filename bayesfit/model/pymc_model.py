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
* Normal and LogNormal priors whose arguments are hyperparameters (``non_centered="auto"``) are
  sampled through an *adaptive* map, entry by entry: ``theta = a + v * u`` (LogNormal:
  ``ln theta = a + v * u``) with ``u`` the sampled ``<name>_offset`` and

      ``v = sigma / sqrt(1 + sigma^2 F)``,  ``a = mu + (c - mu) * sigma^2 F / (1 + sigma^2 F)``,

  ``F`` the expected Fisher information of the main bins for that entry given the others (per
  unit of ``ln theta`` for LogNormal), measured once when the model is built, at the start point,
  by finite differences of the predictor, and ``c`` the entry's start value. ``a`` and ``v^2`` are
  the mean and variance of the entry's posterior given ``mu`` and ``sigma`` when its likelihood is
  the Gaussian of information ``F`` centred at ``c``, so ``u`` keeps about unit width whatever
  ``sigma``. The rule: where the data dominate the prior (``sigma^2 F >> 1``) the map is centred
  (``theta = c + u / sqrt(F)``), where the prior dominates (``sigma^2 F << 1``) non-centred
  (``theta = mu + sigma * u``), and in between partially centred, the weight following the
  *sampled* ``sigma`` through the posterior. A choice fixed per variable fails on one side: the
  centred form has a funnel where the scale's posterior reaches down to 0 (weakly informative
  data), the non-centred one an inverted funnel where it reaches up to the scales at which the
  data dominate (informative data); a hierarchical scale's posterior often spans both. (This is
  partial non-centring, Papaspiliopoulos, Roberts and Skoeld 2007, Statist. Sci. 22, 59, with a
  weight that depends on the sampled scale rather than a fixed one.) ``non_centered=True`` uses
  ``F = 0`` (``theta = mu + sigma * u``) for every Normal and LogNormal prior, ``False`` none.

  ``u`` has the prior ``Normal((mu - a) / v, sigma / v)`` truncated to ``[(lower - a) / v,
  (upper - a) / v]`` (normalised with the standardised bounds ``(bound - mu) / sigma``): for given
  ``mu`` and ``sigma`` the map is a change of variables with Jacobian ``v`` (``v * theta`` for
  LogNormal), so the prior in natural units is exactly the centred one, and posteriors and
  evidences do not depend on the map. A bound ``b`` on one side is sampled through
  ``u = b + softplus(y - b)``: ``u = y`` a few units from the bound, logarithmic near it. The
  usual ``y = ln(u - b)`` compresses ``y`` by the distance to the bound, about ``1 / sigma`` for
  a norm ``Normal(1, sigma)`` truncated at 0, and brings the funnel back as ``sigma`` goes to 0
  (with both bounds finite, PyMC's interval transform is used);
* a hyperparameter with a HalfNormal prior of scale ``s`` is sampled as ``s * softplus(y)``:
  logarithmic near 0, where a hierarchical scale's posterior has its long tail, and linear beyond
  ``s``, where ``ln`` would turn the Gaussian tail into a doubly exponential one in which
  trajectories diverge;
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
from typing import TYPE_CHECKING, Any

import numpy as np
import pytensor.tensor as pt

from bayesfit.likelihood.constraints import GaussianConstraint, PoissonConstraint
from bayesfit.model.hierarchical import hyperparameter_variable, information, location_scale_group, start_values
from bayesfit.model.variables import ModelParameter, PriorGroup, group_priors
from bayesfit.priors import LOCATION_SCALE, Prior

if TYPE_CHECKING:
    from bayesfit.model.binned import BinnedModel

__all__ = [
    "GAMMAS_NAME",
    "OBSERVED_DATA_NAME",
    "OBSERVED_NAME",
    "PULLS_NAME",
    "SCALES_NAME",
    "build_pymc_model",
    "constraint_group_names",
]

#: Name of the main bins' log likelihood in the PyMC model and of the counts in InferenceData.
OBSERVED_NAME = "counts"
#: Name of the per-bin scales of the sampled Barlow-Beeston-lite likelihood.
SCALES_NAME = "mc_scale"

#: Names of the grouped sampling variables of constrained entries.
PULLS_NAME = "gaussian_pulls"
GAMMAS_NAME = "poisson_gammas"
#: Name of the ``pm.Data`` container of the observed counts.
OBSERVED_DATA_NAME = "observed_counts"

#: An infinite bound of a truncated group is replaced by this many prior sd from its mean (a
#: transform needs finite bounds for every entry; the prior mass beyond is below 1e-300).
FAR = 40.0



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
            variables[hyper.name] = hyperparameter_variable(hyper, variables)
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
            fisher = information(model, variable, group) if parametrisation == "adaptive" else np.zeros(group.indices.size)
            pieces.add(variable.name, group.indices, location_scale_group(stem, group, variable, variables, fisher))
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


def _centred_group(
    name: str, group: PriorGroup, variable: ModelParameter, variables: Mapping[str, Any], *, own: bool
) -> Any:
    """The random variable of a group in natural units (the whole variable when ``own``)."""
    if own:
        shape, dims = variable.shape, variable.dims
        lower, upper, start = variable.lower, variable.upper, variable.start.astype(float)
    else:
        shape, dims = (group.indices.size,), None
        lower, upper, start = group.lower, group.upper, start_values(variable, group.indices)
    return group.prior.create(name, variables, (lower, upper), dims, shape, initval=start)


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
