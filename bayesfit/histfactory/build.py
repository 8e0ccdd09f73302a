"""A workspace measurement as a :class:`~bayesfit.model.BinnedModel`: predictor, constraints, priors.

:func:`build_model` reads a workspace (a :class:`Workspace`, a dict or a JSON file), applies the
measurement's parameter configurations and returns the one model type of bayesfit, so that every
inference of :mod:`bayesfit.inference` (fits, profiles, ``hypotest`` and ``upper_limit``, toys,
NUTS, SMC evidences and Bayes factors) works on workspaces as on any other model.

The pieces:

* :class:`HistFactoryPredictor`: the expected main-bin counts ``(1, n_bins)`` from one parameter
  per parameter set (scalar, or a vector with one entry per bin), names sorted as pyhf does;
* constraints (auxiliary measurements): a
  :class:`~bayesfit.likelihood.constraints.GaussianConstraint` ``Normal(a | theta, sigma)`` per
  normsys, histosys, lumi and staterror parameter, a
  :class:`~bayesfit.likelihood.constraints.PoissonConstraint` ``Poisson(tau | tau * gamma)`` per
  shapesys parameter (``tau = (nominal / uncertainty)^2``). Entries with zero uncertainty, and the
  parameters the measurement marks ``fixed``, are held fixed; their constraint terms stay in the
  likelihood (a constant, as in pyhf), so ``-2 ln L`` equals pyhf's ``twice_nll``;
* per-entry bounds and starts from the measurement (``bounds``, ``inits``), the measurement's POI;
* the Bayesian reading: every constraint becomes the prior of its entries (``Normal(a, sigma)``,
  ``Gamma(tau + 1, tau)``, truncated to the bounds); free normalisations (normfactor,
  shapefactor) are flat on their (finite) bounds unless ``priors`` chooses another prior.

``likelihood="effective"`` or ``"barlow-beeston-lite"`` replaces the staterror and shapesys
constraints by a finite-MC-statistics likelihood of the main bins (see :func:`build_model` and
``docs/histfactory.md``).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytensor.tensor as pt

from bayesfit.errors import PredictorError, WorkspaceError
from bayesfit.histfactory.modifiers import ModifierLayout, ParameterSet, build_layout
from bayesfit.histfactory.workspace import Workspace, load_workspace
from bayesfit.likelihood.constraints import Constraint, GaussianConstraint, PoissonConstraint
from bayesfit.model import BinnedModel
from bayesfit.predictors.base import Parameter, Predictor, TensorLike

__all__ = ["FINITE_MC_LIKELIHOODS", "MC_MODIFIERS", "HistFactoryPredictor", "build_model", "relative_mc_uncertainty"]

logger = logging.getLogger(__name__)

#: Likelihoods that replace the staterror and shapesys constraints (see :func:`build_model`).
FINITE_MC_LIKELIHOODS = ("effective", "barlow-beeston-lite")
#: Modifier types whose data are Monte Carlo uncertainties of a sample.
MC_MODIFIERS = ("staterror", "shapesys")


class HistFactoryPredictor(Predictor):
    """The expected main-bin counts of a workspace, ``(1, n_bins)``; one parameter per set.

    Parameters are named and ordered as the layout's parameter sets (sorted by name): scalars for
    normfactor, normsys, histosys and lumi, vectors ``(n,)`` for staterror, shapesys and
    shapefactor. Bins follow the channels sorted by name.

    Parameters
    ----------
    layout:
        The modifier layout of the workspace (:func:`~bayesfit.histfactory.modifiers.build_layout`).
    relative_uncertainty:
        ``(n_samples, n_bins)``: relative Monte Carlo uncertainty of each sample per bin; when
        given, :meth:`expected_sumw2` is ``sum_s (relative_sb * nu_sb)^2`` (for the finite-MC
        likelihoods), else ``None``.
    """

    def __init__(self, layout: ModifierLayout, name: str = "histfactory",
                 relative_uncertainty: np.ndarray | None = None) -> None:
        self.name = name
        self.layout = layout
        self.parameters = tuple(_as_parameter(p) for p in layout.parameter_sets)
        self.n_out = layout.n_bins
        self.variation_weights = np.ones(1)
        if relative_uncertainty is not None:
            relative_uncertainty = np.asarray(relative_uncertainty, dtype=float)
            if relative_uncertainty.shape != layout.nominal.shape:
                raise PredictorError(
                    f"{name}: relative_uncertainty has shape {relative_uncertainty.shape}, "
                    f"expected {layout.nominal.shape} (samples, bins)"
                )
        self.relative_uncertainty = relative_uncertainty

    @property
    def channel_slices(self) -> dict[str, slice]:
        """Bins of each channel (sorted by name) in the output."""
        return self.layout.channel_slices

    @property
    def sample_names(self) -> list[str]:
        """Rows of :meth:`expected_by_sample`."""
        return self.layout.sample_names

    def flat_vector(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        """Concatenate named parameter tensors into the flat vector of the layout."""
        missing = [p.name for p in self.parameters if p.name not in params]
        if missing:
            raise PredictorError(f"{self.name}: missing parameter(s) {missing}")
        return pt.concatenate([pt.as_tensor_variable(params[p.name]).reshape((p.size,)) for p in self.parameters])

    def expected_by_sample(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        """Expected rates per sample and bin, ``(n_samples, n_bins)``."""
        return self.layout.expected_by_sample(self.flat_vector(params))

    def expected(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        return self.expected_by_sample(params).sum(axis=0)[None, :]

    def expected_sumw2(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable | None:
        """``sum_s (relative_sb * nu_sb)^2`` per bin, ``(1, n_bins)``: each sample's Monte Carlo
        uncertainty scales with its expected rate; ``None`` without relative uncertainties."""
        if self.relative_uncertainty is None:
            return None
        rates = self.expected_by_sample(params)
        return pt.sum((self.relative_uncertainty * rates) ** 2, axis=0)[None, :]

    def rates_by_sample(self, values: Mapping[str, Any]) -> np.ndarray:
        """:meth:`expected_by_sample` as numpy at parameter ``values`` (missing: defaults),
        ``(n_samples, n_bins)``; compiled once."""
        checked = self.check_values(values)
        function = self._compiled("expected_by_sample")
        return np.asarray(function(*(checked[name] for name in self.parameter_names)))


def _as_parameter(parameter_set: ParameterSet) -> Parameter:
    """The predictor parameter of a set: its support spans every entry's bounds (per-entry
    bounds are the model's); a fixed parameter configured with equal bounds gets room around them."""
    lower = float(parameter_set.bounds[:, 0].min())
    upper = float(parameter_set.bounds[:, 1].max())
    if not lower < upper:
        lower, upper = lower - 1.0, upper + 1.0
    shape = () if parameter_set.is_scalar else (parameter_set.size,)
    default = parameter_set.inits[0] if parameter_set.is_scalar else parameter_set.inits
    return Parameter(parameter_set.name, shape, lower, upper, default)


