"""The variables of a model: their entries, labels, priors, bounds, starts and fixed values.

A :class:`ModelParameter` is one variable of a :class:`~bayesfit.model.BinnedModel`: a predictor
parameter, the components of a throw constraint or a hyperparameter, scalar or vector. Every entry
has its own prior (the Bayesian reading of a constraint where one applies), bounds, start value
and a flag saying whether it is free or held fixed.

Entries are named by *labels*: ``name`` for a scalar, ``name[i]`` for entry ``i`` of a vector, and
where the predictor labels a vector's entries (e.g. templates ``("noise", "background")``) also
``name[background]`` and the bare ``background`` when no other variable or label is called that.
:class:`EntryIndex` resolves any of them, wherever a user names an entry (``fixed=``, priors,
bounds, starts, hypotheses, profiles).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from bayesfit.errors import ModelError
from bayesfit.priors import Prior

__all__ = ["EntryIndex", "ModelParameter", "PriorGroup", "entry_labels", "joined_prior", "prior_family"]

#: Kinds of model variables.
KINDS = ("parameter", "throws", "hyperparameter")


@dataclass(frozen=True)
class ModelParameter:
    """A variable of the model.

    Attributes
    ----------
    name, shape, kind:
        Name, shape (``()`` or ``(n,)``) and kind (``"parameter"``, ``"throws"`` or
        ``"hyperparameter"``).
    priors:
        One :class:`~bayesfit.priors.Prior` per entry (flat order), the Bayesian reading.
    start, lower, upper:
        Start values and bounds per entry, arrays of ``shape``; the start of a fixed entry is its
        fixed value. Bounds are the intersection of the predictor's support, the user's bounds and
        the prior's support.
    free:
        ``shape`` booleans: entries the inference varies (the others are constants).
    constrained:
        ``shape`` booleans: entries with an auxiliary measurement (their prior comes from it).
    dims:
        ArviZ dimension names (``None`` for scalars).
    labels:
        One label per entry (see the module docstring); ``(name,)`` for a scalar.
    """

    name: str
    shape: tuple[int, ...]
    kind: str
    priors: tuple[Prior, ...]
    start: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    free: np.ndarray
    constrained: np.ndarray
    dims: tuple[str, ...] | None
    labels: tuple[str, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=int))

    @property
    def free_index(self) -> np.ndarray:
        """Flat indices of the free entries."""
        return np.flatnonzero(self.free.ravel())

    @property
    def n_free(self) -> int:
        return int(self.free.sum())

    @property
    def prior(self) -> Prior:
        """The prior shared by every entry (raises if entries have different priors)."""
        first = self.priors[0]
        if any(p is not first and p != first for p in self.priors[1:]):
            raise ModelError(f"variable {self.name!r} has different priors per entry")
        return first

    @property
    def joint_prior(self) -> bool:
        """Whether the entries share one multivariate prior (``MvNormal``)."""
        return self.priors[0].distribution == "MvNormal"

    def full(self, free_values: np.ndarray) -> np.ndarray:
        """The full value of ``shape`` from the values of the free entries ``(n_free,)``."""
        value = self.start.astype(float).ravel().copy()
        value[self.free_index] = free_values
        return value.reshape(self.shape)

    def prior_groups(self) -> list[PriorGroup]:
        """The free entries grouped by prior family (see :class:`PriorGroup`)."""
        return group_priors(self, self.free_index)


class PriorGroup(NamedTuple):
    """Entries of one variable whose priors are one family: ``prior`` with its numeric arguments
    stacked into arrays ``(n,)`` (or the shared prior when an argument is a hyperparameter),
    their flat ``indices`` ``(n,)`` and bounds ``lower``, ``upper`` ``(n,)``."""

    prior: Prior
    indices: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def _family_key(prior: Prior) -> tuple[Any, ...]:
    if prior.hyperparameters or prior.distribution == "MvNormal":
        return (prior.distribution, str(prior))  # only identical priors share a group
    return (prior.distribution, tuple(sorted(prior.arguments)))


def group_priors(variable: ModelParameter, indices: np.ndarray) -> list[PriorGroup]:
    """Group the entries ``indices`` of ``variable`` by prior family, in order of first appearance."""
    lower, upper = variable.lower.ravel(), variable.upper.ravel()
    keys: dict[tuple[Any, ...], list[int]] = {}
    for index in indices:
        keys.setdefault(_family_key(variable.priors[index]), []).append(int(index))
    groups = []
    for members in keys.values():
        members_array = np.asarray(members, dtype=np.int64)
        first = variable.priors[members[0]]
        if not _joinable(first) or len(members) == 1:
            prior = first
        else:
            prior = joined_prior([PriorGroup(variable.priors[i], np.array([i]), lower[[i]], upper[[i]]) for i in members])
        groups.append(PriorGroup(prior, members_array, lower[members_array], upper[members_array]))
    return groups


def prior_family(group: PriorGroup) -> tuple[Any, ...] | None:
    """Key of the groups whose entries one prior can hold (:func:`joined_prior`): same family,
    numeric arguments, truncated or not by the bounds alike; ``None`` for a group that stays on
    its own (hyperparameter arguments, ``MvNormal``, flat)."""
    prior = group.prior
    if not _joinable(prior):
        return None
    return prior.distribution, tuple(sorted(prior.arguments)), prior.truncated_by(group.lower, group.upper)


def _joinable(prior: Prior) -> bool:
    """Whether priors of ``prior``'s family can be one prior with stacked arguments: numeric
    arguments of a univariate proper family."""
    return not (prior.is_flat or prior.hyperparameters or prior.distribution == "MvNormal")


def joined_prior(groups: Sequence[PriorGroup]) -> Prior:
    """One prior for the entries of ``groups`` (of one :func:`prior_family`), in their order:
    the arguments of every entry stacked into arrays."""
    first = groups[0].prior
    return Prior(first.distribution, **{
        key: np.concatenate([np.broadcast_to(np.asarray(g.prior.arguments[key], dtype=float), g.indices.shape)
                             for g in groups])
        for key in first.arguments
    })


def entry_labels(name: str, shape: tuple[int, ...], labels: tuple[str, ...] | None) -> tuple[str, ...]:
    """``(name,)`` for a scalar; ``name[label]`` (or ``name[i]``) per entry of a vector."""
    if shape == ():
        return (name,)
    size = int(np.prod(shape, dtype=int))
    if labels is not None and len(labels) == size:
        return tuple(f"{name}[{label}]" for label in labels)
    return tuple(f"{name}[{i}]" for i in range(size))


class EntryIndex:
    """Resolves variable names and entry labels of a model's variables.

    Accepted names: a variable's name (all its entries), ``name[i]``, ``name[label]`` and a bare
    label when it is unique and no variable has that name.
    """

    def __init__(self, variables: tuple[ModelParameter, ...], raw_labels: Mapping[str, tuple[str, ...]]) -> None:
        self.variables = {v.name: v for v in variables}
        self._entries: dict[str, tuple[str, int]] = {}
        bare: dict[str, list[tuple[str, int]]] = {}
        for variable in variables:
            for index, label in enumerate(variable.labels):
                self._entries[label] = (variable.name, index)
                if variable.shape != ():
                    self._entries[f"{variable.name}[{index}]"] = (variable.name, index)
            for index, label in enumerate(raw_labels.get(variable.name, ())):
                bare.setdefault(label, []).append((variable.name, index))
        for label, places in bare.items():
            if len(places) == 1 and label not in self.variables and label not in self._entries:
                self._entries[label] = places[0]

    def names(self) -> list[str]:
        """Every variable name and canonical entry label (for messages)."""
        labels = [label for variable in self.variables.values() for label in variable.labels]
        return list(dict.fromkeys([*self.variables, *labels]))

    def entries(self, key: str, what: str) -> tuple[ModelParameter, np.ndarray]:
        """The variable and the flat entry indices that ``key`` names; ``what`` is for the message."""
        if key in self.variables:
            variable = self.variables[key]
            return variable, np.arange(variable.size)
        if key in self._entries:
            name, index = self._entries[key]
            return self.variables[name], np.array([index])
        raise ModelError(f"{what}: unknown parameter {key!r}; the model has {self.names()}")

    def resolve(self, values: Mapping[str, Any], what: str) -> Iterator[tuple[ModelParameter, np.ndarray, Any]]:
        """``(variable, flat indices, value)`` for every key of ``values`` (a name or entry label)."""
        for key, value in values.items():
            variable, indices = self.entries(key, what)
            yield variable, indices, value

    def label(self, variable: str, index: int) -> str:
        return self.variables[variable].labels[index]
