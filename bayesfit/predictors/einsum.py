"""Linear einsum predictor: any ``einsum`` of one parameter tensor with a coefficient array.

The typical use turns cross sections into event numbers with a flux: ``sigma`` of shape
``(n_truth, n_flux)`` (the parameter, a flat vector of ``n_truth * n_flux`` entries as in ReMU's
``reshape_parameters``) times flux throws of shape ``(K, n_flux)`` gives ``(K, n_truth)``::

    LinearEinsumPredictor("ij,...j->...i", flux, parameter_shape=(n_truth, n_flux))

Subscripts convention: ``"<parameter>,<coefficients>-><output>"`` written for one universe, in
numpy's einsum notation. A leading ``...`` in the coefficients stands for their variations axis
(``K`` universes, the first axis of ``coefficients``) and must then lead the output too; without
it there is one universe. The output of a universe is flattened row-major to ``n_out`` bins.
``np.einsum(subscripts, parameter.reshape(parameter_shape), coefficients)`` is exactly what the
graph computes.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pytensor.tensor as pt

from bayesfit.errors import PredictorError
from bayesfit.predictors.base import (
    Parameter,
    Predictor,
    TensorLike,
    check_coefficients,
    check_constant,
)

__all__ = ["LinearEinsumPredictor", "EinsumSubscripts", "parse_subscripts"]


class EinsumSubscripts(NamedTuple):
    """Parsed ``"<parameter>,<coefficients>-><output>"`` subscripts, without the ellipsis."""

    parameter: str
    coefficients: str
    output: str
    has_variations: bool  # whether ``...`` (the variations axis) leads coefficients and output


def parse_subscripts(subscripts: str, owner: str = "einsum") -> EinsumSubscripts:
    """Parse and check subscripts of a :class:`LinearEinsumPredictor` (see module docstring)."""
    text = subscripts.replace(" ", "")
    if text.count("->") != 1 or text.split("->")[0].count(",") != 1:
        raise PredictorError(
            f"{owner}: subscripts {subscripts!r} must read '<parameter>,<coefficients>-><output>'"
        )
    inputs, output = text.split("->")
    parameter, coefficients = inputs.split(",")
    if "..." in parameter:
        raise PredictorError(
            f"{owner}: subscripts {subscripts!r}: the parameter operand cannot carry '...'"
        )
    has_variations = coefficients.startswith("...")
    if has_variations != output.startswith("..."):
        raise PredictorError(
            f"{owner}: subscripts {subscripts!r}: '...' (the variations axis) must lead both the "
            "coefficients and the output, or neither"
        )
    if has_variations:
        coefficients, output = coefficients[3:], output[3:]
    roles = {"parameter": parameter, "coefficients": coefficients, "output": output}
    for role, letters in roles.items():
        unknown = sorted(set(letters) - set(string.ascii_letters))
        if unknown:
            raise PredictorError(
                f"{owner}: subscripts {subscripts!r}: {role} has unknown subscript(s) {unknown}; "
                "use letters, and '...' only to lead the coefficients and the output"
            )
    if len(set(output)) != len(output):
        raise PredictorError(f"{owner}: subscripts {subscripts!r}: repeated output subscript")
    orphans = sorted(set(output) - set(parameter) - set(coefficients))
    if orphans:
        raise PredictorError(
            f"{owner}: subscripts {subscripts!r}: output subscript(s) {orphans} "
            "appear in no operand"
        )
    return EinsumSubscripts(parameter, coefficients, output, has_variations)


class LinearEinsumPredictor(Predictor):
    """Expected counts ``einsum(subscripts, parameter, coefficients) + constant``, ``(K, n_out)``.

    Parameters
    ----------
    subscripts:
        ``"<parameter>,<coefficients>-><output>"``, e.g. ``"ij,...j->...i"`` (see module docstring).
    coefficients:
        Finite, non-negative array; its first axis is the variations axis when the subscripts
        have ``...``.
    parameter_shape:
        Shape the flat parameter vector takes in the einsum, e.g. ``(n_truth, n_flux)``. May be
        omitted when the parameter has one subscript that the coefficients share.
    constant:
        ``None``, ``(n_out,)`` or ``(K, n_out)`` counts added to the output.
    variation_weights:
        ``(K,)`` weights of the universes; equal when ``None``.
    parameter, lower, upper, default, labels, dim:
        Name, support, default value, optional labels and dimension name of the flat parameter
        vector of ``prod(parameter_shape)`` entries.
    name:
        Predictor name, used in error messages.
    """

    def __init__(
        self,
        subscripts: str,
        coefficients: Any,
        *,
        parameter_shape: Sequence[int] | None = None,
        constant: Any = None,
        variation_weights: Any = None,
        parameter: str = "parameters",
        lower: float = 0.0,
        upper: float = np.inf,
        default: Any = 0.0,
        name: str = "einsum",
        labels: Sequence[str] | None = None,
        dim: str | None = None,
    ) -> None:
        self.name = name
        self.subscripts = parse_subscripts(subscripts, name)
        coefficients = check_coefficients(coefficients, "coefficients", name)
        core_shape = self._check_coefficient_shape(coefficients.shape, subscripts)
        n_variations = coefficients.shape[0] if self.subscripts.has_variations else 1
        self.coefficients = coefficients
        sizes = dict(zip(self.subscripts.coefficients, core_shape))
        self.parameter_shape = self._check_parameter_shape(parameter_shape, sizes, subscripts)
        sizes.update(zip(self.subscripts.parameter, self.parameter_shape))
        self.output_shape = tuple(sizes[letter] for letter in self.subscripts.output)
        self.n_out = int(np.prod(self.output_shape, dtype=int))
        self.constant = check_constant(constant, n_variations, self.n_out, name)
        self._set_variation_weights(variation_weights, n_variations)
        self.parameters = (
            Parameter(
                parameter,
                shape=(int(np.prod(self.parameter_shape, dtype=int)),),
                lower=lower,
                upper=upper,
                default=default,
                labels=None if labels is None else tuple(labels),
                dim=dim,
            ),
        )

    # ------------------------------------------------------------------ construction checks
    def _check_coefficient_shape(self, shape: tuple[int, ...], subscripts: str) -> tuple[int, ...]:
        letters = self.subscripts.coefficients
        expected_ndim = len(letters) + int(self.subscripts.has_variations)
        if len(shape) != expected_ndim:
            axes = ("K, " if self.subscripts.has_variations else "") + ", ".join(letters)
            raise PredictorError(
                f"{self.name}: coefficients have shape {shape}, expected {expected_ndim} axes "
                f"({axes}) for subscripts {subscripts!r}"
            )
        core = shape[1:] if self.subscripts.has_variations else shape
        sizes: dict[str, int] = {}
        for letter, size in zip(letters, core):
            if sizes.setdefault(letter, size) != size:
                raise PredictorError(
                    f"{self.name}: coefficient axes labelled {letter!r} have different lengths "
                    f"({sizes[letter]} and {size})"
                )
        return tuple(core)

    def _check_parameter_shape(
        self, parameter_shape: Sequence[int] | None, sizes: Mapping[str, int], subscripts: str
    ) -> tuple[int, ...]:
        letters = self.subscripts.parameter
        if parameter_shape is None:
            if len(letters) == 1 and letters in sizes:
                return (sizes[letters],)
            raise PredictorError(
                f"{self.name}: give parameter_shape, the shape of the parameter ({letters!r}) "
                f"in subscripts {subscripts!r}"
            )
        shape = tuple(int(n) for n in parameter_shape)
        if len(shape) != len(letters):
            raise PredictorError(
                f"{self.name}: parameter_shape {shape} has {len(shape)} axes, subscripts "
                f"{subscripts!r} give the parameter {len(letters)} ({letters!r})"
            )
        for letter, size in zip(letters, shape):
            if letter in sizes and sizes[letter] != size:
                raise PredictorError(
                    f"{self.name}: parameter axis {letter!r} has length {size}, the coefficients' "
                    f"axis {letter!r} has {sizes[letter]}"
                )
        return shape

    # ------------------------------------------------------------------ graphs
    def expected(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        """``(K, n_out)`` graph of the einsum plus constant."""
        vector = pt.as_tensor_variable(params[self.parameters[0].name])
        tensor = vector.reshape(self.parameter_shape)
        p, c, o = self.subscripts.parameter, self.subscripts.coefficients, self.subscripts.output
        if self.subscripts.has_variations:
            k = self._spare_letter()
            result = pt.einsum(f"{p},{k}{c}->{k}{o}", tensor, pt.constant(self.coefficients))
        else:
            result = pt.einsum(f"{p},{c}->{o}", tensor, pt.constant(self.coefficients))[None]
        return self._add_constant(result.reshape((self.n_variations, self.n_out)))

    def expected_per_variation(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        """``(B, n_out)`` graph: universe ``k`` uses the ``k``-th parameter row (no diagonal)."""
        vectors = pt.as_tensor_variable(params[self.parameters[0].name])  # (B, size)
        tensors = vectors.reshape((vectors.shape[0], *self.parameter_shape))
        p, c, o = self.subscripts.parameter, self.subscripts.coefficients, self.subscripts.output
        b = self._spare_letter()
        coefficients = pt.constant(self.coefficients)
        if self.subscripts.has_variations:
            result = pt.einsum(f"{b}{p},{b}{c}->{b}{o}", tensors, coefficients)
        else:
            result = pt.einsum(f"{b}{p},{c}->{b}{o}", tensors, coefficients)
        return self._add_constant(result.reshape((vectors.shape[0], self.n_out)))

    def _spare_letter(self) -> str:
        """A subscript letter the einsum does not use, for the variations or batch axis."""
        used = set(self.subscripts.parameter + self.subscripts.coefficients)
        return next(letter for letter in string.ascii_letters if letter not in used)

    def _add_constant(self, counts: pt.TensorVariable) -> pt.TensorVariable:
        if self.constant is None:
            return counts
        return counts + pt.constant(self.constant)
