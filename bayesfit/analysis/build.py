"""From an analysis file to bayesfit objects: binning, events, predictor, model, fits, posteriors.

>>> analysis = Analysis.from_file("models/hese_diffuse.yaml")
>>> result = analysis.fit()            # maximum likelihood, bounds only
>>> idata = analysis.sample(draws=500)  # NUTS with the file's priors

``Analysis(spec)`` builds the kind of analysis the file describes: a
:class:`ReweightedMCAnalysis` (binned data, reweighted simulated events), a
:class:`~bayesfit.analysis.templates.TemplateAnalysis` (observed counts and templates, optionally
folded by a response matrix with detector universes and multiplied by flux throws) or a
:class:`~bayesfit.analysis.workspace.WorkspaceAnalysis` (a pyhf workspace). All offer the same
inference.

Reweighted simulation is compressed into per-bin moments
(:class:`~bayesfit.predictors.CompressedReweightedMCPredictor`, exact to a relative 1e-12) whenever
that is exact over the analysis' own parameter ranges: every free spectrum a power law or a
log-parabola on one energy variable and pivot, every free spectral parameter with a finite range
from its bounds and prior (e.g. ``Uniform(1.5, 4.5)``), which the compression then keeps as it
is. Spectra whose parameters are all fixed are folded into the event weights. Otherwise, or with
``simulation: {..., compress: false}``, the exact per-event predictor is used; the choice and its
reason are logged (INFO, logger ``bayesfit.analysis.build``). The compression never narrows a
parameter: a spectral index without a finite range is not given one.

Problems found while building (a binning that cannot be made, a parameter no component uses, a
missing events file) are reported as :class:`~bayesfit.errors.AnalysisFileError` naming the file,
line and key they come from.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Collection, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from bayesfit.analysis.spec import AnalysisSpec, EventSource, read_analysis
from bayesfit.binning import (
    Binning,
    CategoryAxis,
    CosAxis,
    Histogram,
    Log10Axis,
    RectilinearBinning,
    RegularAxis,
    VariableAxis,
)
from bayesfit.errors import AnalysisFileError, BayesfitError, BinningError, InferenceError, PredictorError
from bayesfit.events import Events, load_events
from bayesfit.expressions import Expression
from bayesfit.priors import as_prior
from bayesfit.predictors import (
    BrokenPowerLaw,
    Component,
    CompressedReweightedMCPredictor,
    FixedParameters,
    LogParabola,
    PowerLaw,
    Predictor,
    ReweightedMCPredictor,
    Spectrum,
)
from bayesfit.predictors.reweight import event_column

__all__ = [
    "Analysis",
    "HypothesisTest",
    "ReweightedMCAnalysis",
    "build_binning",
    "build_spectrum",
    "located",
]

logger = logging.getLogger(__name__)


@contextmanager
def located(spec: AnalysisSpec, *path: Hashable) -> Iterator[None]:
    """Re-raise bayesfit errors from building a part of the analysis with its file location
    (not the failures of an inference, e.g. a limit the data do not set: they are about the data)."""
    try:
        yield
    except (AnalysisFileError, InferenceError):
        raise
    except BayesfitError as error:
        raise AnalysisFileError(f"{spec.where(*path)}: {error}") from error


def build_binning(axes: Mapping[str, Mapping[str, Any]]) -> RectilinearBinning:
    """A rectilinear binning from the ``binning:`` section (variable -> axis spec, slowest first).

    Each axis spec has one kind (``linear``, ``log10``, ``cos``, ``edges``, ``categories``) and
    optionally a display ``label`` and ``unit``, and for categories their ``names``.
    """
    built = []
    for variable, axis in axes.items():
        display = {key: axis[key] for key in ("label", "unit") if key in axis}
        (kind, settings), = ((key, value) for key, value in axis.items() if key not in ("label", "unit", "names"))
        if kind == "linear":
            built.append(RegularAxis(variable, settings["start"], settings["stop"], settings["bins"], **display))
        elif kind == "log10":
            built.append(Log10Axis(variable, settings["start"], settings["stop"], settings["bins"], **display))
        elif kind == "cos":
            built.append(CosAxis(variable, settings["bins"], **display))
        elif kind == "edges":
            built.append(VariableAxis(variable, settings, **display))
        else:
            names = axis.get("names")
            if names is not None and len(names) != len(settings):
                raise BinningError(
                    f"axis {variable!r}: names must be {len(settings)} strings, one per category of "
                    f"{list(settings)}, got {list(names)}"
                )
            built.append(CategoryAxis(variable, settings, None if names is None else tuple(names), **display))
    return RectilinearBinning(built)


def build_spectrum(spectrum: Mapping[str, Mapping[str, Any]]) -> Spectrum:
    """A spectrum from its analysis-file form, e.g. ``{"power_law": {"energy": ..., ...}}``."""
    (kind, settings), = spectrum.items()
    settings = dict(settings)
    energy = settings.pop("energy")
    kinds: dict[str, type[Spectrum]] = {
        "power_law": PowerLaw,
        "broken_power_law": BrokenPowerLaw,
        "log_parabola": LogParabola,
    }
    return kinds[kind](energy, **settings)


class HypothesisTest(NamedTuple):
    """A likelihood-ratio test: the Wilks result and, if toys were run, the toy result."""

    wilks: Any
    toys: Any


def _as_bounds(bounds: tuple[float | None, float | None]) -> tuple[float, float]:
    """``(lower, upper)`` with ``None`` (YAML ``null``) read as unbounded."""
    lower, upper = bounds
    return (-np.inf if lower is None else float(lower), np.inf if upper is None else float(upper))


def _evaluated_once(graph: Any) -> np.ndarray:
    """The value of a PyTensor graph of constants, computed by PyTensor's Python linker (numpy
    operations, no rewrites): nothing to compile, for values needed once."""
    import pytensor
    from pytensor.compile.mode import Mode

    return np.asarray(pytensor.function([], graph, mode=Mode(linker="py", optimizer=None))(), dtype=float)


class Analysis(ABC):
    """An analysis file turned into bayesfit objects, ready to fit, test and sample.

    ``Analysis(spec)`` returns a :class:`ReweightedMCAnalysis`, or for a file with ``observed``
    counts a :class:`~bayesfit.analysis.templates.TemplateAnalysis`, or for a file with a
    ``workspace`` a :class:`~bayesfit.analysis.workspace.WorkspaceAnalysis`, or for a file with
    ``channels`` a :class:`~bayesfit.analysis.channels.ChannelsAnalysis` of those.

    Attributes
    ----------
    spec:
        The validated analysis file.
    binning:
        The binning of the observed counts.
    predictor:
        Expected counts per bin from the components (fixed parameters removed).
    constraints:
        Auxiliary measurements of the model (e.g. a flux nuisance from throws; none if empty).
    used_parameters:
        The names of the file's parameters the model uses (fixed ones included).
    """

    spec: AnalysisSpec
    binning: Binning
    predictor: Predictor
    constraints: Sequence[Any]
    used_parameters: frozenset[str]

    def __new__(cls, spec: AnalysisSpec | None = None) -> Analysis:
        if cls is Analysis:  # the kind of analysis the file describes
            if spec is None:
                raise TypeError("Analysis(spec) needs the analysis spec")
            if spec.channels is not None:
                from bayesfit.analysis.channels import ChannelsAnalysis

                cls = ChannelsAnalysis
            elif spec.workspace is not None:
                from bayesfit.analysis.workspace import WorkspaceAnalysis

                cls = WorkspaceAnalysis
            elif spec.observed is not None:
                from bayesfit.analysis.templates import TemplateAnalysis

                cls = TemplateAnalysis
            else:
                cls = ReweightedMCAnalysis
        return super().__new__(cls)

    @classmethod
    def from_file(cls, path: str | Path, overrides: Sequence[str] = ()) -> Analysis:
        """Read an analysis file (with ``"key.path=value"`` overrides) and build it."""
        return cls(read_analysis(path, overrides))

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    @abstractmethod
    def observed(self) -> np.ndarray:
        """Observed counts per bin, ``(binning.size,)``."""

    @abstractmethod
    def data_summary(self) -> dict[str, Any]:
        """What the data are, for ``summary.json`` (event counts, source)."""

    @abstractmethod
    def component_expected(self, values: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Expected counts per component at ``values``: ``{component: (binning.size,)}``."""

    def input_figures(self) -> dict[str, Any]:
        """Figures of the inputs (e.g. flux throws), ``{file stem: figure}``; none by default."""
        return {}

    def figures(self, best_fit: Any, idata: Any, start: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The model's figures ``{file name: figure}``: the inputs, and on a rectilinear binning the
        counts projected on each continuous axis with the fitted components, the expectation at
        ``start`` (default the model's start values: the pre-fit model) and, when sampled, the
        posterior-predictive band."""
        from bayesfit.analysis.figures import CountsToPlot, projection_figures

        figures = {f"{name}.png": figure for name, figure in self.input_figures().items()}
        if isinstance(self.binning, RectilinearBinning):
            predictive = None
            if idata is not None and "posterior_predictive" in idata.groups():
                draws = idata.posterior_predictive["counts"].values
                predictive = draws.reshape(-1, draws.shape[-1])
            pre_fit = sum(self.component_expected(self.model.start_point() if start is None else start).values())
            counts = CountsToPlot(self.observed, self.component_expected(best_fit.values), predictive, pre_fit)
            figures.update({f"{name}.png": figure for name, figure in projection_figures(self.binning, counts).items()})
        return figures

    # ------------------------------------------------------------------ building
    def _checked_parameters(self, predictor: Predictor, folded: Collection[str] = ()) -> Predictor:
        """``predictor`` after checking its parameters against ``parameters:``, fixed ones removed.

        ``folded`` are fixed parameters the predictor no longer has (their values are folded into
        its weights); they count as used. A channel of a file with ``channels:`` need not use every
        parameter (the combination checks that each is used by some channel).
        """
        declared = set(self.spec.parameters)
        thrown = {getattr(c, "parameter", None) for c in self.constraints}
        used = (set(predictor.parameter_names) | set(folded)) - thrown
        self.used_parameters = frozenset(used)
        for name in sorted(declared - used) if not self.spec.is_channel else ():
            raise AnalysisFileError(
                f"{self.spec.where('parameters', name)}: parameter {name!r} is not used by any component; "
                f"the components use {sorted(used)}"
            )
        for name in sorted(used - declared):
            raise AnalysisFileError(
                f"{self.spec.where('parameters')}: parameter {name!r} (used by the components) has no entry "
                "under parameters: give it a prior and a start value"
            )
        fixed = self._fixed_values()
        if self.spec.is_channel:  # the channel's own fixed parameters
            fixed = {name: value for name, value in fixed.items() if name in predictor.parameter_names}
            return FixedParameters(predictor, fixed) if fixed else predictor
        if len(fixed) == len(used):
            raise AnalysisFileError(f"{self.spec.where('parameters')}: every parameter is fixed: nothing to fit")
        fixed = {name: value for name, value in fixed.items() if name not in folded}
        return FixedParameters(predictor, fixed) if fixed else predictor

    def _fixed_values(self) -> dict[str, Any]:
        fixed = {name: p.start for name, p in self.spec.parameters.items() if p.fixed}
        for name, value in fixed.items():
            if value is None:
                raise AnalysisFileError(f"{self.spec.where('parameters', name)}: a fixed parameter needs a start value")
        return fixed

    @cached_property
    def model(self) -> Any:
        """The :class:`~bayesfit.model.BinnedModel` with the file's priors, starts, bounds and POI."""
        from bayesfit.model import BinnedModel

        free = [p for p in self.spec.parameters.values() if not p.fixed]
        poi = self.spec.poi
        if self.spec.is_channel:  # a channel's own parameters; the POI only if it has it
            free = [p for p in free if p.name in self.predictor.parameter_names]
            poi = poi if poi in self.predictor.parameter_names else None
        with located(self.spec, "parameters"):
            return BinnedModel(
                self.predictor,
                self.observed,
                priors={p.name: p.prior for p in free},
                likelihood=self.spec.likelihood,
                systematics=None if self.spec.systematics == "none" or self.spec.is_channel else self.spec.systematics,
                constraints=self.constraints,
                starts={p.name: p.start for p in free if p.start is not None},
                bounds={p.name: _as_bounds(p.bounds) for p in free},
                poi=poi,
            )

    def model_given(self, hypothesis: Mapping[str, float]) -> Any:
        """The model with the parameters of ``hypothesis`` fixed at its values (``{}``: the full model)."""
        if not hypothesis:
            return self.model
        with located(self.spec, "inference"):
            return self.model.fixed_at(hypothesis)

    @property
    def objective(self) -> Any:
        """The compiled maximum-likelihood objective, shared by fits, scans, tests and toys."""
        from bayesfit.inference.objective import objective_for

        return objective_for(self.model)

    # ------------------------------------------------------------------ inference
    def fit(self, **options: Any) -> Any:
        """Maximum-likelihood fit (priors ignored, bounds kept): a :class:`FitResult`."""
        from bayesfit.inference.fit import fit

        return fit(self.objective, **options)

    def profile(
        self, parameter: str, values: Sequence[float], best_fit: Any = None, fixed: Mapping[str, float] | None = None
    ) -> Any:
        """1-D profile-likelihood scan of ``parameter`` over ``values``, with ``fixed`` values held."""
        from bayesfit.inference.profile import profile_likelihood

        return profile_likelihood(self.objective, parameter, values, best_fit=best_fit, fixed=fixed)

    def hypothesis_test(
        self,
        hypothesis: Mapping[str, float],
        *,
        n_toys: int = 0,
        workers: int | None = None,
        seed: int = 0,
        best_fit: Any = None,
        statistic: str = "likelihood_ratio",
    ) -> HypothesisTest:
        """Likelihood-ratio test of ``hypothesis`` (fixed parameter values) against the free fit.

        The p-value comes from Wilks' theorem and, with ``n_toys > 0``, from toys of ``statistic``
        (see :func:`~bayesfit.inference.toys.toy_pvalue`) generated at the hypothesis' best fit and
        fitted on a pool of ``workers`` processes (default: one per core).
        """
        from bayesfit.inference.pvalues import wilks_pvalue
        from bayesfit.inference.toys import toy_pvalue

        wilks = wilks_pvalue(self.objective, hypothesis, best_fit=best_fit)
        if n_toys <= 0:
            return HypothesisTest(wilks, None)
        toys = toy_pvalue(
            self.objective, hypothesis, statistic=statistic, n_toys=n_toys, seed=seed, n_workers=workers
        )
        return HypothesisTest(wilks, toys)

    def bayes_factor(
        self, numerator: Mapping[str, float], denominator: Mapping[str, float], **options: Any
    ) -> Any:
        """``ln BF = ln Z(numerator) - ln Z(denominator)`` of two hypotheses (fixed values; ``{}``
        is the full model) with the file's priors, by SMC (options: ``draws``, ``chains``, ``seed``)."""
        from bayesfit.inference.bayes_factor import bayes_factor

        return bayes_factor(self.model_given(numerator), self.model_given(denominator), **options)

    def hypotest(self, poi_value: float, **options: Any) -> Any:
        """Hypothesis test of the POI at ``poi_value`` (options of :func:`bayesfit.inference.hypotest`)."""
        from bayesfit.inference.hypotest import hypotest

        with located(self.spec, "poi"):
            return hypotest(self.objective, poi_value, **options)

    def upper_limit(self, **options: Any) -> Any:
        """Upper limit on the POI (options of :func:`bayesfit.inference.upper_limit`)."""
        from bayesfit.inference.hypotest import upper_limit

        with located(self.spec, "poi"):
            return upper_limit(self.model, **options)

    def ranking(self, **options: Any) -> Any:
        """Impacts of the constrained entries on the POI (options of :func:`bayesfit.inference.ranking`)."""
        from bayesfit.inference.ranking import ranking

        with located(self.spec, "poi"):
            return ranking(self.objective, **options)

    def sample(self, **options: Any) -> Any:
        """NUTS posterior with the file's priors (options: draws, tune, chains, seed, sampler, ...)."""
        from bayesfit.inference.posterior import sample_posterior

        return sample_posterior(self.model, **options)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name!r}: {self.predictor.n_out} bins, {int(self.observed.sum())} observed "
            f"events, parameters {list(self.predictor.parameter_names)}>"
        )


