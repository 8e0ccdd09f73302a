"""Composition of predictors: concatenate, sum, chain, fix, rename and split parameters.

Parameters are matched by name: two predictors that declare a parameter of the same name share it
(the declarations must agree in shape and support); :class:`RenamedParameters` keeps them apart.

Variations of combined predictors follow ``combine``:

``"same"``
    Universe ``k`` of every part goes with universe ``k`` of the others; all parts with ``K > 1``
    must have the same ``K``, and a part with ``K = 1`` serves every universe. The weights are
    those of the first part with ``K > 1`` (for a chain: of the outer predictor if it varies,
    else of the inner one). The graph is vectorised (no loop over universes).
``"cartesian"``
    Every combination of universes: ``K = K_1 * K_2 * ...``, flattened with the first part's
    universe as the slowest index (``k = k_1 * K_2 + k_2``; outer-major for a chain), weights
    multiplied.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Mapping, Sequence
from functools import reduce
from typing import Any, Literal

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.replace import vectorize_graph

from bayesfit.errors import PredictorError
from bayesfit.predictors.base import Parameter, Predictor, TensorLike

__all__ = [
    "Combine",
    "ConcatenatedPredictor",
    "Supports",
    "SumPredictor",
    "ComposedPredictor",
    "FixedParameters",
    "RenamedParameters",
    "SplitParameter",
    "compose",
]

Combine = Literal["same", "cartesian"]
#: How parameters shared by name combine their supports: ``"equal"`` (an error if they differ) or
#: ``"intersect"``.
Supports = Literal["equal", "intersect"]


# ---------------------------------------------------------------------------- shared helpers
def merge_parameters(
    declarations: Sequence[tuple[str, Sequence[Parameter]]], owner: str, supports: Supports = "equal"
) -> tuple[Parameter, ...]:
    """Union by name of parameters declared by ``(predictor name, parameters)`` pairs.

    Kept in order of first appearance. Parameters of the same name are shared and must agree
    in shape, and in support with ``supports="equal"``; with ``"intersect"`` the shared
    parameter's support is the intersection of the declared ones (it must not be empty).
    """
    merged: dict[str, tuple[Parameter, str]] = {}
    for declarer, parameters in declarations:
        for parameter in parameters:
            if parameter.name not in merged:
                merged[parameter.name] = (parameter, declarer)
                continue
            first, first_owner = merged[parameter.name]
            if supports == "intersect" and first.shape == parameter.shape:
                merged[parameter.name] = (_intersected(first, parameter, f"{owner}: {first_owner!r} and {declarer!r}"), first_owner)
                continue
            declared = (first.shape, first.lower, first.upper)
            if declared != (parameter.shape, parameter.lower, parameter.upper):
                raise PredictorError(
                    f"{owner}: parameter {parameter.name!r} is declared differently by "
                    f"{first_owner!r} (shape {first.shape}, support "
                    f"[{first.lower}, {first.upper}]) "
                    f"and {declarer!r} (shape {parameter.shape}, support "
                    f"[{parameter.lower}, {parameter.upper}]); rename one with RenamedParameters"
                )
    return tuple(parameter for parameter, _ in merged.values())


def _intersected(first: Parameter, other: Parameter, where: str) -> Parameter:
    """``first`` with the support shared with ``other``; its default, or else ``other``'s, must lie in it."""
    lower, upper = max(first.lower, other.lower), min(first.upper, other.upper)
    if not lower < upper:
        raise PredictorError(
            f"{where} declare parameter {first.name!r} with supports [{first.lower}, {first.upper}] and "
            f"[{other.lower}, {other.upper}], which do not overlap"
        )
    inside = [p.default for p in (first, other) if np.all((lower <= np.asarray(p.default)) & (np.asarray(p.default) <= upper))]
    default = inside[0] if inside else np.clip(first.default, lower, upper)
    return dataclasses.replace(first, lower=lower, upper=upper, default=default)


def combine_weights(predictors: Sequence[Predictor], combine: Combine, owner: str) -> np.ndarray:
    """Variation weights of ``predictors`` combined ``"same"`` or ``"cartesian"``."""
    if combine == "cartesian":
        return reduce(np.multiply.outer, [p.variation_weights for p in predictors]).ravel()
    if combine != "same":
        raise PredictorError(f"{owner}: combine must be 'same' or 'cartesian', got {combine!r}")
    varying = [p for p in predictors if p.n_variations > 1]
    counts = {p.n_variations for p in varying}
    if len(counts) > 1:
        listing = ", ".join(f"{p.name!r} has K={p.n_variations}" for p in varying)
        raise PredictorError(
            f"{owner}: variation counts do not match under combine='same' ({listing}); "
            "use combine='cartesian' or predictors with equal K"
        )
    return varying[0].variation_weights.copy() if varying else np.ones(1)


