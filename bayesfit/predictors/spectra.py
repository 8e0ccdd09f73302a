"""Spectrum models: per-event reweighting factors of simulated events as PyTensor graphs.

A spectrum turns per-event variables (e.g. the true neutrino energy ``primaryEnergy`` in GeV)
and physics parameters into a multiplicative factor on a stored Monte Carlo weight. Weights are
stored for a *generation* spectrum; power-law-like spectra therefore take the generation index
and return ``flux(E; theta) / flux_generated(E)``, normalised at a pivot energy.

Everything a spectrum needs per event that does not depend on parameters (logarithms of energy
ratios, masks) is computed once, in numpy, by :meth:`Spectrum.precompute`; the graph built by
:meth:`Spectrum.factor` then costs one fused element-wise pass over the events.

Example: the HESE astrophysical component ``(primaryEnergy / 1e5) ** -(astro_gamma - 2.5)`` is
``PowerLaw("primaryEnergy", index="astro_gamma", pivot=1e5, generated_index=2.5)``.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pytensor.tensor as pt

from bayesfit.errors import EventsError, PredictorError
from bayesfit.predictors.base import Parameter, TensorLike

__all__ = [
    "Spectrum",
    "Normalisation",
    "PowerLaw",
    "BrokenPowerLaw",
    "LogParabola",
    "CustomSpectrum",
]


class Spectrum(ABC):
    """Base class: a per-event factor ``f(variables; parameters)`` on stored weights.

    Subclasses set ``parameters`` (tuple of :class:`Parameter`) and ``variables`` (names of
    the event columns they read) and implement :meth:`factor`.
    """

    parameters: tuple[Parameter, ...]
    variables: tuple[str, ...]

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(parameter.name for parameter in self.parameters)

    @property
    def per_event(self) -> bool:
        """Whether the factor varies from event to event (``False``: one number for all)."""
        return bool(self.variables)

    def precompute(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Parameter-independent per-event arrays, computed once in numpy.

        ``columns`` maps each name in :attr:`variables` to a float array of shape
        ``(n_events,)``. The default passes the columns through unchanged.
        """
        return {name: np.asarray(columns[name], dtype=float) for name in self.variables}

    @abstractmethod
    def factor(
        self, data: Mapping[str, TensorLike], params: Mapping[str, TensorLike]
    ) -> pt.TensorVariable:
        """The reweighting factor: shape ``(n_events,)``, or ``()`` if not :attr:`per_event`.

        ``data`` is the output of :meth:`precompute` (as tensors), ``params`` maps at least
        this spectrum's parameter names to scalar tensors.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self.parameter_names)})"


def _positive_energies(columns: Mapping[str, np.ndarray], variable: str, owner: str) -> np.ndarray:
    energies = np.asarray(columns[variable], dtype=float)
    bad = ~(np.isfinite(energies) & (energies > 0))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise EventsError(
            f"{owner}: variable {variable!r} must be finite and positive for a power law; "
            f"event {first} has {float(energies[first])!r} ({int(bad.sum())} bad event(s))"
        )
    return energies


def _positive(value: float, what: str, owner: str) -> float:
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise PredictorError(f"{owner}: {what} must be finite and positive, got {value!r}")
    return value


class Normalisation(Spectrum):
    """A free scale factor, the same for every event: ``factor = parameter``.

    Parameter support ``[lower, upper]`` (default ``[0, inf)``), default value ``default``.
    """

    def __init__(
        self, parameter: str, *, default: float = 1.0, lower: float = 0.0, upper: float = np.inf
    ) -> None:
        self.parameters = (Parameter(parameter, lower=lower, upper=upper, default=default),)
        self.variables = ()

    def factor(self, data: Mapping[str, TensorLike], params: Mapping[str, TensorLike]):
        return pt.as_tensor_variable(params[self.parameters[0].name])


class PowerLaw(Spectrum):
    """``(E / pivot) ** -(index - generated_index)``: reweights an ``E**-generated_index``
    generation spectrum to ``E**-index``, normalised at ``pivot`` (same unit as ``E``).

    The index parameter is unbounded, with default ``generated_index``.
    """

    def __init__(
        self,
        energy: str,
        *,
        index: str = "gamma",
        pivot: float = 1e5,
        generated_index: float = 2.5,
    ) -> None:
        self.energy = energy
        self.pivot = _positive(pivot, "pivot", f"PowerLaw({index!r})")
        self.generated_index = float(generated_index)
        self.parameters = (Parameter(index, default=self.generated_index),)
        self.variables = (energy,)

    def precompute(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        energies = _positive_energies(columns, self.energy, repr(self))
        return {"log_ratio": np.log(energies / self.pivot)}

    def factor(self, data: Mapping[str, TensorLike], params: Mapping[str, TensorLike]):
        index = params[self.parameters[0].name]
        return pt.exp(-(index - self.generated_index) * data["log_ratio"])


class BrokenPowerLaw(Spectrum):
    """A power law with index ``index_low`` below and ``index_high`` from ``break_energy`` on.

    The flux is ``(E / break_energy) ** -index(E)`` (continuous at the break); the factor divides
    it by the generation spectrum ``(E / pivot) ** -generated_index``. With the default
    ``pivot=None`` the pivot is the break energy. Both indices are unbounded, default
    ``generated_index``; the break energy is fixed (same unit as ``E``).
    """

    def __init__(
        self,
        energy: str,
        *,
        index_low: str = "gamma_low",
        index_high: str = "gamma_high",
        break_energy: float,
        pivot: float | None = None,
        generated_index: float = 2.5,
    ) -> None:
        owner = f"BrokenPowerLaw({index_low!r}, {index_high!r})"
        if index_low == index_high:
            raise PredictorError(f"{owner}: the two indices need different parameter names")
        self.energy = energy
        self.break_energy = _positive(break_energy, "break_energy", owner)
        self.pivot = self.break_energy if pivot is None else _positive(pivot, "pivot", owner)
        self.generated_index = float(generated_index)
        self.parameters = (
            Parameter(index_low, default=self.generated_index),
            Parameter(index_high, default=self.generated_index),
        )
        self.variables = (energy,)

    def precompute(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        energies = _positive_energies(columns, self.energy, repr(self))
        return {
            "log_break_ratio": np.log(energies / self.break_energy),
            "generation_log_factor": self.generated_index * np.log(energies / self.pivot),
            "above_break": (energies >= self.break_energy).astype(float),
        }

    def factor(self, data: Mapping[str, TensorLike], params: Mapping[str, TensorLike]):
        low, high = (params[name] for name in self.parameter_names)
        above = data["above_break"]
        index = low + (high - low) * above
        return pt.exp(data["generation_log_factor"] - index * data["log_break_ratio"])


class LogParabola(Spectrum):
    """``(E / pivot) ** -(index - generated_index) * exp(-curvature * ln(E / pivot) ** 2)``.

    Parameters: ``index`` (unbounded, default ``generated_index``) and ``curvature``
    (unbounded, default 0, where the spectrum is a :class:`PowerLaw`).
    """

    def __init__(
        self,
        energy: str,
        *,
        index: str = "gamma",
        curvature: str = "beta",
        pivot: float = 1e5,
        generated_index: float = 2.5,
    ) -> None:
        self.energy = energy
        self.pivot = _positive(pivot, "pivot", f"LogParabola({index!r}, {curvature!r})")
        self.generated_index = float(generated_index)
        self.parameters = (
            Parameter(index, default=self.generated_index),
            Parameter(curvature, default=0.0),
        )
        self.variables = (energy,)

    def precompute(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        log_ratio = np.log(_positive_energies(columns, self.energy, repr(self)) / self.pivot)
        return {"log_ratio": log_ratio, "log_ratio_squared": log_ratio**2}

    def factor(self, data: Mapping[str, TensorLike], params: Mapping[str, TensorLike]):
        index, curvature = (params[name] for name in self.parameter_names)
        return pt.exp(
            -(index - self.generated_index) * data["log_ratio"]
            - curvature * data["log_ratio_squared"]
        )


class CustomSpectrum(Spectrum):
    """A user-written factor: ``function(**variables, **parameters) -> tensor``.

    ``function`` receives every name in ``variables`` (per-event tensors of shape
    ``(n_events,)``) and every declared parameter (scalar tensors) as keyword arguments, and
    returns a PyTensor expression of shape ``(n_events,)`` or ``()``. Example, an exponential
    cut-off::

        CustomSpectrum(
            lambda primaryEnergy, cutoff: pt.exp(-primaryEnergy / cutoff),
            parameters=[Parameter("cutoff", lower=0.0, default=1e6)],
            variables=["primaryEnergy"],
        )
    """

    def __init__(
        self,
        function: Callable[..., TensorLike],
        *,
        parameters: Sequence[Parameter],
        variables: Sequence[str] = (),
        name: str | None = None,
    ) -> None:
        self.function = function
        self.name = name or getattr(function, "__name__", "custom")
        self.parameters = tuple(parameters)
        self.variables = tuple(variables)
        for parameter in self.parameters:
            if not isinstance(parameter, Parameter) or parameter.shape != ():
                raise PredictorError(
                    f"CustomSpectrum {self.name!r}: parameters must be scalar Parameter objects, "
                    f"got {parameter!r}"
                )
        names = [*self.variables, *self.parameter_names]
        if len(set(names)) != len(names):
            raise PredictorError(
                f"CustomSpectrum {self.name!r}: variable and parameter names must be unique, "
                f"got {names}"
            )
        self._check_signature(names)

    def _check_signature(self, names: list[str]) -> None:
        try:
            signature = inspect.signature(self.function)
        except (TypeError, ValueError):  # builtins without a signature: checked when called
            return
        try:
            signature.bind(**dict.fromkeys(names))
        except TypeError as error:
            accepted = list(signature.parameters)
            raise PredictorError(
                f"CustomSpectrum {self.name!r}: function arguments {accepted} do not match the "
                f"declared variables {list(self.variables)} and parameters "
                f"{list(self.parameter_names)} ({error})"
            ) from None

    def factor(self, data: Mapping[str, TensorLike], params: Mapping[str, TensorLike]):
        arguments = {name: data[name] for name in self.variables}
        arguments.update({name: params[name] for name in self.parameter_names})
        result = pt.as_tensor_variable(self.function(**arguments))
        if result.ndim > 1:
            raise PredictorError(
                f"CustomSpectrum {self.name!r}: the function must return shape (n_events,) or "
                f"(), got a {result.ndim}-dimensional tensor"
            )
        return pt.cast(result, "float64")

    def __repr__(self) -> str:
        return f"CustomSpectrum({self.name!r}: {', '.join(self.parameter_names)})"
