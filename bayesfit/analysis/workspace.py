"""A pyhf workspace as the model of an analysis file.

.. code-block:: yaml

    name: ttbar
    workspace: {path: workspace.json, patches: [signal.json], measurement: NormalMeasurement}
    parameters:                     # optional: priors of free parameters, fixed values
      mu_ttbar: {prior: {HalfNormal: {sigma: 5}}}
    likelihood: effective           # optional: staterror/shapesys replaced by a finite-MC likelihood
    inference: {upper_limit: {level: 0.95}}

The workspace (patched in order, ``PATCHSET.json:NAME`` for one patch of a patchset) becomes a
:class:`~bayesfit.model.BinnedModel` with :func:`~bayesfit.histfactory.build_model`; the file's
``poi`` replaces the measurement's.

With ``patchset: PATCHSET.json`` the workspace is the background of a pyhf patchset of signal
hypotheses (its digests are checked): the run computes the ``inference.upper_limit`` of every
patch (or of the subset ``patchset_names``) with :func:`~bayesfit.inference.limit_scan`, and the
model of the fit, the figures and the sampling is that of the first of those patches. ``bayesfit run WORKSPACE.json`` reads a bare workspace as the
two-line file ``name: <stem>`` / ``workspace: {path: WORKSPACE.json}`` with the 95% CLs and
credible upper limits of the POI (:func:`~bayesfit.analysis.spec.workspace_document`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np

from bayesfit.analysis.build import Analysis, located
from bayesfit.analysis.spec import AnalysisSpec
from bayesfit.errors import AnalysisFileError

__all__ = ["WorkspaceAnalysis"]


class WorkspaceAnalysis(Analysis):
    """The model of a pyhf workspace measurement, with the file's priors, fixed values and POI.

    Attributes
    ----------
    workspace:
        The patched :class:`~bayesfit.histfactory.Workspace`.
    """

    binning = None

    def __init__(self, spec: AnalysisSpec) -> None:
        from bayesfit.histfactory import PatchsetHypotheses, build_model, read_patched_workspace

        self.spec = spec
        settings = dict(spec.workspace or {})
        self.hypotheses = None
        with located(spec, "workspace"):
            self.workspace = read_patched_workspace(settings["path"], settings.get("patches", ()))
            self.measurement = self.workspace.measurement(settings.get("measurement"))["name"]
        codes = {key: settings[key] for key in ("normsys_code", "histosys_code") if key in settings}
        if "patchset" in settings:  # the model is that of the first patch; the limits are of every patch
            with located(spec, "workspace", "patchset"):
                self.hypotheses = PatchsetHypotheses(
                    self.workspace, settings["patchset"], measurement=self.measurement, fixed=self._fixed_values(),
                    poi=spec.poi, priors=_free_priors(spec.parameters), likelihood=spec.likelihood, **codes,
                )
                names = list(settings.get("patchset_names", self.hypotheses.names))
                missing = [name for name in names if name not in self.hypotheses.names]
                if missing:
                    raise AnalysisFileError(f"{spec.where('workspace', 'patchset_names')}: no patches named {missing}; "
                                            f"the patchset has {len(self.hypotheses.names)}, e.g. {self.hypotheses.names[:3]}")
                self.patch_names = names
                self.workspace = self.hypotheses.patchset.apply(self.workspace, names[0])
        parameters = dict(spec.parameters)
        if spec.is_channel:  # the shared parameters this workspace has; their starts and bounds
            own = self.parameter_names  # apply to the combination (bayesfit.analysis.channels)
            parameters = {name: p for name, p in parameters.items() if name in own}
        else:
            for name, parameter in parameters.items():
                if name.split("[", 1)[0] not in self.parameter_names:
                    raise AnalysisFileError(
                        f"{spec.where('parameters', name)}: {name!r} is not a parameter of the workspace; "
                        f"its parameters: {self.workspace.parameter_names}"
                    )
                if parameter.start is not None and not parameter.fixed or parameter.bounds != (None, None):
                    raise AnalysisFileError(
                        f"{spec.where('parameters', name)}: starts and bounds of a workspace parameter are set in "
                        "the workspace's measurement (parameters: inits, bounds); here give a prior or fix it"
                    )
        free_priors = _free_priors(parameters)
        with located(spec, "parameters"):
            model = build_model(
                self.workspace, self.measurement, priors=free_priors, likelihood=spec.likelihood, **codes
            )
            fixed = {name: value for name, value in self._fixed_values().items() if name in parameters}
            self._model = model.fixed_at(fixed) if fixed else model
        poi = spec.poi if not spec.is_channel or spec.poi in self.parameter_names else None  # else another channel's
        if poi is not None:
            with located(spec, "poi"):
                self._model = self._model.replace(poi=poi)
        self.predictor = self._model.predictor
        self.constraints = self._model.constraints

    @property
    def used_parameters(self) -> frozenset[str]:
        return self.parameter_names

    @cached_property
    def parameter_names(self) -> frozenset[str]:
        """The names of the workspace's parameters (of its modifiers)."""
        return frozenset(self.workspace.parameter_names)

    @cached_property
    def model(self) -> Any:
        """The workspace's :class:`~bayesfit.model.BinnedModel`."""
        return self._model

    @property
    def observed(self) -> np.ndarray:
        return self._model.observed

    def data_summary(self) -> dict[str, Any]:
        return {
            "events": float(self.observed.sum()),
            "workspace": str(self.spec.workspace["path"]),
            "measurement": self.measurement,
            "channels": list(self.workspace.channel_names),
            "patches": list(self.spec.workspace.get("patches", [])),
            **({} if self.hypotheses is None else {"patchset": str(self.spec.workspace["patchset"]),
                                                   "patchset_patches": len(self.patch_names)}),
            "likelihood": self.spec.likelihood,
        }

    def patchset_limits(self, **options: Any) -> Any:
        """The limits of the patchset's patches (``patchset_names`` of the file, else all): options of
        :func:`~bayesfit.inference.limit_scan`; ``None`` without a patchset."""
        from bayesfit.inference.limit_scan import limit_scan

        if self.hypotheses is None:
            return None
        with located(self.spec, "poi"):
            return limit_scan(self.hypotheses, names=self.patch_names, **options)

    def component_expected(self, values: Mapping[str, Any]) -> dict[str, np.ndarray]:
        from bayesfit.histfactory.plots import sample_rates

        (rates,) = sample_rates(self._model, [values])
        samples = self.predictor.layout.sample_names
        return {name: rates[index] for index, name in enumerate(samples)}

    def figures(self, best_fit: Any, idata: Any, start: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Pre- and post-fit counts per channel, with the posterior-predictive band when sampled."""
        from bayesfit.histfactory.plots import channel_figures, sample_rates

        model = self._model
        pre_fit, post_fit = sample_rates(model, [model.start_point() if start is None else start, best_fit.values])
        band = None
        if idata is not None:
            counts = idata.posterior_predictive["counts"].values.reshape(-1, model.predictor.n_out)
            band = tuple(np.quantile(counts, [0.16, 0.84], axis=0))
        return {f"{name}.png": figure for name, figure in channel_figures(model, pre_fit, post_fit, band).items()}

    def __repr__(self) -> str:
        return (
            f"<WorkspaceAnalysis {self.name!r}: measurement {self.measurement!r}, {self.predictor.n_out} bins, "
            f"{sum(v.size for v in self._model.parameters)} parameters, POI {self._model.poi!r}>"
        )


def _free_priors(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The priors the file gives free parameters (flat ones are the default)."""
    return {name: p.prior for name, p in parameters.items() if not p.fixed and p.prior != "flat"}
