"""From the arguments of a :class:`~bayesfit.model.BinnedModel` to its variables.

The user names entries by variable name or label in ``priors``, ``bounds``, ``starts`` and
``fixed``; constraints give their entries' priors. :func:`build_parameters` turns all of that into
one :class:`~bayesfit.model.variables.ModelParameter` per predictor parameter (the components of a
throw constraint in place of their parameter), checked: bounds intersected with the predictor's
support and each prior's, starts and fixed values inside them, hyperparameters known, no prior
for a constrained entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bayesfit.errors import ModelError
from bayesfit.likelihood.constraints import Constraint, ThrowConstraint
from bayesfit.model.variables import EntryIndex, ModelParameter, entry_labels
from bayesfit.predictors.base import Parameter, Predictor
from bayesfit.priors import Prior, as_prior

__all__ = ["build_parameters", "hyperparameter", "make_index", "parameter_dims", "random_near"]


def make_index(predictor: Predictor, variables: tuple[ModelParameter, ...]) -> EntryIndex:
    """The entry index of ``variables``, with the predictor's entry labels as bare names."""
    raw = {p.name: p.labels for p in predictor.parameters if p.labels is not None}
    return EntryIndex(variables, raw)


def build_parameters(
    predictor: Predictor,
    hyperparameters: tuple[ModelParameter, ...],
    throws: Mapping[str, ThrowConstraint],
    constraints: Sequence[Constraint],
    arguments: Mapping[str, Any],
    reserved: set[str],
) -> tuple[ModelParameter, ...]:
    """The predictor's parameters as model variables (throw components in place of their
    parameter), with the ``bounds``, ``priors``, ``starts`` and ``fixed`` of ``arguments`` (keyed
    by name or entry label) and the priors of the ``constraints``; ``reserved`` are names a
    parameter may not take."""
    drafts = tuple(_draft(p, throws, reserved | {h.name for h in hyperparameters}) for p in predictor.parameters)
    index = make_index(predictor, hyperparameters + drafts)
    lower = {v.name: v.lower.ravel().copy() for v in drafts}
    upper = {v.name: v.upper.ravel().copy() for v in drafts}
    for variable, entries, value in index.resolve(arguments["bounds"], "bounds"):
        _check_kind(variable, "bounds")
        low, high = _bound_pair(variable, entries, value)
        lower[variable.name][entries] = np.maximum(lower[variable.name][entries], low)
        upper[variable.name][entries] = np.minimum(upper[variable.name][entries], high)
    priors = {v.name: list(v.priors) for v in drafts}
    constrained = {v.name: np.zeros(v.size, dtype=bool) for v in drafts}
    for constraint in constraints:
        variable = index.variables.get(constraint.variable)
        if variable is None or variable.kind == "hyperparameter":
            raise ModelError(
                f"{constraint}: the model has no parameter {constraint.variable!r}; "
                f"its parameters are {[v.name for v in drafts]}"
            )
        entries = constraint.flat_entries(variable.size)
        if constrained[variable.name][entries].any():
            raise ModelError(f"{constraint}: entries of {variable.name!r} are constrained twice")
        constrained[variable.name][entries] = True
        for entry, prior in zip(entries, constraint.priors()):
            priors[variable.name][entry] = prior
    for variable, entries, spec in index.resolve(arguments["priors"], "priors"):
        _check_kind(variable, "priors")
        if constrained[variable.name][entries].any():
            raise ModelError(
                f"priors: {variable.labels[entries[0]]!r} is constrained by an auxiliary measurement; "
                "its prior follows from the auxiliary data"
            )
        for entry, prior in zip(entries, _entry_priors(_named_prior(spec, variable, entries), variable, entries)):
            priors[variable.name][entry] = prior
    starts = {v.name: v.start.ravel().copy() for v in drafts}
    for variable, entries, value in index.resolve(arguments["starts"], "starts"):
        starts[variable.name][entries] = _entry_values(variable, entries, value, "starts")
    free = {v.name: np.ones(v.size, dtype=bool) for v in drafts}
    for variable, entries, value in index.resolve(arguments["fixed"], "fixed"):
        starts[variable.name][entries] = _entry_values(variable, entries, value, "fixed")
        free[variable.name][entries] = False
    parameters = []
    for draft in drafts:
        name = draft.name
        low, high = lower[name], upper[name]
        for entry, prior in enumerate(priors[name]):
            prior_low, prior_high = prior.support()
            low[entry], high[entry] = max(low[entry], prior_low), min(high[entry], prior_high)
        bad = np.flatnonzero(~(low < high))
        if bad.size:
            raise ModelError(f"parameter {draft.labels[bad[0]]!r}: bounds leave an empty range "
                             f"[{low[bad[0]]:g}, {high[bad[0]]:g}]")
        known = {h.name for h in hyperparameters}
        for entry, prior in enumerate(priors[name]):
            missing = sorted(set(prior.hyperparameters) - known)
            if missing:
                raise ModelError(
                    f"prior of {draft.labels[entry]!r} refers to {missing}, which are not hyperparameters; "
                    f"define them in hyperpriors= (known: {sorted(known)})"
                )
        parameters.append(_checked(ModelParameter(
            name, draft.shape, draft.kind, tuple(priors[name]), starts[name].reshape(draft.shape),
            low.reshape(draft.shape), high.reshape(draft.shape), free[name].reshape(draft.shape),
            constrained[name].reshape(draft.shape), draft.dims, draft.labels,
        )))
    return tuple(parameters)