class ReweightedMCAnalysis(Analysis):
    """Binned data and reweighted simulated events (components with weights, scales, spectra).

    Attributes
    ----------
    data, simulation:
        The loaded events.
    data_histogram:
        The binned data (``entries`` are the observed counts; ``n_outside`` the events outside).
    """

    def __init__(self, spec: AnalysisSpec) -> None:
        self.spec = spec
        self.constraints = []
        with located(spec, "binning"):
            self.binning = (
                Binning.from_yaml(spec.binning["path"]) if "path" in spec.binning else build_binning(spec.binning)
            )
        self.data = self._events(spec.data, "data")
        self.simulation = self._events(spec.simulation, "simulation")
        with located(spec, "data"):
            self.data_histogram: Histogram = self.binning.fill(self.data)
        if self.data.n_events and self.data_histogram.n_outside == self.data.n_events:
            raise AnalysisFileError(
                f"{spec.where('data')}: all {self.data.n_events} data events fall outside the binning over "
                f"{list(self.binning.variables)} (wrong units or variables?)"
            )
        with located(spec, "simulation"):
            self._simulation_index = self.binning.bin_index(self.simulation)
        self._components = self._weighted_components()
        with located(spec, "components"):
            predictor, folded = self._reweighting_predictor(self._components, self.name)
        self.predictor = self._checked_parameters(predictor, folded)

    @property
    def observed(self) -> np.ndarray:
        return self.data_histogram.entries

    @property
    def compressed(self) -> bool:
        """Whether the predictor sums compressed moments (else every simulated event)."""
        inner = self.predictor.predictor if isinstance(self.predictor, FixedParameters) else self.predictor
        return isinstance(inner, CompressedReweightedMCPredictor)

    def data_summary(self) -> dict[str, Any]:
        return {
            "events": int(self.data.n_events),
            "outside_binning": int(self.data_histogram.n_outside),
            "likelihood": self.spec.likelihood,
        }

    def _events(self, source: EventSource, role: str) -> Events:
        for name, text in source.define.items():  # an expression's own problems, at its key
            with located(self.spec, role, "define", name):
                Expression(text, f"define[{name!r}]")
        if source.cut is not None:
            with located(self.spec, role, "cut"):
                Expression(source.cut, "cut")
        with located(self.spec, role, "path"):
            return load_events(source.path, rename=source.rename or None, **source.selection)

    def _weighted_components(self) -> dict[str, Component]:
        components = {}
        for name, settings in self.spec.components.items():
            if "weight" not in settings:
                raise AnalysisFileError(
                    f"{self.spec.where('components', name)}: a component of reweighted simulation needs a "
                    "weight column (template components belong to template analyses, with observed counts)"
                )
            with located(self.spec, "components", name):
                spectrum = build_spectrum(settings["spectrum"]) if "spectrum" in settings else None
                components[name] = Component(settings["weight"], norm=settings.get("scale"), spectrum=spectrum)
        return components

    # ------------------------------------------------------------------ compression
    def _reweighting_predictor(
        self, components: Mapping[str, Component], name: str
    ) -> tuple[Predictor, tuple[str, ...]]:
        """The predictor of ``components`` and the fixed parameters folded into its weights.

        Compressed when :meth:`_compression` finds that exact, else per event; logged either way.
        """
        plan = self._compression(components)
        if isinstance(plan, tuple):
            columns, compressible, ranges, folded = plan
            try:
                predictor = CompressedReweightedMCPredictor(
                    columns, self._simulation_index, self.binning.size, components=compressible, name=name,
                    parameter_ranges=ranges,
                )
            except PredictorError as error:  # e.g. spectra with different pivots
                plan = str(error)
            else:
                logger.info(
                    "%s: reweighted simulation compressed into per-bin moments (exact to %g relative) over %s%s",
                    name, predictor.tolerance, {k: list(v) for k, v in ranges.items()},
                    f"; fixed spectra folded into the weights of {sorted(folded)}" if folded else "",
                )
                return predictor, tuple(sorted({p for names in folded.values() for p in names}))
        logger.info("%s: exact per-event predictor (%s)", name, plan)
        predictor = ReweightedMCPredictor(
            self.simulation, self._simulation_index, self.binning.size, components=list(components.values()),
            name=name,
        )
        return predictor, ()

    def _compression(
        self, components: Mapping[str, Component]
    ) -> str | tuple[dict[str, np.ndarray], list[Component], dict[str, tuple[float, float]], dict[str, tuple[str, ...]]]:
        """Why ``components`` are not compressed, or what the compressed predictor is built from:
        ``(event columns, components, ranges of the free spectral parameters, {component: folded
        parameters})``.

        A free spectral parameter's range is its file bounds intersected with its prior's support;
        it must be finite, so the compression (exact only inside it) keeps the analysis' bounds.
        """
        if not self.spec.simulation.compress:
            return "simulation.compress is false"
        fixed = self._fixed_values()
        columns: dict[str, np.ndarray] = {}
        compressible = []
        ranges: dict[str, tuple[float, float]] = {}
        folded: dict[str, tuple[str, ...]] = {}
        for name, component in components.items():
            columns[component.weight] = self._column(component.weight)
            spectrum = component.spectrum
            if not component.per_event:
                compressible.append(component)
                continue
            if all(parameter in fixed for parameter in spectrum.parameter_names):
                column = f"{component.weight} x fixed {name} spectrum"
                columns[column] = columns[component.weight] * self._fixed_factor(spectrum, fixed)
                compressible.append(Component(column, norm=component.norm))
                folded[name] = spectrum.parameter_names
                continue
            if not isinstance(spectrum, (PowerLaw, LogParabola)):
                return f"component {name!r} has a {type(spectrum).__name__} spectrum, which has no compressed form"
            for parameter in spectrum.parameter_names:
                if parameter not in self.spec.parameters:  # reported by _checked_parameters
                    return f"parameter {parameter!r} is not declared"
                if parameter in fixed:
                    return f"parameter {parameter!r} of component {name!r} is fixed while its spectrum is free"
                ranges[parameter] = self._declared_range(parameter)
                if not np.all(np.isfinite(ranges[parameter])):
                    return (
                        f"parameter {parameter!r} has no finite range (its bounds and prior leave {list(ranges[parameter])}):"
                        " give it bounds to compress the simulation"
                    )
            columns[spectrum.energy] = self._column(spectrum.energy)
            compressible.append(component)
        return columns, compressible, ranges, folded

    def _column(self, name: str) -> np.ndarray:
        """A simulation column as floats (an :class:`EventsError` naming the variables if missing)."""
        return event_column(self.simulation, name, self.simulation.n_events, self.name)

    def _declared_range(self, parameter: str) -> tuple[float, float]:
        """``(lower, upper)`` of ``parameter``: its file bounds intersected with its prior's support."""
        entry = self.spec.parameters[parameter]
        lower, upper = _as_bounds(entry.bounds)
        with located(self.spec, "parameters", parameter, "prior"):
            prior_lower, prior_upper = as_prior(entry.prior).support()
        return max(lower, prior_lower), min(upper, prior_upper)

    def _fixed_factor(self, spectrum: Spectrum, fixed: Mapping[str, Any]) -> np.ndarray:
        """A spectrum's factor per simulated event at fixed parameter values, ``(n_events,)``,
        from the spectrum's own graph (:func:`_evaluated_once`)."""
        import pytensor.tensor as pt

        columns = {variable: self._column(variable) for variable in spectrum.variables}
        data = {key: pt.constant(values) for key, values in spectrum.precompute(columns).items()}
        factor = spectrum.factor(data, {name: pt.constant(float(fixed[name])) for name in spectrum.parameter_names})
        return _evaluated_once(factor)

    def component_expected(self, values: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Expected counts per component at ``values`` (:func:`_evaluated_once`: the figures need
        them once, a compiled function per component is not worth its compilation)."""
        import pytensor.tensor as pt

        expected = {}
        for name, predictor in self._component_predictors.items():
            checked = predictor.check_values({key: values[key] for key in predictor.parameter_names})
            expected[name] = _evaluated_once(predictor.expected({k: pt.constant(v) for k, v in checked.items()}))[0]
        return expected

    @cached_property
    def _component_predictors(self) -> dict[str, Predictor]:
        """Each component alone (for the figures), compressed like the analysis' predictor."""
        fixed = self._fixed_values()
        predictors = {}
        for name, component in self._components.items():
            predictor, _ = self._reweighting_predictor({name: component}, name)
            own_fixed = {k: v for k, v in fixed.items() if k in predictor.parameter_names}
            predictors[name] = FixedParameters(predictor, own_fixed) if own_fixed else predictor
        return predictors
