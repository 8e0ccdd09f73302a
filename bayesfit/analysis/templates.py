"""Template analyses: observed counts, templates scaled by parameters, a response matrix, a flux.

.. code-block:: yaml

    name: xsec-flux
    binning: {reco_x: {edges: [-.inf, -3, -2, -1, 0, 1, 2, 3, .inf]}}
    observed: {path: inputs/data.npz, key: observed}       # (n_reco,) counts
    response: {path: inputs/response.npz}                  # ReMU's .npz: (K, n_reco, n_truth)
    flux: {throws: {path: inputs/flux.npz, key: throws}, treatment: universes,   # (K, n_flux)
           label: Neutrino energy, unit: GeV}  # the flux figure's axis (default: flux bin)
    components:
      noise:  {template: {path: inputs/templates.npz, key: noise}, scale: noise}
      signal: {template: {path: inputs/templates.npz, key: signal}, scale: mu, per_flux: true}
    parameters:
      noise: {prior: flat, start: 1.0}
      mu:    {prior: flat, start: 1.0}

The expected counts in universe ``k`` are

    expected[k] = sum_t  scale_t * R[k] @ (template_t  or  template_t @ flux[k])

with ``R[k]`` the response matrix of universe ``k`` (the identity for templates with
``space: reco``, which are already in the observed bins) and ``template_t @ flux[k]`` for
templates given ``per_flux`` (shape ``(n_bins, n_flux)``: expected counts per unit flux in each
flux bin, e.g. cross sections per unit exposure). Templates are in truth bins (``space: truth``,
the default with a response) or in the observed bins (``space: reco``, the default without).

Universes: the detector universes of the response and the flux throws are paired one to one
(``treatment: universes``, ReMU's ``combine_systematics="same"``) and marginalised by the
likelihood; with ``treatment: nuisance`` the flux is a continuous parameter with the throws'
multivariate normal as its constraint (:class:`~bayesfit.likelihood.ThrowConstraint`) and only
the detector universes are marginalised. Components sharing a scale are summed.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np

from bayesfit.analysis.arrays import read_array
from bayesfit.analysis.build import Analysis, build_binning, located
from bayesfit.analysis.spec import AnalysisSpec
from bayesfit.binning import Binning
from bayesfit.errors import AnalysisFileError
from bayesfit.likelihood import ThrowConstraint
from bayesfit.predictors import (
    FluxTemplatePredictor,
    MatrixPredictor,
    Predictor,
    ResponseMatrix,
    SplitParameter,
)

__all__ = ["Template", "TemplateAnalysis"]


class Template(NamedTuple):
    """One component of a template analysis, in the observed bins.

    Attributes
    ----------
    scale:
        Name of the parameter that scales it.
    constant:
        ``(K_d, n_bins)`` expected counts at scale 1 that do not depend on the flux, ``K_d`` the
        detector universes of the response (1 for a template in reco bins or without a response).
    per_flux:
        ``(K_d, n_bins, n_flux)`` expected counts at scale 1 per unit flux in each flux bin (zeros
        for a template without ``per_flux``), or ``None`` in an analysis without a flux.
    """

    scale: str
    constant: np.ndarray
    per_flux: np.ndarray | None


class TemplateAnalysis(Analysis):
    """Observed counts and templates (see the module docstring for the file format).

    Attributes
    ----------
    response:
        The :class:`~bayesfit.predictors.ResponseMatrix` (``K`` detector universes), or ``None``.
    flux_throws:
        ``(K, n_flux)`` flux throws, or ``None``.
    flux_treatment:
        ``"universes"`` or ``"nuisance"`` (``None`` without a flux).
    templates:
        ``{component: Template}`` folded into the observed bins.
    """

    def __init__(self, spec: AnalysisSpec) -> None:
        self.spec = spec
        with located(spec, "binning"):
            self.binning = (
                Binning.from_yaml(spec.binning["path"]) if "path" in spec.binning else build_binning(spec.binning)
            )
        self._observed = self._counts()
        self.response = self._response()
        flux = dict(spec.flux or {})
        self.flux_throws = self._flux_throws() if flux else None
        self.flux_treatment = flux.get("treatment", "universes") if flux else None
        self.templates = {name: self._template(name, settings) for name, settings in spec.components.items()}
        self.scales = list(dict.fromkeys(template.scale for template in self.templates.values()))
        self.constraints = []
        if self.flux_treatment == "nuisance":
            with located(spec, "flux", "throws"):
                self.constraints = [ThrowConstraint("flux", self.flux_throws)]
        with located(spec, "components"):
            predictor = SplitParameter(self._vector_predictor(), "weights", self.scales, name=self.name)
        self.predictor = self._checked_parameters(predictor)

    # ------------------------------------------------------------------ inputs
    def _counts(self) -> np.ndarray:
        counts = read_array(self.spec.observed, self.spec.where, "observed", binning=self.binning)
        if counts.shape != (self.binning.size,):
            raise AnalysisFileError(
                f"{self.spec.where('observed')}: observed counts have shape {counts.shape}, the binning has "
                f"{self.binning.size} bins"
            )
        if np.any(counts < 0):
            raise AnalysisFileError(f"{self.spec.where('observed')}: observed counts must be non-negative")
        return counts

    def _response(self) -> ResponseMatrix | None:
        settings = self.spec.response
        if settings is None:
            return None
        with located(self.spec, "response"):
            if "path" in settings:
                if not settings["path"].exists():
                    raise AnalysisFileError(
                        f"{self.spec.where('response', 'path')}: file {str(settings['path'])!r} does not exist"
                    )
                response = ResponseMatrix.from_remu_npz(settings["path"])
            else:
                matrices = read_array(
                    settings["matrices"], self.spec.where, "response", "matrices", binning=self.binning, flatten=False
                )
                weights = (
                    read_array(settings["weights"], self.spec.where, "response", "weights")
                    if "weights" in settings else np.ones(matrices.shape[0] if matrices.ndim == 3 else 1)
                )
                response = ResponseMatrix(matrices, weights)
        if response.n_reco != self.binning.size:
            raise AnalysisFileError(
                f"{self.spec.where('response')}: the response matrix has {response.n_reco} reco bins, the "
                f"binning {self.binning.size}"
            )
        return response

    def _flux_throws(self) -> np.ndarray:
        throws = read_array(self.spec.flux["throws"], self.spec.where, "flux", "throws", flatten=False)
        if throws.ndim != 2:
            raise AnalysisFileError(
                f"{self.spec.where('flux', 'throws')}: flux throws must have shape (K, n_flux), got {throws.shape}"
            )
        paired = self.spec.flux.get("treatment", "universes") == "universes"
        if paired and self.response is not None and self.response.n_variations not in (1, throws.shape[0]):
            raise AnalysisFileError(
                f"{self.spec.where('flux', 'throws')}: {throws.shape[0]} flux throws but "
                f"{self.response.n_variations} detector universes: they are paired one to one"
            )
        edges = self.spec.flux.get("edges")
        if edges is not None and len(edges) != throws.shape[1] + 1:
            raise AnalysisFileError(
                f"{self.spec.where('flux', 'edges')}: {len(edges)} edges for {throws.shape[1]} flux bins"
            )
        return throws

    def _template(self, name: str, settings: Mapping[str, Any]) -> Template:
        """The component ``name`` folded into the observed bins, per universe of the response."""
        where = self.spec.where
        if "template" not in settings:
            raise AnalysisFileError(
                f"{where('components', name)}: a template analysis (observed:) takes template components "
                "({template: ARRAY, scale: PARAMETER}), not event weights"
            )
        space = settings.get("space", "truth" if self.response is not None else "reco")
        per_flux = bool(settings.get("per_flux", False))
        values = read_array(
            settings["template"], where, "components", name, "template",
            binning=self.binning if space == "reco" else None, flatten=not per_flux,
        )
        if space == "truth" and self.response is None:
            raise AnalysisFileError(f"{where('components', name, 'space')}: a template in truth bins needs a response matrix (response:); give space: reco for one in the observed bins")
        n_bins = self.response.n_truth if space == "truth" else self.binning.size
        if per_flux and self.flux_throws is None:
            raise AnalysisFileError(f"{where('components', name, 'per_flux')}: a per-flux template needs flux throws (flux:)")
        n_flux = None if self.flux_throws is None else self.flux_throws.shape[1]
        shape = (n_bins, n_flux) if per_flux else (n_bins,)
        if values.shape != shape:
            what = f"{n_bins} {space} bins" + (f" x {n_flux} flux bins" if per_flux else "")
            raise AnalysisFileError(
                f"{where('components', name, 'template')}: the template has shape {values.shape}, expected "
                f"{shape} ({what})"
            )
        if np.any(values < 0):
            raise AnalysisFileError(f"{where('components', name, 'template')}: a template must be non-negative")
        if space == "truth":
            matrices = self.response.matrices  # (K, n_reco, n_truth)
            folded = np.einsum("kij,j...->ki...", matrices, values)
        else:
            folded = values[np.newaxis]
        n_universes = folded.shape[0]
        if not per_flux:
            flux_part = None if n_flux is None else np.zeros((n_universes, self.binning.size, n_flux))
            return Template(settings["scale"], folded, flux_part)
        return Template(settings["scale"], np.zeros(folded.shape[:2]), folded)

    # ------------------------------------------------------------------ the predictor
    @property
    def variation_weights(self) -> np.ndarray:
        """``(K,)`` weights of the universes the likelihood marginalises."""
        n_universes = self._universe_count
        if self.response is not None and self.response.n_variations == n_universes:
            return self.response.weights
        return np.ones(n_universes)

    @property
    def _universe_count(self) -> int:
        detector = 1 if self.response is None else self.response.n_variations
        if self.flux_treatment == "universes":
            return max(detector, self.flux_throws.shape[0])
        return detector

    def _per_universe(self, array: np.ndarray) -> np.ndarray:
        """``array`` with its leading universe axis (1 or ``K``) broadcast to the ``K`` universes."""
        return np.broadcast_to(array, (self._universe_count, *array.shape[1:]))

    def _vector_predictor(self) -> Predictor:
        """Expected counts of the weight vector ``weights``, one entry per scale (components that
        share a scale summed)."""
        groups = [[t for t in self.templates.values() if t.scale == scale] for scale in self.scales]
        constant = np.stack([sum(self._per_universe(t.constant) for t in group) for group in groups], axis=-1)
        if self.flux_throws is None:
            return MatrixPredictor(
                constant, variation_weights=self.variation_weights, parameter="weights", default=1.0,
                name=self.name, labels=self.scales, dim="template",
            )
        per_flux = np.stack([sum(self._per_universe(t.per_flux) for t in group) for group in groups], axis=-2)
        if self.flux_treatment == "nuisance":
            return FluxTemplatePredictor(
                per_flux, constant, labels=self.scales, variation_weights=self.variation_weights,
                nominal_flux=self.flux_throws.mean(axis=0), name=self.name,
            )
        matrix = constant + np.einsum("kise,ke->kis", per_flux, self.flux_throws)
        return MatrixPredictor(
            matrix, variation_weights=self.variation_weights, parameter="weights", default=1.0,
            name=self.name, labels=self.scales, dim="template",
        )

    # ------------------------------------------------------------------ Analysis
    @property
    def observed(self) -> np.ndarray:
        return self._observed

    def data_summary(self) -> dict[str, Any]:
        return {
            "events": float(self.observed.sum()),
            "bins": int(self.binning.size),
            "universes": int(self._universe_count),
            "response": self.response is not None,
            "flux": self.flux_treatment,
            "likelihood": self.spec.likelihood,
        }

    def component_expected(self, values: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Each component at ``values``, averaged over the universes with their weights.

        ``values`` are a point of the model's free variables (e.g. a fit's ``values``; a flux
        nuisance is given by its throw components).
        """
        point = {**self._fixed_values(), **self.model.predictor_values(values)}
        probabilities = self.variation_weights / self.variation_weights.sum()
        expected = {}
        for name, template in self.templates.items():
            counts = self._per_universe(template.constant)
            if self.flux_treatment == "nuisance":
                counts = counts + self._per_universe(template.per_flux) @ np.asarray(point["flux"], dtype=float)
            elif self.flux_throws is not None:
                counts = counts + np.einsum("kie,ke->ki", self._per_universe(template.per_flux), self.flux_throws)
            expected[name] = float(point[template.scale]) * (probabilities @ counts)
        return expected

    @cached_property
    def _flux_edges(self) -> np.ndarray:
        edges = self.spec.flux.get("edges")
        return np.arange(self.flux_throws.shape[1] + 1.0) if edges is None else np.asarray(edges, dtype=float)

    def input_figures(self) -> dict[str, Any]:
        """The flux throws: median and 68%/95% bands per flux bin (when the analysis has a flux)."""
        if self.flux_throws is None:
            return {}
        from bayesfit.plots import plot_throw_band

        name, unit = self.spec.flux.get("label", "flux bin"), self.spec.flux.get("unit")
        ax = plot_throw_band(self._flux_edges, self.flux_throws, xlabel=f"{name} [{unit}]" if unit else name,
                             ylabel=self.spec.flux.get("throws_label", "flux"), label="flux throws")
        return {"flux": ax.figure}

    def __repr__(self) -> str:
        return (
            f"<TemplateAnalysis {self.name!r}: {self.binning.size} bins, {int(self.observed.sum())} observed events, "
            f"{len(self.templates)} templates, {self._universe_count} universes, parameters "
            f"{list(self.predictor.parameter_names)}>"
        )
