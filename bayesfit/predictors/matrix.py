"""Matrix predictor: ``expected = matrix @ truth + constant``, one matrix per universe.

The workhorse of unfolding-style analyses: a detector response matrix maps expected events in
truth bins to expected events in reconstructed bins. The matrix may carry a variations axis of
``K`` detector-response universes, shape ``(K, n_out, n_in)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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

__all__ = ["MatrixPredictor"]


class MatrixPredictor(Predictor):
    """Expected counts ``matrix @ parameter + constant`` of shape ``(K, n_out)``.

    Parameters
    ----------
    matrix:
        ``(n_out, n_in)`` or ``(K, n_out, n_in)``; finite and non-negative. Entry ``[k, i, j]``
        is the expected count in output bin ``i`` of universe ``k`` per unit of input ``j``.
    constant:
        ``None``, ``(n_out,)`` or ``(K, n_out)``: counts added independent of the input
        (e.g. a fixed background); finite and non-negative.
    variation_weights:
        ``(K,)`` weights of the universes; equal weights when ``None``.
    parameter:
        Name of the single vector parameter, shape ``(n_in,)``.
    lower, upper:
        Support of every entry of the parameter.
    default:
        Default value of the parameter (scalar or ``(n_in,)``).
    name:
        Predictor name, used in error messages.
    labels:
        Optional ``n_in`` coordinate labels of the parameter.
    dim:
        Optional dimension name of the parameter (for ArviZ), e.g. ``"truth_bin"``.
    """

    def __init__(
        self,
        matrix: Any,
        *,
        constant: Any = None,
        variation_weights: Any = None,
        parameter: str = "truth",
        lower: float = 0.0,
        upper: float = np.inf,
        default: Any = 0.0,
        name: str = "matrix",
        labels: Sequence[str] | None = None,
        dim: str | None = None,
    ) -> None:
        self.name = name
        matrix = check_coefficients(matrix, "matrix", name)
        if matrix.ndim == 2:
            matrix = matrix[np.newaxis]
        if matrix.ndim != 3:
            raise PredictorError(
                f"{name}: matrix must have shape (n_out, n_in) or (K, n_out, n_in), "
                f"got {matrix.shape}"
            )
        n_variations, self.n_out, n_in = matrix.shape
        self.matrix = np.ascontiguousarray(matrix)
        self.constant = check_constant(constant, n_variations, self.n_out, name)
        self._set_variation_weights(variation_weights, n_variations)
        self.parameters = (
            Parameter(
                parameter,
                shape=(n_in,),
                lower=lower,
                upper=upper,
                default=default,
                labels=None if labels is None else tuple(labels),
                dim=dim,
            ),
        )

    @property
    def n_in(self) -> int:
        """Length of the input vector."""
        return int(self.matrix.shape[2])

    def expected(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        """``(K, n_out)`` graph: ``einsum("kij,j->ki", matrix, parameter) + constant``."""
        vector = pt.as_tensor_variable(params[self.parameters[0].name])
        stacked = pt.constant(self.matrix.reshape(-1, self.n_in))  # (K * n_out, n_in): one gemv
        counts = pt.dot(stacked, vector).reshape((self.n_variations, self.n_out))
        return self._add_constant(counts)

    def expected_per_variation(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        """``(B, n_out)`` graph: ``einsum("kij,kj->ki", matrix, parameter) + constant``."""
        vectors = pt.as_tensor_variable(params[self.parameters[0].name])  # (B, n_in)
        if self.n_variations == 1:
            return self._add_constant(pt.dot(vectors, pt.constant(self.matrix[0].T)))
        products = pt.matmul(pt.constant(self.matrix), vectors[:, :, None])  # (K, n_out, 1)
        return self._add_constant(products[:, :, 0])

    def _add_constant(self, counts: pt.TensorVariable) -> pt.TensorVariable:
        if self.constant is None:
            return counts
        return counts + pt.constant(self.constant)