def _draft(parameter: Parameter, throws: Mapping[str, ThrowConstraint], reserved: set[str]) -> ModelParameter:
    """A variable for ``parameter`` with the predictor's bounds, default start and flat priors."""
    if parameter.name in throws:
        constraint = throws[parameter.name]
        name, shape = constraint.variable, (constraint.rank,)
        dims: tuple[str, ...] | None = (f"{parameter.name}_throw_component",)
        lower, upper, start, kind = np.full(shape, -np.inf), np.full(shape, np.inf), np.zeros(shape), "throws"
        labels = entry_labels(name, shape, None)
    else:
        name, shape, kind = parameter.name, parameter.shape, "parameter"
        dims = parameter_dims(parameter)
        lower, upper = np.full(shape, parameter.lower), np.full(shape, parameter.upper)
        start = parameter.default_value()
        labels = entry_labels(name, shape, parameter.labels)
    size = int(np.prod(shape, dtype=int))
    if name in reserved:
        raise ModelError(f"parameter name {name!r} clashes with a hyperparameter or a name of the model")
    return ModelParameter(
        name, shape, kind, (Prior("flat"),) * size, start, lower, upper,
        np.ones(shape, dtype=bool), np.zeros(shape, dtype=bool), dims, labels,
    )


def _check_kind(variable: ModelParameter, what: str) -> None:
    if variable.kind == "hyperparameter":
        raise ModelError(f"{what}: {variable.name!r} is a hyperparameter; set it in hyperpriors")
    if variable.kind == "throws" and what == "priors":
        raise ModelError(f"priors: {variable.name!r} are throw components; their prior is the throws' normal")


def parameter_dims(parameter: Parameter) -> tuple[str, ...] | None:
    if len(parameter.shape) != 1:
        return None
    return (parameter.dim or f"{parameter.name}_dim",)


def hyperparameter(name: str, prior: Prior) -> ModelParameter:
    if prior.is_flat or prior.hyperparameters or prior.distribution == "MvNormal":
        raise ModelError(f"hyperparameter {name!r} needs a proper scalar prior with numeric arguments, got {prior}")
    lower, upper = prior.support()
    start = np.asarray(_interior_point(lower, upper))
    return ModelParameter(
        name, (), "hyperparameter", (prior,), start, np.asarray(lower), np.asarray(upper),
        np.ones((), dtype=bool), np.zeros((), dtype=bool), None, (name,),
    )


def _named_prior(spec: Any, variable: ModelParameter, entries: np.ndarray) -> Prior:
    """``as_prior(spec)``; its errors name the parameter (or first entry) the prior was given for."""
    try:
        return as_prior(spec)
    except ModelError as error:
        name = variable.name if len(entries) == variable.size else variable.labels[entries[0]]
        raise ModelError(f"priors: {name!r}: {error}") from None