def align_variations(
    outputs: Sequence[pt.TensorVariable], predictors: Sequence[Predictor], combine: Combine
) -> list[pt.TensorVariable]:
    """Bring the outputs ``(K_i, n_i)`` of ``predictors`` to the combined axis, ``(K, n_i)``."""
    counts = [p.n_variations for p in predictors]
    if combine == "same":
        n_variations = max(counts)
        return [
            broadcast_universes(out, count, n_variations, p.n_out)
            for out, count, p in zip(outputs, counts, predictors)
        ]
    n_variations = int(np.prod(counts))
    aligned = []
    for position, (out, p) in enumerate(zip(outputs, predictors)):
        # (K_i, n_i) -> (1, .., K_i, .., 1, n_i): new axes from indexing are broadcastable
        index = (None,) * position + (slice(None),) + (None,) * (len(counts) - position - 1)
        full = pt.broadcast_to(out[index], (*counts, p.n_out))
        aligned.append(full.reshape((n_variations, p.n_out)))
    return aligned


def broadcast_universes(
    output: pt.TensorVariable, count: int, n_variations: int, n_out: int
) -> pt.TensorVariable:
    """Output ``(count, n_out)``, ``count`` 1 or ``n_variations``, as ``(n_variations, n_out)``."""
    if count == n_variations:
        return output
    return pt.broadcast_to(output[0][None, :], (n_variations, n_out))


def _broadcast_parameter(
    value: TensorLike, parameter: Parameter, batch: TensorLike
) -> pt.TensorVariable:
    """A parameter value repeated along a new leading axis of length ``batch``."""
    value = pt.as_tensor_variable(value)
    return pt.broadcast_to(value[None], (batch, *parameter.shape))


