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

from bayesfit.binning.histogram import as_counts
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
        non-negative, optionally one set per universe; or a list of ``T`` histograms
        (:class:`~bayesfit.binning.Histogram` or :class:`hist.Hist`, values in flat bin order, see
        :func:`~bayesfit.binning.as_counts`).
    constant:
        ``None``, ``(n_out,)`` or ``(K, n_out)``, or a histogram: counts added independent of the
        weights.
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
        templates = check_coefficients(as_counts(templates), "templates", name)
        if templates.ndim not in (2, 3):
            raise PredictorError(
                f"{name}: templates must have shape (T, n_out) or (K, T, n_out), "
                f"got {templates.shape}"
            )
        if labels is not None and len(labels) != templates.shape[-2]:
            raise PredictorError(
                f"{name}: {len(labels)} labels for {templates.shape[-2]} templates"
            )
        super().__init__(
            np.swapaxes(templates, -1, -2),
            constant=None if constant is None else as_counts(constant),
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