def _entry_priors(prior: Prior, variable: ModelParameter, entries: np.ndarray) -> list[Prior]:
    """One prior per entry: numeric array arguments (one value per entry) are split up; an
    ``MvNormal`` prior is shared by the whole variable."""
    if prior.distribution == "MvNormal":
        if len(entries) != variable.size:
            raise ModelError(f"priors: an MvNormal prior applies to the whole of {variable.name!r}")
        return [prior] * len(entries)
    numeric = {k: np.asarray(v, dtype=float) for k, v in prior.arguments.items() if not isinstance(v, str)}
    if all(value.ndim == 0 for value in numeric.values()):
        return [prior] * len(entries)
    try:
        per_entry = {k: np.broadcast_to(v.reshape(-1) if v.size == len(entries) else v, entries.shape)
                     for k, v in numeric.items()}
    except ValueError:
        raise ModelError(
            f"priors: arguments of {prior} do not fit the {len(entries)} entries of {variable.name!r}"
        ) from None
    symbolic = {k: v for k, v in prior.arguments.items() if isinstance(v, str)}
    return [Prior(prior.distribution, **symbolic, **{k: float(v[i]) for k, v in per_entry.items()})
            for i in range(len(entries))]


def _bound_pair(variable: ModelParameter, entries: np.ndarray, value: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` arrays for ``entries`` from a ``(lower, upper)`` pair (``None``: unbounded)."""
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ModelError(f"bounds of {variable.name!r}: expected a (lower, upper) pair, got {value!r}") from None
    low = np.broadcast_to(np.asarray(-np.inf if low is None else low, dtype=float), (variable.size,))
    high = np.broadcast_to(np.asarray(np.inf if high is None else high, dtype=float), (variable.size,))
    if len(entries) != variable.size:
        low, high = low[:1], high[:1]
    return np.broadcast_to(low, entries.shape), np.broadcast_to(high, entries.shape)


def _entry_values(variable: ModelParameter, entries: np.ndarray, value: Any, what: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ModelError(f"{what}: value of {variable.name!r} is not numeric: {value!r}") from None
    try:
        values = np.broadcast_to(array.reshape(-1) if array.size == len(entries) else array, entries.shape)
    except ValueError:
        raise ModelError(
            f"{what}: {variable.name!r} takes {len(entries)} value(s), got shape {array.shape}"
        ) from None
    if not np.all(np.isfinite(values)):
        raise ModelError(f"{what}: value of {variable.name!r} is not finite")
    return values


def _checked(variable: ModelParameter) -> ModelParameter:
    """Check starts (and fixed values) against bounds and priors."""
    start, lower, upper = variable.start.ravel(), variable.lower.ravel(), variable.upper.ravel()
    outside = np.flatnonzero((start < lower) | (start > upper))
    if outside.size:
        i = outside[0]
        what = "start value" if variable.free.ravel()[i] else "fixed value"
        raise ModelError(
            f"parameter {variable.labels[i]!r}: {what} {start[i]:g} is outside its bounds [{lower[i]:g}, {upper[i]:g}]"
        )
    for i in variable.free_index:
        variable.priors[i].check_start(variable.labels[i], start[i : i + 1])
    if variable.joint_prior:
        if not variable.free.all() or any(p is not variable.priors[0] for p in variable.priors):
            raise ModelError(f"parameter {variable.name!r}: an MvNormal prior needs every entry free and unconstrained")
        if np.any(np.isfinite(lower)) or np.any(np.isfinite(upper)):
            raise ModelError(
                f"parameter {variable.name!r}: an MvNormal prior cannot be restricted to bounds "
                f"[{lower.min():g}, {upper.max():g}]"
            )
    return variable


def _interior_point(lower: float, upper: float) -> float:
    if np.isfinite(lower) and np.isfinite(upper):
        return 0.5 * (lower + upper)
    if np.isfinite(lower):
        return lower + 1.0
    if np.isfinite(upper):
        return upper - 1.0
    return 0.0


def random_near(parameter: ModelParameter, rng: np.random.Generator, spread: float) -> np.ndarray:
    start, lower, upper = parameter.start, parameter.lower, parameter.upper
    noise = rng.normal(0.0, spread, size=parameter.shape)
    finite_lower, finite_upper = np.isfinite(lower), np.isfinite(upper)
    with np.errstate(invalid="ignore", over="ignore"):  # branches not taken may be inf - inf
        width = np.where(finite_lower & finite_upper, upper - lower, 1.0)
        both = np.clip(start + noise * width / 2, lower + 1e-3 * width, upper - 1e-3 * width)
        below = lower + np.where(start > lower, start - lower, 1.0) * np.exp(noise)
        above = upper - np.where(start < upper, upper - start, 1.0) * np.exp(noise)
    neither = start + noise * np.maximum(1.0, np.abs(start))
    return np.where(
        finite_lower & finite_upper, both, np.where(finite_lower, below, np.where(finite_upper, above, neither))
    )