# ---------------------------------------------------------------------- measurement configuration
_CONFIGURABLE = {
    None: ("inits", "bounds"),
    "normal": ("inits", "bounds", "auxdata", "sigmas"),
    "poisson": ("inits", "bounds", "auxdata", "factors"),
}


def _apply_configs(layout: ModifierLayout, configs: list[dict[str, Any]], path: str, declared: list[str]) -> None:
    """Override parameter defaults with the measurement's parameter configurations (in place);
    ``declared`` are the names the workspace's modifiers declare (some may be dropped from the layout)."""
    by_name = {p.name: p for p in layout.parameter_sets}
    for index, config in enumerate(configs):
        parameter = by_name.get(config["name"])
        if parameter is None:  # configuration of a pruned (or dropped) parameter: pyhf ignores it too
            if config["name"] not in declared:
                logger.warning("%s[%d]: no parameter %r in the channels; its configuration is ignored",
                               path, index, config["name"])
            continue
        where = f"{path}[{index}]"
        for key in ("inits", "auxdata", "sigmas", "factors", "bounds"):
            if key not in config:
                continue
            if key not in _CONFIGURABLE[parameter.constraint]:
                raise WorkspaceError(f"{where}.{key}: parameter {parameter.name!r} ({parameter.kind}) takes no {key}")
            value = np.asarray(config[key], dtype=float)
            if len(value) != parameter.size:
                raise WorkspaceError(
                    f"{where}.{key}: {len(value)} value(s) for parameter {parameter.name!r}, expected {parameter.size}"
                )
            setattr(parameter, key, value)
        if "fixed" in config:
            parameter.fixed = np.full(parameter.size, bool(config["fixed"]))
    for parameter in layout.parameter_sets:
        for key in ("inits", "auxdata", "sigmas", "bounds"):
            value = getattr(parameter, key)
            if value is not None and np.isnan(value).any():
                raise WorkspaceError(
                    f"{path}: {parameter.kind} parameter {parameter.name!r} needs {key} in the measurement's "
                    f"parameter configuration (used at {layout.sources[parameter.name]})"
                )
        for key, kind in (("sigmas", "normal"), ("factors", "poisson")):
            value = getattr(parameter, key)
            if parameter.constraint == kind and not np.all(value > 0):
                raise WorkspaceError(
                    f"{path}: {key} of parameter {parameter.name!r} must be > 0, got {value.tolist()}"
                )