# ---------------------------------------------------------------------------- concatenation, sum
class _CombinedPredictor(Predictor):
    """Predictors evaluated side by side on shared parameters; subclasses reduce their outputs."""

    def __init__(
        self, predictors: Sequence[Predictor], combine: Combine, name: str, supports: Supports = "equal"
    ) -> None:
        self.name = name
        self.predictors = tuple(predictors)
        if not self.predictors:
            raise PredictorError(f"{name}: needs at least one predictor")
        for part in self.predictors:
            if not isinstance(part, Predictor):
                raise PredictorError(f"{name}: {part!r} is not a Predictor")
        self.combine = combine
        self.variation_weights = combine_weights(self.predictors, combine, name)
        self.parameters = merge_parameters([(p.name, p.parameters) for p in self.predictors], name, supports)

    def _reduce(self, outputs: list[pt.TensorVariable]) -> pt.TensorVariable:
        raise NotImplementedError

    def expected(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        outputs = [part.expected(params) for part in self.predictors]
        return self._reduce(align_variations(outputs, self.predictors, self.combine))

    def expected_per_variation(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        if self.combine == "cartesian":
            return super().expected_per_variation(params)
        return self._reduce([part.expected_per_variation(params) for part in self.predictors])


class ConcatenatedPredictor(_CombinedPredictor):
    """Outputs of several predictors stacked into one vector of ``sum(n_out_i)`` bins.

    Parameters of the same name are shared (``supports``: see :func:`merge_parameters`).
    :attr:`output_slices` gives each part's bins. The sums of squared weights are concatenated
    too when every part has them.
    """

    def __init__(
        self,
        predictors: Sequence[Predictor],
        *,
        combine: Combine = "same",
        name: str = "concatenated",
        supports: Supports = "equal",
    ) -> None:
        super().__init__(predictors, combine, name, supports)
        edges = np.cumsum([0] + [part.n_out for part in self.predictors])
        self.n_out = int(edges[-1])
        self.output_slices = tuple(slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]))

    def _reduce(self, outputs: list[pt.TensorVariable]) -> pt.TensorVariable:
        return pt.concatenate(outputs, axis=1)

    def expected_sumw2(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable | None:
        parts = [part.expected_sumw2(params) for part in self.predictors]
        if any(part is None for part in parts):
            return None
        return self._reduce(align_variations(parts, self.predictors, self.combine))


class SumPredictor(_CombinedPredictor):
    """Sum of the outputs of predictors with the same number of bins (e.g. signal + background)."""

    def __init__(
        self, predictors: Sequence[Predictor], *, combine: Combine = "same", name: str = "sum"
    ) -> None:
        super().__init__(predictors, combine, name)
        self.n_out = self.predictors[0].n_out
        for part in self.predictors[1:]:
            if part.n_out != self.n_out:
                raise PredictorError(
                    f"{name}: cannot sum {part.name!r} with {part.n_out} bins and "
                    f"{self.predictors[0].name!r} with {self.n_out} bins"
                )

    def _reduce(self, outputs: list[pt.TensorVariable]) -> pt.TensorVariable:
        return reduce(operator.add, outputs)


# ---------------------------------------------------------------------------- chains
class ComposedPredictor(Predictor):
    """``outer`` evaluated on the output of ``inner``: ``outer(into = inner(...), rest)``.

    Parameters
    ----------
    outer:
        Predictor whose parameter(s) ``into`` receive the output of ``inner``.
    inner:
        Predictor with ``n_out`` equal to the total size of the ``into`` parameters.
    into:
        Name of an ``outer`` parameter, or several names: ``inner``'s output is split in order
        (ReMU's one concatenated input vector), each piece reshaped to its parameter's shape.
    combine:
        ``"same"`` (default) or ``"cartesian"`` combination of outer and inner universes.
    name:
        Predictor name; ``"<outer>(<inner>)"`` by default.

    The composed parameters are ``inner``'s plus ``outer``'s other parameters, shared by name.
    """

    def __init__(
        self,
        outer: Predictor,
        inner: Predictor,
        *,
        into: str | Sequence[str],
        combine: Combine = "same",
        name: str | None = None,
    ) -> None:
        self.name = name or f"{outer.name}({inner.name})"
        self.outer, self.inner, self.combine = outer, inner, combine
        self.into = (into,) if isinstance(into, str) else tuple(into)
        targets = [outer.parameter(target) for target in self.into]
        total = sum(target.size for target in targets)
        if total != inner.n_out:
            sizes = ", ".join(f"{t.name!r}: {t.size}" for t in targets)
            raise PredictorError(
                f"{self.name}: inner {inner.name!r} gives {inner.n_out} bins but outer "
                f"{outer.name!r} takes {total} into {sizes}"
            )
        outer_rest = [p for p in outer.parameters if p.name not in self.into]
        self.parameters = merge_parameters(
            [(outer.name, outer_rest), (inner.name, inner.parameters)], self.name
        )
        self.n_out = outer.n_out
        self.variation_weights = combine_weights([outer, inner], combine, self.name)

    def _split(self, inner_output: pt.TensorVariable) -> dict[str, pt.TensorVariable]:
        """Pieces of ``inner_output`` ``(B, n)`` for the ``into`` parameters, ``(B, *shape)``."""
        pieces, start = {}, 0
        for target in (self.outer.parameter(name) for name in self.into):
            piece = inner_output[:, start : start + target.size]
            pieces[target.name] = piece.reshape((-1, *target.shape))
            start += target.size
        return pieces

    def expected(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        inner_output = self.inner.expected(params)  # (K2, n)
        if self.combine == "same":
            n_variations = self.n_variations
            inner_output = broadcast_universes(
                inner_output, self.inner.n_variations, n_variations, self.inner.n_out
            )
            rest = {
                p.name: _broadcast_parameter(params[p.name], p, n_variations)
                for p in self.outer.parameters
                if p.name not in self.into
            }
            return self.outer.expected_per_variation({**rest, **self._split(inner_output)})
        symbols = self.outer.symbols()
        core = self.outer.expected(symbols)  # (K1, n_out)
        replace = {
            symbol: pt.as_tensor_variable(params[name])
            for name, symbol in symbols.items()
            if name not in self.into
        }
        replace.update({symbols[name]: piece for name, piece in self._split(inner_output).items()})
        stacked = vectorize_graph(core, replace=replace)  # (K2, K1, n_out)
        return stacked.transpose(1, 0, 2).reshape((self.n_variations, self.n_out))

    def expected_per_variation(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        if self.combine == "cartesian":
            return super().expected_per_variation(params)
        inner_output = self.inner.expected_per_variation(params)  # (B, n)
        rest = {name: params[name] for name in self.outer.parameter_names if name not in self.into}
        return self.outer.expected_per_variation({**rest, **self._split(inner_output)})


def compose(
    outer: Predictor, inner: Predictor, *, into: str | Sequence[str], combine: Combine = "same"
) -> ComposedPredictor:
    """Feed ``inner``'s output into ``outer``'s parameter(s) ``into``: a ComposedPredictor."""
    return ComposedPredictor(outer, inner, into=into, combine=combine)


# ---------------------------------------------------------------------------- parameter interface
class FixedParameters(Predictor):
    """``predictor`` with some parameters fixed to constants and removed from its interface.

    ``values`` maps parameter names to values (checked against shape and support).
    """

    def __init__(
        self, predictor: Predictor, values: Mapping[str, Any], *, name: str | None = None
    ) -> None:
        self.name = name or predictor.name
        self.predictor = predictor
        unknown = sorted(set(values) - set(predictor.parameter_names))
        if unknown:
            raise PredictorError(
                f"{self.name}: cannot fix unknown parameter(s) {unknown}; it has "
                f"{list(predictor.parameter_names)}"
            )
        self.fixed = {
            key: predictor.parameter(key).check_value(value, self.name)
            for key, value in values.items()
        }
        self.parameters = tuple(p for p in predictor.parameters if p.name not in self.fixed)
        self.n_out = predictor.n_out
        self.variation_weights = predictor.variation_weights

    def expected(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        return self.predictor.expected({**params, **self._constants()})

    def expected_per_variation(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        if not self.parameters:
            raise PredictorError(
                f"{self.name}: every parameter is fixed; nothing varies per universe"
            )
        batch = pt.as_tensor_variable(params[self.parameters[0].name]).shape[0]
        constants = {
            key: _broadcast_parameter(value, self.predictor.parameter(key), batch)
            for key, value in self._constants().items()
        }
        return self.predictor.expected_per_variation({**params, **constants})

    def _constants(self) -> dict[str, pt.TensorVariable]:
        return {key: pt.constant(value) for key, value in self.fixed.items()}


class RenamedParameters(Predictor):
    """``predictor`` with parameters renamed, e.g. ``{"truth": "xsec_bg"}`` to unshare them."""

    def __init__(
        self, predictor: Predictor, rename: Mapping[str, str], *, name: str | None = None
    ) -> None:
        self.name = name or predictor.name
        self.predictor = predictor
        unknown = sorted(set(rename) - set(predictor.parameter_names))
        if unknown:
            raise PredictorError(
                f"{self.name}: cannot rename unknown parameter(s) {unknown}; it has "
                f"{list(predictor.parameter_names)}"
            )
        self.new_names = {old: rename.get(old, old) for old in predictor.parameter_names}
        if len(set(self.new_names.values())) != len(self.new_names):
            raise PredictorError(
                f"{self.name}: renaming {dict(rename)} gives two parameters one name"
            )
        self.parameters = tuple(
            dataclasses.replace(p, name=self.new_names[p.name]) for p in predictor.parameters
        )
        self.n_out = predictor.n_out
        self.variation_weights = predictor.variation_weights

    def _original(self, params: Mapping[str, TensorLike]) -> dict[str, TensorLike]:
        return {old: params[new] for old, new in self.new_names.items()}

    def expected(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        return self.predictor.expected(self._original(params))

    def expected_per_variation(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        return self.predictor.expected_per_variation(self._original(params))


class SplitParameter(Predictor):
    """``predictor`` with its vector parameter ``parameter`` replaced by one scalar per entry.

    E.g. the template weights ``weights`` ``(T,)`` of a template fit become the scalars
    ``noise``, ``background``, ``model_A``, ``model_B``: each can get its own prior, be fixed
    (a hypothesis) or be profiled by name. The scalars inherit the vector's support and default.

    Parameters
    ----------
    predictor:
        A predictor with a parameter ``parameter`` of shape ``(T,)``.
    names:
        ``T`` new parameter names, in the order of the vector's entries; they must not clash
        with the predictor's other parameters.
    """

    def __init__(
        self, predictor: Predictor, parameter: str, names: Sequence[str], *, name: str | None = None
    ) -> None:
        self.name = name or predictor.name
        self.predictor = predictor
        vector = predictor.parameter(parameter)
        names = [str(entry) for entry in names]
        if len(vector.shape) != 1 or vector.shape[0] != len(names):
            raise PredictorError(
                f"{self.name}: cannot split parameter {parameter!r} of shape {vector.shape} into "
                f"{len(names)} scalars {names}"
            )
        others = [p.name for p in predictor.parameters if p.name != parameter]
        clash = sorted(set(names) & set(others))
        if clash or len(set(names)) != len(names):
            raise PredictorError(
                f"{self.name}: the names {names} for the entries of {parameter!r} repeat or clash with "
                f"the parameters {others}"
            )
        self.split = vector.name
        self.entry_names = tuple(names)
        defaults = vector.default_value()
        entries = [
            Parameter(entry, (), lower=vector.lower, upper=vector.upper, default=float(defaults[index]))
            for index, entry in enumerate(names)
        ]
        position = predictor.parameter_names.index(parameter)
        self.parameters = (*predictor.parameters[:position], *entries, *predictor.parameters[position + 1 :])
        self.n_out = predictor.n_out
        self.variation_weights = predictor.variation_weights

    def _original(self, params: Mapping[str, TensorLike], axis: int) -> dict[str, TensorLike]:
        original = {key: value for key, value in params.items() if key not in self.entry_names}
        entries = [pt.as_tensor_variable(params[entry]) for entry in self.entry_names]
        original[self.split] = pt.stack(entries, axis=axis)
        return original

    def expected(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        return self.predictor.expected(self._original(params, axis=0))

    def expected_per_variation(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        return self.predictor.expected_per_variation(self._original(params, axis=1))
