"""Template predictors: ``expected = sum_t weight_t * template_t + constant``.

Each template is a histogram of expected counts (e.g. noise, background, signal model A, model B);
the parameter is the vector of their weights. Templates may carry a variations axis of ``K``
universes. A :class:`TemplatePredictor` is a :class:`~bayesfit.predictors.matrix.MatrixPredictor`
whose matrix columns are the templates; a :class:`FluxTemplatePredictor` has templates per unit
of a flux that is itself a parameter (bilinear in the weights and the flux).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytensor.tensor as pt

from bayesfit.binning.histogram import as_counts
from bayesfit.errors import PredictorError
from bayesfit.predictors.base import Parameter, Predictor, TensorLike, check_coefficients
from bayesfit.predictors.matrix import MatrixPredictor

__all__ = ["FluxTemplatePredictor", "TemplatePredictor"]


class TemplatePredictor(MatrixPredictor):
    """Expected counts ``einsum("t,ktn->kn", weights, templates) + constant``, shape ``(K, n_out)``.

    Parameters
    ----------
    templates:
        ``(T, n_out)`` or ``(K, T, n_out)``: ``T`` templates of expected counts per bin, finite and
        non-negative, optionally one set per universe; or a list of ``T`` histograms
        (:class:`~bayesfit.binning.Histogram` or :class:`hist.Hist`, values in flat bin order, see
        :func:`~bayesfit.binning.as_counts`). No template may be zero in every bin or proportional
        to another one in every universe: the data could not tell their weights apart (a
        :class:`PredictorError` names them).
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
        _check_identifiable(templates if templates.ndim == 3 else templates[None], labels, name)
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


class FluxTemplatePredictor(Predictor):
    """Template weights and a flux -> expected counts, with ``K`` universes (e.g. of a detector).

    ``expected[k, i] = sum_t w_t (constant[k, i, t] + sum_e flux_coefficients[k, i, t, e] flux_e)``:
    bilinear in the weights ``w`` (``(T,)``, ``>= 0``) and the flux (``(n_flux,)``, e.g. exposure
    per neutrino-energy bin). The flux is unbounded so that a multivariate normal nuisance
    (:class:`~bayesfit.likelihood.ThrowConstraint`) can move it freely.

    Parameters
    ----------
    flux_coefficients:
        ``(K, n_out, T, n_flux)`` expected counts per unit weight and unit flux in each flux bin.
    constant:
        ``(K, n_out, T)`` flux-independent expected counts per unit weight (e.g. noise).
    labels:
        ``T`` template names.
    variation_weights:
        ``(K,)`` weights of the universes; equal when ``None``.
    nominal_flux:
        Default flux, scalar or ``(n_flux,)``.
    """

    def __init__(
        self,
        flux_coefficients: Any,
        constant: Any,
        *,
        labels: Sequence[str],
        variation_weights: Any = None,
        nominal_flux: Any = 1.0,
        name: str = "flux_templates",
    ) -> None:
        self.name = name
        flux_coefficients = np.asarray(flux_coefficients, dtype=float)
        constant = np.asarray(constant, dtype=float)
        if flux_coefficients.ndim != 4 or constant.shape != flux_coefficients.shape[:3]:
            raise PredictorError(
                f"{name}: flux_coefficients must be (K, n_out, T, n_flux) and constant (K, n_out, T); got "
                f"{flux_coefficients.shape} and {constant.shape}"
            )
        n_variations, self.n_out, n_templates, n_flux = flux_coefficients.shape
        if len(labels) != n_templates:
            raise PredictorError(f"{name}: {len(labels)} labels for {n_templates} templates")
        self.flux_coefficients, self.constant = flux_coefficients, constant
        self._set_variation_weights(variation_weights, n_variations)
        self.parameters = (
            Parameter("weights", (n_templates,), lower=0.0, default=1.0, labels=tuple(labels), dim="template"),
            Parameter("flux", (n_flux,), default=nominal_flux, dim="flux_bin"),
        )

    def expected(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        """``(K, n_out)`` graph."""
        weights = pt.as_tensor_variable(params["weights"])
        flux = pt.as_tensor_variable(params["flux"])
        per_template = pt.dot(pt.constant(self.flux_coefficients), flux) + pt.constant(self.constant)
        return pt.dot(per_template, weights)
