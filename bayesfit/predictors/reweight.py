"""Reweighted Monte Carlo: per-event weights that depend on parameters, summed per bin.

Each simulated event carries stored weights (e.g. ``atmoWeight``, ``astroWeight``, in expected
events for the livetime) and per-event variables (e.g. ``primaryEnergy``). The expected count in
bin ``b`` is

    mu_b(theta) = sum_{components c} sum_{events e in b} norm_c * w_{c,e} * f_c(x_e; theta)

with ``f_c`` a :mod:`~bayesfit.predictors.spectra` model. The bin of every event is computed once
(events outside the binning are dropped at construction). Components whose factor is the same for
every event (no spectrum, or a :class:`~bayesfit.predictors.spectra.Normalisation`) are summed
per bin once, in numpy; the others cost one fused element-wise pass over the events plus one
scatter-add into the bins.

Example, the HESE diffuse fit::

    ReweightedMCPredictor(
        events, bin_index, 400,
        components=[
            Component("atmoWeight", norm="atmo_norm"),
            Component("astroWeight", norm="astro_norm",
                      spectrum=PowerLaw("primaryEnergy", index="astro_gamma",
                                        pivot=1e5, generated_index=2.5)),
        ],
    )
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytensor.tensor as pt

from bayesfit.errors import EventsError, PredictorError
from bayesfit.predictors.base import Parameter, Predictor, TensorLike
from bayesfit.predictors.spectra import Spectrum

__all__ = ["Component", "ReweightedMCPredictor", "event_column", "resolve_bin_index"]


@dataclass(frozen=True)
class Component:
    """One source of events: ``norm * events[weight] * spectrum(events; theta)``.

    Attributes
    ----------
    weight:
        Name of the stored per-event weight column (expected events at ``norm = 1``).
    norm:
        Name of a scale parameter (support ``[0, inf)``, default 1), or ``None`` for none.
    spectrum:
        A :class:`~bayesfit.predictors.spectra.Spectrum` reweighting factor, or ``None``.
    """

    weight: str
    norm: str | None = None
    spectrum: Spectrum | None = None

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        norm = () if self.norm is None else (Parameter(self.norm, lower=0.0, default=1.0),)
        return norm + (() if self.spectrum is None else self.spectrum.parameters)

    @property
    def per_event(self) -> bool:
        """Whether the reweighting factor differs between events."""
        return self.spectrum is not None and self.spectrum.per_event


def resolve_bin_index(
    bin_index: Any, n_bins: int | None, events: Any, owner: str
) -> tuple[np.ndarray, int]:
    """Flat bin index per event (``-1`` = outside) and the number of bins, validated.

    ``bin_index`` is an integer array of shape ``(n_events,)`` with ``n_bins`` given, or any
    object with ``.bin_index(events)`` and ``.size`` (e.g. a bayesfit binning).
    """
    if hasattr(bin_index, "bin_index") and hasattr(bin_index, "size"):
        binning = bin_index
        bin_index = binning.bin_index(events)
        n_bins = int(binning.size) if n_bins is None else n_bins
    if n_bins is None or int(n_bins) < 1:
        raise PredictorError(f"{owner}: n_bins must be a positive integer, got {n_bins!r}")
    n_bins = int(n_bins)
    index = np.asarray(bin_index)
    if index.ndim != 1:
        raise EventsError(f"{owner}: bin index must have shape (n_events,), got {index.shape}")
    if not np.issubdtype(index.dtype, np.integer):
        if not (np.issubdtype(index.dtype, np.floating) and np.array_equal(index, np.round(index))):
            raise EventsError(f"{owner}: bin index must hold integers, got dtype {index.dtype}")
    index = index.astype(np.int64)
    outside = (index < -1) | (index >= n_bins)
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        raise EventsError(
            f"{owner}: bin index of event {first} is {index[first]}, outside [-1, {n_bins - 1}] "
            f"({int(outside.sum())} event(s) out of range; -1 means outside the binning)"
        )
    if index.size and np.all(index == -1):
        raise EventsError(
            f"{owner}: all {index.size} events fall outside the binning (bin index -1 everywhere): "
            "check the units and variable names of the binned observables"
        )
    return index, n_bins


def _merge_parameters(components: Sequence[Component], owner: str) -> tuple[Parameter, ...]:
    merged: dict[str, Parameter] = {}
    for component in components:
        for parameter in component.parameters:
            known = merged.setdefault(parameter.name, parameter)
            if known != parameter:
                raise PredictorError(
                    f"{owner}: parameter {parameter.name!r} is declared twice with different "
                    f"settings: {known} and {parameter}"
                )
    return tuple(merged.values())


def event_column(events: Any, name: str, n_events: int, owner: str) -> np.ndarray:
    """The float column ``name`` of ``events``, ``(n_events,)``; an :class:`EventsError` naming the
    available variables if it is missing or of another length."""
    try:
        values = np.asarray(events[name], dtype=float)
    except (KeyError, ValueError, IndexError):
        names = list(events.keys()) if hasattr(events, "keys") else getattr(
            getattr(events, "dtype", None), "names", None
        )
        raise EventsError(f"{owner}: events have no variable {name!r}; available: {names}") from None
    if values.shape != (n_events,):
        raise EventsError(
            f"{owner}: variable {name!r} has shape {values.shape}, expected ({n_events},) "
            "(one value per event, like the bin index)"
        )
    return values


def _check_weights(weights: np.ndarray, name: str, owner: str) -> None:
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise EventsError(
            f"{owner}: weight {name!r} of event {first} is {float(weights[first])!r}; weights must be "
            f"finite and non-negative ({int(bad.sum())} bad event(s))"
        )


class ReweightedMCPredictor(Predictor):
    """Expected counts from reweighted simulated events, shape ``(1, n_bins)``.

    Parameters
    ----------
    events:
        Mapping (dict, DataFrame, structured array) of per-event columns, each of shape
        ``(n_events,)``: the weight columns and spectrum variables of ``components``.
    bin_index:
        Flat bin index per event, integers in ``[-1, n_bins)``, ``-1`` = outside the binning;
        or an object with ``.bin_index(events)`` and ``.size``.
    n_bins:
        Number of output bins (taken from ``bin_index.size`` for a binning object).
    components:
        The :class:`Component` s whose weights are summed. Parameters with the same name in
        several components are one parameter.
    name:
        Used in error messages.
    """

    def __init__(
        self,
        events: Any,
        bin_index: Any,
        n_bins: int | None = None,
        *,
        components: Sequence[Component],
        name: str = "reweighted_mc",
    ) -> None:
        self.name = name
        self.components = tuple(components)
        if not self.components or not all(isinstance(c, Component) for c in self.components):
            raise PredictorError(f"{name}: components must be a non-empty list of Component")
        index, self.n_out = resolve_bin_index(bin_index, n_bins, events, name)
        self.parameters = _merge_parameters(self.components, name)
        self.variation_weights = np.ones(1)

        inside = np.flatnonzero(index >= 0)
        order = inside[np.argsort(index[inside], kind="stable")]  # sorted by bin: local scatter
        self.n_events = int(order.size)
        self._bin_index = index[order]
        self._templates: list[tuple[Component, np.ndarray, np.ndarray]] = []
        self._per_event: list[tuple[Component, np.ndarray, dict[str, np.ndarray]]] = []
        for component in self.components:
            weights = event_column(events, component.weight, len(index), name)
            _check_weights(weights, component.weight, name)
            weights = weights[order]
            if component.per_event:
                columns = {
                    variable: event_column(events, variable, len(index), name)
                    for variable in component.spectrum.variables
                }  # all events, in their order, so that errors name the right event
                precomputed = component.spectrum.precompute(columns)
                data = {key: values[order] for key, values in precomputed.items()}
                self._per_event.append((component, weights, data))
            else:
                template = np.bincount(self._bin_index, weights, minlength=self.n_out)
                self._templates.append((component, weights, template))

    # ------------------------------------------------------------------ graphs
    def _scale(self, component: Component, params: Mapping[str, TensorLike]) -> TensorLike:
        """The part of a component's factor that is the same for all events (a scalar)."""
        scale = pt.as_tensor_variable(1.0) if component.norm is None else params[component.norm]
        if component.spectrum is not None and not component.per_event:
            scale = scale * component.spectrum.factor({}, params)
        return scale

    def _bin_sum(self, event_values: TensorLike, bin_index: np.ndarray) -> pt.TensorVariable:
        """``(n_bins,)`` sums of ``event_values`` per bin (a scatter-add)."""
        index = pt.as_tensor_variable(bin_index)
        return pt.inc_subtensor(pt.zeros(self.n_out)[index], event_values)

    def _reweighted_sum(
        self, component: Component, weights: np.ndarray, data: Mapping[str, np.ndarray], params
    ) -> pt.TensorVariable:
        """``(n_bins,)`` sum of ``weights * spectrum factor`` over the events with non-zero weight.

        The scale stays outside the sum, so its gradient costs one pass over bins, not events.
        """
        support = np.flatnonzero(weights)
        if support.size == weights.size:
            support = slice(None)
        data = {key: values[support] for key, values in data.items()}
        factor = component.spectrum.factor(data, params)
        return self._bin_sum(weights[support] * factor, self._bin_index[support])

    def _checked(self, params: Mapping[str, TensorLike]) -> dict[str, pt.TensorVariable]:
        missing = [name for name in self.parameter_names if name not in params]
        if missing:
            raise PredictorError(
                f"{self.name}: missing parameter(s) {missing}; it needs {list(self.parameter_names)}"
            )
        return {name: pt.as_tensor_variable(params[name]) for name in self.parameter_names}

    def expected(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        params = self._checked(params)
        terms = [
            self._scale(component, params) * self._reweighted_sum(component, weights, data, params)
            for component, weights, data in self._per_event
        ]
        terms += [
            self._scale(component, params) * template for component, _, template in self._templates
        ]
        return pt.add(*terms)[None, :] if len(terms) > 1 else terms[0][None, :]

    def expected_sumw2(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        """Sum over the events of each bin of the squared total event weight, ``(1, n_bins)``."""
        params = self._checked(params)
        event_weights = [
            self._scale(component, params) * weights * component.spectrum.factor(data, params)
            for component, weights, data in self._per_event
        ]
        event_weights += [
            self._scale(component, params) * weights for component, weights, _ in self._templates
        ]
        total = pt.add(*event_weights) if len(event_weights) > 1 else event_weights[0]
        return self._bin_sum(total**2, self._bin_index)[None, :]