# ---------------------------------------------------------------------- finite Monte Carlo statistics
def relative_mc_uncertainty(spec: Mapping[str, Any], layout: ModifierLayout) -> np.ndarray:
    """Relative Monte Carlo uncertainty of every sample per bin, ``(n_samples, n_bins)``.

    For each sample, the data of its staterror and shapesys modifiers (absolute uncertainties per
    bin) over its nominal rate, added in quadrature when a sample carries several; 0 where a sample
    has none or a zero nominal rate. ``layout`` gives the order of samples and bins (it may be
    built from the workspace without those modifiers: the nominal rates are the same).
    """
    relative_squared = np.zeros_like(layout.nominal)
    sample_index = {name: i for i, name in enumerate(layout.sample_names)}
    for channel in spec["channels"]:
        bins = layout.channel_slices[channel["name"]]
        for sample in channel["samples"]:
            row = sample_index[sample["name"]]
            nominal = np.asarray(sample["data"], dtype=float)
            for modifier in sample["modifiers"]:
                if modifier["type"] not in MC_MODIFIERS:
                    continue
                uncertainty = np.asarray(modifier["data"], dtype=float)
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio = np.where(nominal != 0, uncertainty / np.where(nominal != 0, nominal, 1.0), 0.0)
                relative_squared[row, bins] += ratio**2
    return np.sqrt(relative_squared)


