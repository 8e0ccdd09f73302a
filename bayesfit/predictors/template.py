"""Template predictor: ``expected = sum_t weight_t * template_t + constant``.

Each template is a histogram of expected counts (e.g. noise, background, signal model A, model B);
the parameter is the vector of their weights. Templates may carry a variations axis of ``K``
universes. A template predictor is a :class:`~bayesfit.predictors.matrix.MatrixPredictor` whose
matrix columns are the templates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bayesfit.errors import PredictorError
from bayesfit.predictors.base import check_coefficients
from bayesfit.predictors.matrix import MatrixPredictor

__all__ = ["TemplatePredictor"]


class TemplatePredictor(MatrixPredictor):
    """Expected counts ``einsum("t,ktn->kn", weights, templates) + constant``, shape ``(K, n_out)``.

    Parameters
    ----------
    templates:
        ``(T, n_out)`` or ``(K, T, n_out)``: ``T`` templates of expected counts per bin, finite and
        non-negative, optionally one set per universe. No template may be zero in every bin or
        proportional to another one in every universe: the data could not tell their weights
        apart (a :class:`PredictorError` names them).
    constant:
        ``None``, ``(n_out,)`` or ``(K, n_out)``: counts added independent of the weights.
    variation_weights:
        ``(K,)`` weights of the universes; equal weights when ``None``.
    parameter:
        Name of the weight vector, shape ``(T,)``.
    lower, upper:
        Support of every weight; ``[0, inf)`` by default.
    default:
        Default weights (scalar or ``(T,)``); 1, the templates as given, by default.
    labels:
        Optional ``T`` template names, e.g. ``["noise", "background", "model_A", "model_B"]``.
    dim:
        Dimension name of the weight vector (for ArviZ).
    """

    def __init__(
        self,
        templates: Any,
        *,
        constant: Any = None,
        variation_weights: Any = None,
        parameter: str = "weights",
        lower: float = 0.0,
        upper: float = np.inf,
        default: Any = 1.0,
        name: str = "template",
        labels: Sequence[str] | None = None,
        dim: str | None = "template",
    ) -> None:
        templates = check_coefficients(templates, "templates", name)
        if templates.ndim not in (2, 3):
            raise PredictorError(
                f"{name}: templates must have shape (T, n_out) or (K, T, n_out), "
                f"got {templates.shape}"
            )
        if labels is not None and len(labels) != templates.shape[-2]:
            raise PredictorError(
                f"{name}: {len(labels)} labels for {templates.shape[-2]} templates"
            )
        _check_identifiable(templates if templates.ndim == 3 else templates[None], labels, name)
        super().__init__(
            np.swapaxes(templates, -1, -2),
            constant=constant,
            variation_weights=variation_weights,
            parameter=parameter,
            lower=lower,
            upper=upper,
            default=default,
            name=name,
            labels=labels,
            dim=dim,
        )

    @property
    def templates(self) -> np.ndarray:
        """The templates, shape ``(K, T, n_out)``."""
        return np.swapaxes(self.matrix, -1, -2)


def _check_identifiable(templates: np.ndarray, labels: Sequence[str] | None, name: str) -> None:
    """Raise a :class:`PredictorError` if a template of ``(K, T, n)`` is zero, or proportional to
    another, in every universe: only the sum of such weights is measurable (a singular Hessian)."""
    n_templates = templates.shape[1]
    flat = np.swapaxes(templates, 0, 1).reshape(n_templates, -1)
    norms = np.linalg.norm(flat, axis=1)

    def called(index: int) -> str:
        return f"template {index}" + (f" ({labels[index]!r})" if labels is not None else "")

    if np.any(norms == 0):
        raise PredictorError(
            f"{name}: {called(int(np.argmax(norms == 0)))} is zero in every bin; the data cannot measure its weight"
        )
    unit = flat / norms[:, None]
    similarity = np.triu(unit @ unit.T, k=1)
    if np.any(similarity > 1.0 - 1e-12):
        first, second = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
        raise PredictorError(
            f"{name}: {called(int(second))} is {norms[second] / norms[first]:.6g} x {called(int(first))}; "
            "proportional templates have weights the data cannot tell apart (merge them into one)"
        )
