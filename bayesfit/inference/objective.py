"""The compiled objective of fits, profiles, toys and hypothesis tests.

:class:`Objective` compiles ``-ln L`` (``kind="ml"``: main bins, constraint terms of the
auxiliary data, the user's terms) or ``-ln posterior`` (``kind="map"``: main bins, the user's
terms, every prior) from the model's own log-density builder
(:meth:`~bayesfit.model.BinnedModel.log_density`), with its gradient, once: for models without
hyperparameters and of at most :data:`SHARED_FUNCTION_MAX_SIZE` free entries both kinds are
outputs of one compiled function per model, which serves the fits, profiles and tests and
nutpie's NUTS (:mod:`~bayesfit.inference.nutpie_pytensor`). The free entries of the model's
variables are packed into one vector ``x`` in natural units; the main counts and the auxiliary
data are inputs too, so profile scans (entries held fixed), toys and Asimov data reuse the same
compiled function. Hessians are central differences of that exact gradient (two calls per
column, one-sided at a bound): nothing more to compile, where a compiled Hessian-vector product
cost twice the objective's compilation with an empty cache, for a Hessian accurate to ~1e-9
relative (:meth:`Objective.hessian`).

:func:`objective_for` keeps one objective per model and kind, so ``fit(model)``,
``profile_likelihood(model, ...)`` and ``hypotest(model, ...)`` compile once between them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np
import pytensor
import pytensor.tensor as pt

from bayesfit.errors import ModelError
from bayesfit.model import BinnedModel, ModelParameter, ObservedData

__all__ = ["CENTRAL_STEP", "EXPECTED_FLOOR", "FIT_KINDS", "ONE_SIDED_STEP", "SHARED_FUNCTION_MAX_SIZE", "Objective",
           "objective_for"]

FIT_KINDS = ("ml", "map")

#: Key in ``BinnedModel.cache`` of the compiled function of both kinds (see
#: :attr:`Objective._value_and_grad`).
DENSITY_FUNCTION = "density_function"

#: Models of at most this many free entries have one compiled function for both kinds, which
#: nutpie's NUTS uses too (:data:`~bayesfit.inference.posterior.NUTPIE_C_MAX_SIZE` is this value;
#: larger models sample on nutpie's numba translation of the ``pm.Model``). Above, each kind has
#: its own, so that fits do not pay for the prior's terms: on the ATLAS workspace (131 entries)
#: they doubled the cost of an evaluation, 0.30 to 0.45-0.59 ms.
SHARED_FUNCTION_MAX_SIZE = 20

logger = logging.getLogger(__name__)

#: Smallest expectation in bins with data seen by the objective: keeps -ln L finite when an
#: optimiser steps to mu = 0 (see :meth:`BinnedModel.log_likelihood`); it changes nothing where
#: the likelihood is not negligible.
EXPECTED_FLOOR = 1e-100

#: Steps of the Hessian's differences, in units of each entry's standard deviation at the start
#: (``1 / sqrt(H_ii)``): ``eps**(1/3)`` balances the truncation (``~step**2``) and rounding
#: (``~eps / step``) errors of central differences, ``eps**(1/2)`` those of one-sided ones.
CENTRAL_STEP = float(np.finfo(float).eps) ** (1 / 3)
ONE_SIDED_STEP = float(np.finfo(float).eps) ** (1 / 2)


def objective_for(model: BinnedModel | Objective, kind: str | None = None) -> Objective:
    """The compiled objective of ``model`` for ``kind`` (built once per model and kind; an
    :class:`Objective` is returned as it is, after checking its kind). Refused, even when
    compiled earlier, once terms were added to the model's ``pymc_model`` (the objective would
    not see them)."""
    if isinstance(model, Objective):
        if kind is not None and kind != model.kind:
            raise ModelError(f"this objective is kind={model.kind!r}, not {kind!r}")
        model.model.check_pymc_unchanged()
        return model
    if not isinstance(model, BinnedModel):
        raise ModelError(f"expected a BinnedModel or an Objective, got {type(model).__name__}")
    model.check_pymc_unchanged()
    kind = kind or "ml"
    key = f"objective_{kind}"
    if key not in model.cache:
        model.cache[key] = Objective(model, kind)
    return model.cache[key]


class Objective:
    """Compiled ``-ln L`` or ``-ln posterior`` of a :class:`BinnedModel` and its gradient.

    The free entries (:attr:`labels`) of the free variables (:attr:`parameters`; hyperparameters
    only for ``kind="map"``) form the vector ``x``; :meth:`pack` and :meth:`unpack` convert
    between dicts of full values and vectors.
    """

    def __init__(self, model: BinnedModel, kind: str = "ml") -> None:
        if kind not in FIT_KINDS:
            raise ModelError(f"unknown fit kind {kind!r}; valid: {list(FIT_KINDS)}")
        model.check_pymc_unchanged()
        self.model = model
        self.kind = kind
        self.parameters: tuple[ModelParameter, ...] = tuple(
            p for p in model.free_parameters if kind == "map" or p.kind != "hyperparameter"
        )
        offsets = np.cumsum([0] + [p.n_free for p in self.parameters])
        self.slices = {p.name: slice(int(a), int(b)) for p, a, b in zip(self.parameters, offsets, offsets[1:])}
        self.size = int(offsets[-1])
        self.lower = np.concatenate([p.lower.ravel()[p.free_index] for p in self.parameters] or [np.zeros(0)])
        self.upper = np.concatenate([p.upper.ravel()[p.free_index] for p in self.parameters] or [np.zeros(0)])
        self._labels = [p.labels[i] for p in self.parameters for i in p.free_index]
        #: whether both kinds are outputs of one function (see :attr:`_value_and_grad`)
        self._shared = not model.hyperparameters and self.size <= SHARED_FUNCTION_MAX_SIZE
        self._x = pt.vector("x", dtype="float64")
        self._main = pt.vector("main", dtype="float64")
        self._aux = pt.vector("aux", dtype="float64")
        self._value = self._graph()
        self._scale: np.ndarray | None = None

    @cached_property
    def _value_and_grad(self) -> Any:
        """``(x, main, aux) -> (value, gradient)``, compiled at the first evaluation.

        Without hyperparameters the ML and MAP objectives have the same entries, and for models
        of at most :data:`SHARED_FUNCTION_MAX_SIZE` entries both are outputs of one function of
        the model (:data:`DENSITY_FUNCTION`), compiled once for the fits, profiles and tests and
        for NUTS: a second function cost a second graph rewriting (about 1 s) and its C modules
        (9 more of 44 on HESE, 6 s with an empty cache).
        """
        if not self._shared:
            return self._compile([self._value, pytensor.grad(self._value, self._x)])
        if DENSITY_FUNCTION not in self.model.cache:
            # one backward pass through the main bins for both gradients
            terms = self._terms
            shared, auxiliary, prior = -(terms.likelihood.total + terms.extra_total), -terms.auxiliary, -terms.prior
            shared_gradient, auxiliary_gradient, prior_gradient = (
                pytensor.grad(term, self._x, disconnected_inputs="ignore", return_disconnected="zero")
                for term in (shared, auxiliary, prior)
            )
            self.model.cache[DENSITY_FUNCTION] = self._compile([
                shared + auxiliary, shared_gradient + auxiliary_gradient, shared + prior, shared_gradient + prior_gradient,
            ])
        return _Outputs(self.model.cache[DENSITY_FUNCTION], FIT_KINDS.index(self.kind))

    def _compile(self, outputs: Any) -> pytensor.compile.Function:
        """A function of ``(x, main, aux)`` that trusts its inputs (float64 vectors of the right
        lengths, checked by the public methods): that saves a few microseconds per call. PyMC's
        compilation turns failed parameter checks of prior densities into ``-inf``."""
        from pymc.pytensorf import compile as compile_with_checks

        start = time.perf_counter()
        function = compile_with_checks([self._x, self._main, self._aux], outputs, on_unused_input="ignore")
        function.trust_input = True
        logger.debug("compiled the objective of %d entries in %.1f s", self.size, time.perf_counter() - start)
        return function

    def _point(self) -> dict[str, pt.TensorVariable]:
        return self.variable_tensors(self._x)

    def variable_tensors(self, x: pt.TensorVariable) -> dict[str, pt.TensorVariable]:
        """Full tensors of every variable from the free entries ``x`` (last axis, ``(..., size)``;
        a matrix gives every variable a leading axis of rows): free entries from ``x``, fixed ones
        constant.

        All variables are cut from one array of every entry (``x`` set into the constants) by one
        ``split``, whose gradient is one ``join``: with a hundred variables (a workspace's nuisance
        parameters) per-variable slices and set-subtensors made the graph several times slower
        (and their gradients' increments took most of the compilation of the batched toys).
        """
        variables = self.model.variables
        if not variables:
            return {}
        start = np.concatenate([v.start.astype(float).ravel() for v in variables])
        offsets = np.cumsum([0] + [v.size for v in variables])
        positions = [offset + v.free_index for v, offset in zip(variables, offsets[:-1]) if v.name in self.slices]
        rows = tuple(x.shape[i] for i in range(x.ndim - 1))
        full = pt.alloc(pt.as_tensor_variable(start), *rows, start.size) if rows else pt.as_tensor_variable(start)
        if positions:
            positions = np.concatenate(positions)
            # every entry free, in order: the array is x itself (no set-subtensor and its gradient)
            whole = positions.size == start.size and np.array_equal(positions, np.arange(start.size))
            full = x if whole else pt.set_subtensor(full[..., positions], x)
        parts = pt.split(full, [v.size for v in variables], axis=-1) if len(variables) > 1 else [full]
        return {v.name: _shaped(part, v.shape, rows) for v, part in zip(variables, parts)}

    def _graph(self) -> pt.TensorVariable:
        #: the variables' tensors, kept so that :mod:`~bayesfit.inference.batched` can replace them
        self._tensors = self._point()
        self._terms = self.model.log_density(
            self._tensors, self._main, self._aux, prior=self.kind == "map" or self._shared, profile_scales=True,
            expected_floor=EXPECTED_FLOOR,
        )
        return -(self._terms.log_posterior() if self.kind == "map" else self._terms.log_likelihood())

    # ------------------------------------------------------------------ packing
    def labels(self) -> list[str]:
        """One label per entry of ``x``."""
        return list(self._labels)

    def pack(self, values: Mapping[str, Any]) -> np.ndarray:
        """A vector ``x`` from full values of the free variables (extra keys are ignored)."""
        missing = sorted({p.name for p in self.parameters} - set(values))
        if missing:
            raise ModelError(f"values missing for {missing}")
        entries = []
        for variable in self.parameters:
            try:
                full = np.broadcast_to(np.asarray(values[variable.name], dtype=float), variable.shape)
            except ValueError:
                raise ModelError(
                    f"value of {variable.name!r} has shape {np.shape(values[variable.name])}, expected {variable.shape}"
                ) from None
            entries.append(full.ravel()[variable.free_index])
        return np.concatenate(entries) if entries else np.zeros(0)

    def unpack(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Full values of every variable from a vector ``x`` (fixed entries at their values)."""
        values = {}
        for variable in self.model.variables:
            if variable.name in self.slices:
                values[variable.name] = variable.full(np.asarray(x[self.slices[variable.name]]))
            elif variable.kind != "hyperparameter" or self.kind == "map":
                values[variable.name] = variable.start.astype(float).copy()
        return values

    def entry_indices(self, values: Mapping[str, Any], what: str) -> dict[int, float]:
        """``{index in x: value}`` from ``{name or entry label: value}``; values are checked
        against the entries' bounds (the same check at every entry point)."""
        result: dict[int, float] = {}
        position = {label: i for i, label in enumerate(self._labels)}
        for variable, entries, value in self.model.resolve(values, what):
            array = np.asarray(value, dtype=float)
            try:
                array = np.broadcast_to(array.reshape(-1) if array.size == len(entries) else array, entries.shape)
            except ValueError:
                raise ModelError(f"{what}: {variable.name!r} takes {len(entries)} value(s), got shape {np.shape(value)}") from None
            for entry, entry_value in zip(entries, array):
                label = variable.labels[entry]
                if label not in position:
                    if not variable.free.ravel()[entry]:
                        raise ModelError(f"{what}: {label!r} is fixed in the model; it cannot be set here")
                    raise ModelError(f"{what}: {label!r} is not an entry of this {self.kind} objective")
                result[position[label]] = check_entry_value(
                    label, float(entry_value), self.lower[position[label]], self.upper[position[label]], what
                )
        return result

    def index(self, label: str) -> int:
        """The position in ``x`` of the entry ``label`` (any accepted label)."""
        variable, entry = self.model.entry(label)
        canonical = variable.labels[entry]
        if canonical not in self._labels:
            raise ModelError(f"{label!r} is not a free entry of the model; free entries: {self._labels}")
        return self._labels.index(canonical)

    # ------------------------------------------------------------------ evaluation
    def data(self, observed: Any | None = None) -> ObservedData:
        """Validated data: the model's, or counts (with the model's auxiliary data), or ObservedData."""
        return self.model.data if observed is None else self.model.check_data(observed)

    def _vector(self, x: Any) -> np.ndarray:
        vector = np.ascontiguousarray(x, dtype=np.float64)
        if vector.shape != (self.size,):
            raise ModelError(f"x must have shape ({self.size},) for {self._labels}, got {vector.shape}")
        return vector

    def checked(self, x: Any, what: str) -> np.ndarray:
        """``x`` as a float64 vector of :attr:`size` whose entries are finite and inside their
        bounds, else the :class:`ModelError` every entry point gives (:func:`check_entry_value`)."""
        vector = self._vector(x)
        outside = ~(np.isfinite(vector) & (vector >= self.lower) & (vector <= self.upper))
        for index in np.flatnonzero(outside)[:1]:
            check_entry_value(self._labels[index], float(vector[index]), self.lower[index], self.upper[index], what)
        return vector

    def __call__(self, x: np.ndarray, observed: Any | None = None) -> float:
        """``-ln L`` at ``x`` (default: the model's data); entries outside their bounds are a
        :class:`ModelError`."""
        data = self.data(observed)
        return float(self._value_and_grad(self.checked(x, "objective"), data.main, data.aux)[0])

    def value_and_grad(self, x: np.ndarray, data: ObservedData) -> tuple[float, np.ndarray]:
        """``-ln L`` and its gradient (the fits' hot path, inputs unchecked: ``x`` a float64
        vector of :attr:`size`, ``data`` as validated by :meth:`data`)."""
        value, gradient = self._value_and_grad(x, data.main, data.aux)
        return float(value), np.array(gradient)  # a copy: PyTensor may reuse output buffers

    def hessian(self, x: np.ndarray, observed: Any | None = None, entries: np.ndarray | None = None) -> np.ndarray:
        """Hessian of ``-ln L``, ``(size, size)``; with ``entries`` (indices into ``x``) only those
        rows and columns, ``(m, m)``.

        Column ``j`` is the central difference of the exact (compiled) gradient over
        ``+-CENTRAL_STEP`` standard deviations of entry ``j`` at the start (one-sided over
        ``ONE_SIDED_STEP`` where a bound is nearer), symmetrised: relative errors ~1e-9.
        """
        data = self.data(observed)
        x = self.checked(x, "hessian")
        entries = np.arange(self.size) if entries is None else np.asarray(entries, dtype=np.int64)
        sd = 1.0 / self.curvature_scale()
        columns = [self._gradient_derivative(x, data, index, sd[index])[entries] for index in entries]
        hessian = np.array(columns).reshape(len(entries), len(entries))
        return 0.5 * (hessian + hessian.T)

    def _gradient_derivative(self, x: np.ndarray, data: ObservedData, index: int, unit: float) -> np.ndarray:
        """``d gradient / d x[index]`` by finite differences with steps in units of ``unit``."""
        room_up, room_down = self.upper[index] - x[index], x[index] - self.lower[index]
        central = CENTRAL_STEP * unit
        if room_up >= central and room_down >= central:
            plus, minus = x.copy(), x.copy()
            plus[index] += central
            minus[index] -= central
            return (self.value_and_grad(plus, data)[1] - self.value_and_grad(minus, data)[1]) / (2 * central)
        step = min(ONE_SIDED_STEP * unit, max(room_up, room_down))
        sign = 1.0 if room_up >= room_down else -1.0
        moved = x.copy()
        moved[index] += sign * step
        return sign * (self.value_and_grad(moved, data)[1] - self.value_and_grad(x, data)[1]) / step

    def curvature_scale(self, x: np.ndarray | None = None, observed: Any | None = None) -> np.ndarray:
        """``sqrt(|H_ii|)``, ``(size,)`` (1 where not usable): at the model's start on its data
        (computed once per objective, deterministic whatever data a fit then uses), or at ``x`` on
        ``observed`` (computed at each call; a fit that fixes entries far from its start uses it).

        Fits work in ``x * scale``: there the problem is well conditioned (a staterror factor
        known to 0.06% and an alpha known to 1 take similar steps) and a projected gradient
        tolerance means the same for every entry. ``H_ii`` is a difference of the gradient over
        steps of ``CENTRAL_STEP * max(|x_i|, 1)``, twice: the second time over the first's
        standard deviations, so that the step suits entries known to 1e-4 as well as to 1.
        """
        if x is not None:
            return self._curvature(self.checked(x, "curvature"), self.data(observed))
        if self._scale is None:
            self._scale = self._curvature(self.pack(self.model.start_point()), self.model.data)
        return self._scale

    def _curvature(self, x: np.ndarray, data: ObservedData) -> np.ndarray:
        units = np.maximum(np.abs(x), 1.0)
        for _ in range(2):
            # a gradient infinite at a bound gives a non-finite difference: that entry is not usable
            with np.errstate(invalid="ignore", over="ignore"):
                diagonal = np.array([self._gradient_derivative(x, data, i, units[i])[i] for i in range(self.size)])
            usable = np.isfinite(diagonal) & (diagonal > 0)
            scale = np.sqrt(np.where(usable, diagonal, 1.0))
            units = 1.0 / scale
        return scale


def _shaped(part: pt.TensorVariable, shape: tuple[int, ...], rows: tuple[Any, ...]) -> pt.TensorVariable:
    """A variable's entries ``(*rows, size)`` as its tensor ``(*rows, *shape)``: a scalar drops its
    axis of length 1, a vector is the part itself, others are reshaped."""
    if len(shape) == 1:
        return part
    if not shape:
        if part.type.shape[-1] != 1:  # the only variable: x's length is not known to be 1
            part = pt.specify_shape(part, (*(None,) * len(rows), 1))
        return part.dimshuffle(*range(len(rows)))
    return part.reshape((*rows, *shape))


class _Outputs:
    """``(x, main, aux) -> (value, gradient)`` of one kind from the model's function of both
    kinds' values and gradients (``[ml, ml gradient, map, map gradient]``)."""

    def __init__(self, function: pytensor.compile.Function, kind_index: int) -> None:
        self.function = function
        self.first = 2 * kind_index

    def __call__(self, x: np.ndarray, main: np.ndarray, aux: np.ndarray) -> list[np.ndarray]:
        return self.function(x, main, aux)[self.first:self.first + 2]


def check_entry_value(label: str, value: float, lower: float, upper: float, what: str) -> float:
    """``value`` if it is finite and inside ``[lower, upper]``, else a :class:`ModelError` naming
    the entry and its bounds: every entry point refuses points outside the support alike."""
    if not np.isfinite(value):
        raise ModelError(f"{what}: {label} = {value!r} is not finite")
    if not lower <= value <= upper:
        raise ModelError(f"{what}: {label} = {value:g} is outside its bounds [{lower:g}, {upper:g}]")
    return value
