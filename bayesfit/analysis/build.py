"""From an analysis file to bayesfit objects: binning, events, predictor, model, fits, posteriors.

>>> analysis = Analysis.from_file("models/hese_diffuse.yaml")
>>> result = analysis.fit()            # maximum likelihood, bounds only
>>> idata = analysis.sample(draws=500)  # NUTS with the file's priors

Problems found while building (a binning that cannot be made, a parameter no component uses, a
missing events file) are reported as :class:`~bayesfit.errors.AnalysisFileError` naming the file,
line and key they come from.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
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
from bayesfit.errors import AnalysisFileError, BayesfitError
from bayesfit.events import Events, load_events
from bayesfit.predictors import (
    BrokenPowerLaw,
    Component,
    FixedParameters,
    LogParabola,
    PowerLaw,
    Predictor,
    ReweightedMCPredictor,
    Spectrum,
)

__all__ = ["Analysis", "EVENT_GENERATORS", "HypothesisTest", "build_binning", "build_spectrum"]


def _hese_events(part: str) -> Callable[..., Mapping[str, np.ndarray]]:
    def generate(**options: Any) -> Mapping[str, np.ndarray]:
        from bayesfit.datasets import generate_hese_toy

        return getattr(generate_hese_toy(**options), part)

    return generate


#: Built-in event generators by name, per role (``data`` or ``simulation``).
EVENT_GENERATORS: dict[str, dict[str, Callable[..., Mapping[str, np.ndarray]]]] = {
    "hese": {"data": _hese_events("data"), "simulation": _hese_events("simulation")},
}


@contextmanager
def _located(spec: AnalysisSpec, *path: Hashable) -> Iterator[None]:
    """Re-raise bayesfit errors from building a part of the analysis with its file location."""
    try:
        yield
    except AnalysisFileError:
        raise
    except BayesfitError as error:
        raise AnalysisFileError(f"{spec.where(*path)}: {error}") from error


def build_binning(axes: Mapping[str, Mapping[str, Any]]) -> RectilinearBinning:
    """A rectilinear binning from the ``binning:`` section (variable -> axis spec, slowest first)."""
    built = []
    for variable, axis in axes.items():
        (kind, settings), = axis.items()
        if kind == "linear":
            built.append(RegularAxis(variable, settings["start"], settings["stop"], settings["bins"]))
        elif kind == "log10":
            built.append(Log10Axis(variable, settings["start"], settings["stop"], settings["bins"]))
        elif kind == "cos":
            built.append(CosAxis(variable, settings["bins"]))
        elif kind == "edges":
            built.append(VariableAxis(variable, settings))
        else:
            built.append(CategoryAxis(variable, settings))
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


class Analysis:
    """An analysis file turned into bayesfit objects, ready to fit and sample.

    Attributes
    ----------
    spec:
        The validated analysis file.
    binning:
        The binning of data and simulation.
    data, simulation:
        The loaded events.
    data_histogram:
        The binned data (``entries`` are the observed counts; ``n_outside`` the events outside).
    predictor:
        Expected counts per bin from the components (fixed parameters removed).
    """

    def __init__(self, spec: AnalysisSpec) -> None:
        self.spec = spec
        with _located(spec, "binning"):
            self.binning: Binning = (
                Binning.from_yaml(spec.binning["path"]) if "path" in spec.binning else build_binning(spec.binning)
            )
        self.data = self._events(spec.data, "data")
        self.simulation = self._events(spec.simulation, "simulation")
        with _located(spec, "data"):
            self.data_histogram: Histogram = self.binning.fill(self.data)
        if self.data.n_events and self.data_histogram.n_outside == self.data.n_events:
            raise AnalysisFileError(
                f"{spec.where('data')}: all {self.data.n_events} data events fall outside the binning over "
                f"{list(self.binning.variables)} (wrong units or variables?)"
            )
        with _located(spec, "simulation"):
            simulation_index = self.binning.bin_index(self.simulation)
        self._simulation_index = simulation_index
        self.predictor: Predictor = self._fixed(self._components_predictor(spec.components))

    @classmethod
    def from_file(cls, path: str | Path, overrides: Sequence[str] = ()) -> Analysis:
        """Read an analysis file (with ``"key.path=value"`` overrides) and build it."""
        return cls(read_analysis(path, overrides))

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def observed(self) -> np.ndarray:
        """Observed counts per bin, ``(binning.size,)``."""
        return self.data_histogram.entries

    # ------------------------------------------------------------------ building
    def _events(self, source: EventSource, role: str) -> Events:
        if source.generator is not None:
            generators = {name: roles[role] for name, roles in EVENT_GENERATORS.items() if role in roles}
            if source.generator not in generators:
                raise AnalysisFileError(
                    f"{self.spec.where(role, 'generator')}: unknown generator {source.generator!r}; "
                    f"available: {sorted(generators)}"
                )
            with _located(self.spec, role, "options"):
                try:
                    columns = generators[source.generator](**source.options)
                except TypeError as error:  # an unknown option
                    raise AnalysisFileError(f"{self.spec.where(role, 'options')}: {error}") from None
                return load_events(columns)
        with _located(self.spec, role, "path"):
            return load_events(source.path, rename=source.rename or None)

    def _component(self, name: str, settings: Mapping[str, Any]) -> Component:
        with _located(self.spec, "components", name):
            spectrum = build_spectrum(settings["spectrum"]) if "spectrum" in settings else None
            return Component(settings["weight"], norm=settings.get("scale"), spectrum=spectrum)

    def _components_predictor(self, components: Mapping[str, Mapping[str, Any]]) -> ReweightedMCPredictor:
        built = [self._component(name, settings) for name, settings in components.items()]
        with _located(self.spec, "components"):
            predictor = ReweightedMCPredictor(
                self.simulation, self._simulation_index, self.binning.size, components=built, name=self.name
            )
        declared, used = set(self.spec.parameters), set(predictor.parameter_names)
        for name in sorted(declared - used):
            raise AnalysisFileError(
                f"{self.spec.where('parameters', name)}: parameter {name!r} is not used by any component; "
                f"the components use {sorted(used)}"
            )
        for name in sorted(used - declared):
            raise AnalysisFileError(
                f"{self.spec.where('parameters')}: parameter {name!r} (used by the components) has no entry "
                "under parameters: give it a prior and a start value"
            )
        return predictor

    def _fixed(self, predictor: Predictor) -> Predictor:
        fixed = {name: p.start for name, p in self.spec.parameters.items() if p.fixed}
        for name, value in fixed.items():
            if value is None:
                raise AnalysisFileError(f"{self.spec.where('parameters', name)}: a fixed parameter needs a start value")
        if len(fixed) == len(predictor.parameters):
            raise AnalysisFileError(f"{self.spec.where('parameters')}: every parameter is fixed: nothing to fit")
        return FixedParameters(predictor, fixed) if fixed else predictor

    @cached_property
    def model(self) -> Any:
        """The :class:`~bayesfit.model.BinnedModel` with the file's priors, starts and bounds."""
        from bayesfit.model import BinnedModel

        free = [p for p in self.spec.parameters.values() if not p.fixed]
        bounds = {p.name: _as_bounds(p.bounds) for p in free}
        with _located(self.spec, "parameters"):
            return BinnedModel(
                self.predictor,
                self.observed,
                priors={p.name: p.prior for p in free},
                likelihood=self.spec.likelihood,
                systematics=None if self.spec.systematics == "none" else self.spec.systematics,
                starts={p.name: p.start for p in free if p.start is not None},
                bounds=bounds,
            )

    @cached_property
    def objective(self) -> Any:
        """The compiled maximum-likelihood objective, shared by fits, scans and toys."""
        from bayesfit.inference.fit import Objective

        return Objective(self.model, "ml")

    # ------------------------------------------------------------------ inference
    def fit(self, **options: Any) -> Any:
        """Maximum-likelihood fit (priors ignored, bounds kept): a :class:`FitResult`."""
        from bayesfit.inference.fit import fit

        return fit(self.objective, **options)

    def profile(self, parameter: str, values: Sequence[float], best_fit: Any = None) -> Any:
        """1-D profile-likelihood scan of ``parameter`` over ``values``."""
        from bayesfit.inference.profile import profile_likelihood

        return profile_likelihood(self.objective, parameter, values, best_fit=best_fit)

    def hypothesis_test(
        self,
        hypothesis: Mapping[str, float],
        *,
        n_toys: int = 0,
        workers: int | None = None,
        seed: int = 0,
        best_fit: Any = None,
    ) -> HypothesisTest:
        """Likelihood-ratio test of ``hypothesis`` (fixed parameter values) against the free fit.

        The p-value comes from Wilks' theorem and, with ``n_toys > 0``, from toys generated at the
        hypothesis' best fit and fitted on a pool of ``workers`` processes.
        """
        from concurrent.futures import ProcessPoolExecutor

        from bayesfit.inference.pvalues import wilks_pvalue
        from bayesfit.inference.toys import toy_pvalue

        wilks = wilks_pvalue(self.objective, hypothesis, best_fit=best_fit)
        if n_toys <= 0:
            return HypothesisTest(wilks, None)
        with ProcessPoolExecutor(max_workers=workers) as executor:
            toys = toy_pvalue(self.objective, hypothesis, n_toys=n_toys, executor=executor, seed=seed)
        return HypothesisTest(wilks, toys)

    def sample(self, **options: Any) -> Any:
        """NUTS posterior with the file's priors (options: draws, tune, chains, seed, sampler, ...)."""
        from bayesfit.inference.posterior import sample_posterior

        return sample_posterior(self.model, **options)

    def component_expected(self, values: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Expected counts per component at ``values``: ``{component: (binning.size,)}``."""
        return {name: predictor.evaluate(self._restrict(predictor, values))[0] for name, predictor in self._component_predictors.items()}

    @cached_property
    def _component_predictors(self) -> dict[str, Predictor]:
        fixed = {name: p.start for name, p in self.spec.parameters.items() if p.fixed}
        predictors = {}
        for name, settings in self.spec.components.items():
            predictor: Predictor = ReweightedMCPredictor(
                self.simulation,
                self._simulation_index,
                self.binning.size,
                components=[self._component(name, settings)],
                name=name,
            )
            own_fixed = {k: v for k, v in fixed.items() if k in predictor.parameter_names}
            predictors[name] = FixedParameters(predictor, own_fixed) if own_fixed else predictor
        return predictors

    @staticmethod
    def _restrict(predictor: Predictor, values: Mapping[str, Any]) -> dict[str, Any]:
        return {name: values[name] for name in predictor.parameter_names}

    def __repr__(self) -> str:
        return (
            f"<Analysis {self.name!r}: {self.binning.size} bins, {int(self.observed.sum())} observed events, "
            f"{self.simulation.n_events} simulated, parameters {list(self.predictor.parameter_names)}>"
        )
