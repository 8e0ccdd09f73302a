"""Several channels (data sets with their own binning and model source) in one model.

.. code-block:: yaml

    name: combined
    channels:
      counting:                       # a pyhf workspace
        workspace: {path: inputs/combined/counting.json}
      spectrum:                       # reweighted Monte Carlo in its own binning
        binning: {energy: {log10: {start: 1.0e3, stop: 1.0e6, bins: 12}}}
        data:       {path: inputs/combined/data.csv}
        simulation: {path: inputs/combined/simulation.csv}
        components:
          signal:     {weight: signal_weight, scale: mu}
          background: {weight: background_weight, scale: background_norm}
    parameters:                       # shared by every channel: mu is the workspace's POI too
      mu:              {prior: {HalfNormal: {sigma: 5}}, start: 1.0}
      background_norm: {prior: flat, start: 1.0, bounds: [0, 10]}
    poi: mu
    inference: {...}

Each channel is a block with what a single-channel file has (``binning`` with ``data``,
``simulation`` and ``components``; or ``observed``, ``response``, ``flux`` and ``components``; or
a ``workspace``), built as that file with the shared ``parameters``, ``likelihood``, ``poi`` and
``systematics``. The combination is one :class:`~bayesfit.model.BinnedModel`:

- the predictor is the :class:`~bayesfit.predictors.ConcatenatedPredictor` of the channels' (bins
  in the order of ``channels:``), the observed counts concatenated;
- parameters of the same name are one parameter (e.g. a signal strength measured by every
  channel); its support and bounds are the intersection of the channels' (and the file's);
- its start is the file's ``start``, else the channels' (a workspace's measurement ``inits``),
  which must then agree; an entry fixed by a channel (a file's ``fixed: true``, a measurement's
  ``fixed``) is fixed in the combination, at one value;
- the constraints (auxiliary measurements) of every channel are kept; a constraint of the same
  entries given by two channels (e.g. a luminosity shared by two workspaces) counts once if the
  two are identical, and is an error otherwise;
- the POI is the file's ``poi``, else the one POI of the channels' (a workspace's measurement).

Universes (detector variations, flux throws) of the channels: with at most one channel that has
``K > 1`` universes the combination marginalises that channel's universes (the other channels
are the same in every universe), the same as a product of per-channel marginals. With two or
more varying channels the file must say what the universes are, ``systematics: {combine: ...}``:

``same``
    universe ``k`` of every channel is the same variation (one detector simulation seen in every
    channel, e.g. one set of detector throws applied to every sample): the channels' ``K`` and
    universe weights must be equal, and the likelihood marginalises the ``K`` joint universes.
``cartesian``
    the channels' universes are independent: the likelihood marginalises every combination
    (``K = K_1 K_2 ...``, at most :data:`MAX_CARTESIAN_UNIVERSES`), which equals the product of
    the per-channel marginal likelihoods.

Figures are per channel (file names prefixed ``<channel>_``): each channel's counts pre/post fit
with its components and posterior-predictive band; ``summary.json``'s ``data`` has a
``channels`` entry with each channel's data summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from bayesfit.analysis.build import Analysis, _as_bounds, located
from bayesfit.analysis.spec import AnalysisSpec
from bayesfit.errors import AnalysisFileError
from bayesfit.predictors import ConcatenatedPredictor

__all__ = ["MAX_CARTESIAN_UNIVERSES", "ChannelsAnalysis"]

#: The most universes a ``cartesian`` combination may have (each is a full evaluation of the bins).
MAX_CARTESIAN_UNIVERSES = 10_000


class _ChannelFit(NamedTuple):
    """A fit's values and errors restricted to one channel's variables (for its figures)."""

    values: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]


class ChannelsAnalysis(Analysis):
    """Channels of any source kind combined into one model (see the module docstring).

    Attributes
    ----------
    channels:
        ``{name: Analysis}`` of each channel, in file order.
    combine:
        How the channels' universes combine (``"same"`` or ``"cartesian"``).
    bins:
        ``{name: slice}``: each channel's bins in the combined counts.
    model:
        The combined :class:`~bayesfit.model.BinnedModel`.
    """

    binning = None

    def __init__(self, spec: AnalysisSpec) -> None:
        self.spec = spec
        self.channels: dict[str, Analysis] = {name: Analysis(channel) for name, channel in spec.channels.items()}
        self._check_parameters_used()
        self.combine = self._combine()
        models = [channel.model for channel in self.channels.values()]
        with located(spec, "channels"):
            self.predictor = ConcatenatedPredictor(
                [model.predictor for model in models], combine=self.combine, name=spec.name, supports="intersect"
            )
        self.bins = dict(zip(self.channels, self.predictor.output_slices))
        self.constraints = self._constraints()
        self.model = self._combined_model()  # replaces the cached property of single-channel analyses

    # ------------------------------------------------------------------ combination
    def _check_parameters_used(self) -> None:
        used = set().union(*(channel.used_parameters for channel in self.channels.values()))
        for name in self.spec.parameters:
            if name not in used:
                raise AnalysisFileError(
                    f"{self.spec.where('parameters', name)}: parameter {name!r} is not used by any channel; "
                    f"the channels use {sorted(used)}"
                )

    def _combine(self) -> str:
        """The universes' combination (see the module docstring), or a clear error."""
        counts = {name: channel.model.predictor.n_variations for name, channel in self.channels.items()}
        varying = {name: count for name, count in counts.items() if count > 1}
        listing = ", ".join(f"{name!r} has K = {count}" for name, count in varying.items())
        if len(varying) <= 1:
            return self.spec.combine or "same"  # one varying channel: both readings are the same
        if self.spec.combine is None:
            raise AnalysisFileError(
                f"{self.spec.where('channels')}: several channels have universes ({listing}): say how they "
                "combine with systematics: {combine: same} (universe k is the same variation in every channel; "
                "equal K) or {combine: cartesian} (independent universes, every combination)"
            )
        if self.spec.combine == "same":
            weights = [self.channels[name].model.predictor.variation_weights for name in varying]
            if len(set(varying.values())) > 1 or not all(
                np.allclose(w / w.sum(), weights[0] / weights[0].sum()) for w in weights
            ):
                raise AnalysisFileError(
                    f"{self.spec.where('systematics', 'combine')}: combine: same pairs universe k of every channel, "
                    f"but the channels' universes differ in number or weights ({listing}); use combine: cartesian "
                    "for independent universes"
                )
        elif np.prod(list(varying.values()), dtype=float) > MAX_CARTESIAN_UNIVERSES:
            raise AnalysisFileError(
                f"{self.spec.where('systematics', 'combine')}: combine: cartesian gives "
                f"{int(np.prod(list(varying.values()), dtype=float))} universes ({listing}), more than "
                f"{MAX_CARTESIAN_UNIVERSES}: use fewer universes, or combine: same if they are the same variations"
            )
        return self.spec.combine

    def _constraints(self) -> list[Any]:
        """Every channel's constraints; one of identical constraints of the same variable."""
        kept: dict[str, tuple[str, Any]] = {}
        constraints = []
        for name, channel in self.channels.items():
            for constraint in channel.model.constraints:
                if constraint.variable in kept:
                    other, first = kept[constraint.variable]
                    if not _same_constraint(first, constraint):
                        raise AnalysisFileError(
                            f"{self.spec.where('channels', name)}: channels {other!r} and {name!r} constrain "
                            f"{constraint.variable!r} by different auxiliary measurements ({first} and {constraint}); "
                            "a shared parameter has one constraint"
                        )
                    continue
                kept[constraint.variable] = (name, constraint)
                constraints.append(constraint)
        return constraints

    def _combined_model(self) -> Any:
        from bayesfit.model import BinnedModel

        starts: dict[str, tuple[str, np.ndarray]] = {}
        bounds: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        fixed: dict[str, tuple[str, float]] = {}
        for name, channel in self.channels.items():
            for variable in channel.model.parameters:
                self._merge_start(starts, name, variable)
                lower, upper = bounds.get(variable.name, (variable.lower, variable.upper))
                bounds[variable.name] = (np.maximum(lower, variable.lower), np.minimum(upper, variable.upper))
                for label, value, free in zip(variable.labels, np.ravel(variable.start), np.ravel(variable.free)):
                    if free:
                        continue
                    if label in fixed and fixed[label][1] != value:
                        raise AnalysisFileError(
                            f"{self.spec.where('channels', name)}: {label!r} is fixed at {fixed[label][1]:g} by channel "
                            f"{fixed[label][0]!r} and at {value:g} by {name!r}"
                        )
                    fixed[label] = (name, float(value))
        for name, parameter in self.spec.parameters.items():
            if name in bounds and not parameter.fixed:
                lower, upper = _as_bounds(parameter.bounds)
                bounds[name] = (np.maximum(bounds[name][0], lower), np.minimum(bounds[name][1], upper))
        priors = {p.name: p.prior for p in self.spec.parameters.values() if not p.fixed and p.prior != "flat"}
        models = [channel.model for channel in self.channels.values()]
        with located(self.spec, "parameters"):
            return BinnedModel(
                self.predictor,
                np.concatenate([model.observed for model in models]),
                priors=priors,
                likelihood=self.spec.likelihood,
                systematics=None if self.spec.systematics == "none" else self.spec.systematics,
                constraints=self.constraints,
                fixed={label: value for label, (_, value) in fixed.items()},
                starts={variable: start for variable, (_, start) in starts.items()},
                bounds=bounds,
                poi=self._poi(models),
                allow_noninteger=any(model.allow_noninteger for model in models),
            )

    def _merge_start(self, starts: dict[str, tuple[str, np.ndarray]], channel: str, variable: Any) -> None:
        """The start of ``variable``: the file's, else the channels', which must agree."""
        declared = self.spec.parameters.get(variable.name)
        if declared is not None and declared.start is not None and not declared.fixed:
            starts[variable.name] = ("parameters", np.broadcast_to(np.asarray(declared.start, dtype=float), variable.shape))
            return
        if variable.name in starts and not np.allclose(starts[variable.name][1], variable.start):
            raise AnalysisFileError(
                f"{self.spec.where('parameters')}: channels {starts[variable.name][0]!r} and {channel!r} start "
                f"{variable.name!r} at {starts[variable.name][1]} and {variable.start}: give it a start under parameters"
            )
        starts.setdefault(variable.name, (channel, variable.start))

    def _poi(self, models: Sequence[Any]) -> str | None:
        if self.spec.poi is not None:
            return self.spec.poi
        pois = sorted({model.poi for model in models if model.poi is not None})
        if len(pois) > 1:
            raise AnalysisFileError(
                f"{self.spec.where('channels')}: the channels have different parameters of interest {pois}: "
                "choose one with poi:"
            )
        return pois[0] if pois else None

    # ------------------------------------------------------------------ Analysis
    @property
    def used_parameters(self) -> frozenset[str]:
        return frozenset().union(*(channel.used_parameters for channel in self.channels.values()))

    @property
    def observed(self) -> np.ndarray:
        return self.model.observed

    def data_summary(self) -> dict[str, Any]:
        return {
            "events": float(self.observed.sum()),
            "bins": int(self.predictor.n_out),
            "universes": int(self.predictor.n_variations),
            "combine": self.combine,
            "likelihood": self.spec.likelihood,
            "channels": {
                name: {**channel.data_summary(), "bins": [self.bins[name].start, self.bins[name].stop]}
                for name, channel in self.channels.items()
            },
        }

    def _channel_point(self, channel: Analysis, point: Mapping[str, Any]) -> dict[str, Any]:
        names = {variable.name for variable in channel.model.variables}
        return {name: value for name, value in point.items() if name in names}

    def component_expected(self, values: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """``{"<channel>/<component>": (n_bins,)}``: each channel's components in the combined bins
        (zero outside the channel's)."""
        expected = {}
        for name, channel in self.channels.items():
            for component, counts in channel.component_expected(self._channel_point(channel, values)).items():
                full = np.zeros(self.predictor.n_out)
                full[self.bins[name]] = counts
                expected[f"{name}/{component}"] = full
        return expected

    def figures(self, best_fit: Any, idata: Any, start: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Each channel's figures (pre/post-fit counts, its inputs), named ``<channel>_<figure>``;
        pre-fit is at ``start`` (default the combined model's start values)."""
        figures = {}
        start = self.model.start_point() if start is None else start
        for name, channel in self.channels.items():
            fit = _ChannelFit(self._channel_point(channel, best_fit.values), self._channel_point(channel, best_fit.errors))
            own = None
            if idata is not None and "posterior_predictive" in idata.groups():
                own = idata.isel(bins=self.bins[name])
            drawn = channel.figures(fit, own, self._channel_point(channel, start))
            figures.update({f"{name}_{file}": figure for file, figure in drawn.items()})
        return figures

    def __repr__(self) -> str:
        kinds = ", ".join(f"{name}: {type(channel).__name__}" for name, channel in self.channels.items())
        return (
            f"<ChannelsAnalysis {self.name!r}: {len(self.channels)} channels ({kinds}), {self.predictor.n_out} bins, "
            f"parameters {list(self.predictor.parameter_names)}, POI {self.model.poi!r}>"
        )


def _same_constraint(first: Any, second: Any) -> bool:
    """Whether two constraints are the same auxiliary measurement (same kind, data and settings)."""
    if type(first) is not type(second) or set(vars(first)) != set(vars(second)):
        return False
    for key, value in vars(first).items():
        other = vars(second)[key]
        if isinstance(value, np.ndarray) or isinstance(other, np.ndarray):
            if value is None or other is None or np.shape(value) != np.shape(other) or not np.array_equal(value, other):
                return False
        elif value != other:
            return False
    return True