def _without_mc_modifiers(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` without staterror and shapesys modifiers."""
    stripped = copy.deepcopy(dict(spec))
    for channel in stripped["channels"]:
        for sample in channel["samples"]:
            sample["modifiers"] = [m for m in sample["modifiers"] if m["type"] not in MC_MODIFIERS]
    return stripped


# ---------------------------------------------------------------------- the model
def _constraint(parameter: ParameterSet) -> Constraint | None:
    if parameter.constraint == "normal":
        return GaussianConstraint(parameter.name, parameter.auxdata, parameter.sigmas)
    if parameter.constraint == "poisson":
        return PoissonConstraint(parameter.name, parameter.auxdata, parameter.factors)
    return None


def _entry_bounds(parameter: ParameterSet) -> tuple[Any, Any]:
    """``(lower, upper)`` of the set's entries for ``BinnedModel(bounds=...)``: scalars for a
    scalar set, arrays for a vector; a fixed entry with equal bounds is left to the predictor's
    support (fixed entries are not varied)."""
    lower, upper = parameter.bounds[:, 0].copy(), parameter.bounds[:, 1].copy()
    empty = ~(lower < upper)
    lower[empty], upper[empty] = -np.inf, np.inf
    if parameter.is_scalar:
        return float(lower[0]), float(upper[0])
    return lower, upper


def build_model(
    workspace: Workspace | Mapping[str, Any] | str | Path,
    measurement: str | None = None,
    *,
    normsys_code: str = "4",
    histosys_code: str = "4p",
    priors: Mapping[str, Any] | None = None,
    likelihood: str = "poisson",
) -> BinnedModel:
    """The :class:`~bayesfit.model.BinnedModel` of a workspace measurement (see the module docstring).

    Parameters
    ----------
    workspace:
        A :class:`Workspace`, a workspace dict or the path of a JSON file.
    measurement:
        Name of the measurement (default: the first).
    normsys_code, histosys_code:
        Interpolation codes, ``"1"``/``"4"`` and ``"0"``/``"4p"`` (defaults as pyhf: 4 and 4p).
    priors:
        Priors of free (unconstrained) parameters or entries, e.g. ``{"mu": {"Gamma": {"alpha": 1,
        "beta": 0.5}}}`` (any form :func:`bayesfit.priors.as_prior` accepts); the default is flat
        on the bounds. Constrained parameters take their prior from the auxiliary measurement (a
        prior for one is an error).
    likelihood:
        ``"poisson"`` (HistFactory, as pyhf), or ``"effective"`` / ``"barlow-beeston-lite"``: the
        staterror and shapesys modifiers are dropped (no parameters, no constraints) and the main
        bins get that finite-MC likelihood with the sum of squared weights
        ``sumw2_b = sum_s (r_sb * nu_sb)^2``, ``r_sb`` the relative uncertainty of sample ``s`` in
        bin ``b`` from its staterror and shapesys data (:func:`relative_mc_uncertainty`) and
        ``nu_sb`` its expected rate at the parameter point.

    Errors in the workspace or the measurement are :class:`~bayesfit.errors.WorkspaceError` naming
    the JSON path.
    """
    if not isinstance(workspace, Workspace):
        workspace = load_workspace(workspace)
    if likelihood != "poisson" and likelihood not in FINITE_MC_LIKELIHOODS:
        raise WorkspaceError(
            f"likelihood {likelihood!r} is not available for workspaces; choose 'poisson' or one of "
            f"{list(FINITE_MC_LIKELIHOODS)}"
        )
    spec = workspace.spec
    chosen = workspace.measurement(measurement)
    m_index = workspace.measurement_names.index(chosen["name"])
    layout_spec = spec if likelihood == "poisson" else _without_mc_modifiers(spec)
    layout = build_layout(layout_spec, normsys_code, histosys_code)
    _apply_configs(layout, chosen["config"]["parameters"], f"measurements[{m_index}].config.parameters",
                   workspace.parameter_names)
    poi_name = chosen["config"]["poi"]
    by_name = {p.name: p for p in layout.parameter_sets}
    poi = by_name.get(poi_name)
    if poi is None or not poi.is_scalar:
        raise WorkspaceError(
            f"measurements[{m_index}].config.poi: {poi_name!r} is not a scalar parameter of the workspace"
        )
    if poi.fixed.all():
        raise WorkspaceError(f"measurements[{m_index}].config.parameters: the POI {poi_name!r} is fixed")
    relative = None if likelihood == "poisson" else relative_mc_uncertainty(spec, layout)
    predictor = HistFactoryPredictor(layout, relative_uncertainty=relative)

    constraints, fixed, bounds, starts = [], {}, {}, {}
    for parameter in layout.parameter_sets:
        constraint = _constraint(parameter)
        if constraint is not None:
            constraints.append(constraint)
        labels = [parameter.name] if parameter.is_scalar else [f"{parameter.name}[{i}]" for i in range(parameter.size)]
        for label, value, is_fixed in zip(labels, parameter.inits, parameter.fixed):
            if is_fixed:
                fixed[label] = float(value)
        bounds[parameter.name] = _entry_bounds(parameter)
        starts[parameter.name] = float(parameter.inits[0]) if parameter.is_scalar else parameter.inits.copy()

    observed = workspace.observed()
    main = np.concatenate([np.asarray(observed[name], dtype=float) for name in layout.channel_names])
    return BinnedModel(
        predictor,
        main,
        priors=priors,
        likelihood=likelihood,
        constraints=constraints,
        fixed=fixed,
        starts=starts,
        bounds=bounds,
        poi=poi_name,
        allow_noninteger=bool(np.any(main != np.round(main))),
    )
