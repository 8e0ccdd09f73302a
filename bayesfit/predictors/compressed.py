"""Reweighted Monte Carlo compressed to per-bin moments: cost independent of the number of events.

For spectra whose logarithm is a polynomial in ``L = ln(E / pivot)`` -- a :class:`PowerLaw`
(``-d L`` with ``d = index - generated_index``) or a :class:`LogParabola` (``-d L - beta L**2``) --
the reweighted sum of a bin can be expanded around the centres ``c`` of narrow slices of ``L``:

    sum_i w_i exp(g(L_i)) = sum_slices exp(g(c)) sum_m a_m(c) M_m,   M_m = sum_i w_i (L_i - c)**m

where ``a_m`` are the Taylor coefficients of ``exp(g(c + delta) - g(c))`` in ``delta`` (for a
power law ``a_m = (-d)**m / m!``). The moments ``M_m`` (``m = 0..M``) of every (bin, slice) are
computed once, in numpy; the graph is one matrix-vector product of the ``(n_bins, n_slices *
(M + 1))`` moment matrix with the coefficients, whatever the number of events.

The slice width and ``M`` are chosen from :func:`error_bound` so that every bin sum is exact to a
relative ``tolerance`` (default ``1e-12``) for all parameters in their declared range, which
become the parameters' bounds. The sum of squared weights is compressed the same way (the square
of a sum of components is a sum of products of pairs, each again of the form above).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations_with_replacement
from typing import Any

import numpy as np
import pytensor.tensor as pt

from bayesfit.errors import PredictorError
from bayesfit.predictors.base import Parameter, Predictor, TensorLike
from bayesfit.predictors.reweight import Component, _check_weights, event_column, resolve_bin_index
from bayesfit.predictors.spectra import LogParabola, PowerLaw

__all__ = [
    "CompressedReweightedMCPredictor",
    "MomentTable",
    "SliceChoice",
    "choose_slices",
    "error_bound",
    "DEFAULT_RANGES",
]

#: Parameter ranges used when a spectrum parameter has no finite bounds of its own: spectral
#: indices over the usual prior range of astrophysical fits, curvatures within +-0.5 per e-fold^2.
DEFAULT_RANGES = {"index": (1.0, 4.5), "curvature": (-0.5, 0.5)}

#: Slice widths (in ``L = ln(E / pivot)``) tried by :func:`choose_slices`.
CANDIDATE_WIDTHS = (4.0, 2.0, 1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125)

#: Largest number of moments considered.
MAX_ORDER = 40

_EPSILON = float(np.finfo(float).eps)


def error_bound(order: int, half_width: float, linear: float, quadratic: float = 0.0) -> float:
    """Bound on the relative error of a compressed bin sum, truncation plus rounding.

    For one event at ``delta = L - c`` with ``|delta| <= half_width``, the factor relative to the
    slice centre is ``F = exp(g1 delta + g2 delta**2)`` with ``|g1| <= linear`` and
    ``|g2| <= quadratic``. Its Taylor coefficients are bounded in size by those, ``A_m``, of
    ``exp(linear x + quadratic x**2)``, so keeping ``m <= order`` misses at most
    ``sum_{m > order} A_m half_width**m``, while ``F >= exp(-s)`` with
    ``s = linear half_width + quadratic half_width**2``. All weights are non-negative, so the
    relative error of a bin sum is at most ``exp(s) * tail`` plus the rounding of the
    ``order + 1`` terms, each at most ``exp(s)`` times the result in size:
    ``(order + 2) eps exp(2 s)``.
    """
    linear, quadratic, r = abs(float(linear)), abs(float(quadratic)), float(half_width)
    spread = linear * r + quadratic * r * r
    previous, coefficient = 0.0, 1.0  # A_{m-1}, A_m of exp(linear x + quadratic x**2), m = 0
    tail = 0.0
    for m in range(order + 1000):
        if m > order:
            term = coefficient * r**m
            tail += term
            if term <= 1e-20 * tail or term == 0.0:
                break
        previous, coefficient = coefficient, (linear * coefficient + 2 * quadratic * previous) / (m + 1)
    return float(np.exp(spread) * tail + (order + 2) * _EPSILON * np.exp(2 * spread))


@dataclass(frozen=True)
class SliceChoice:
    """Slicing of ``L`` chosen by :func:`choose_slices`.

    Attributes
    ----------
    width:
        Slice width in ``L = ln(E / pivot)``.
    order:
        Highest moment ``M`` kept (``M + 1`` moments per slice).
    n_slices:
        Number of slices covering the events' range of ``L``.
    bound:
        :func:`error_bound` of the value for these settings (derivatives with respect to the
        exponent coefficients are bounded by the same expression at ``order - 1``, which also
        meets the tolerance).
    """

    width: float
    order: int
    n_slices: int
    bound: float


def choose_slices(
    log_range: tuple[float, float], linear: float, quadratic: float, tolerance: float
) -> SliceChoice:
    """The cheapest slicing (fewest ``n_slices * (order + 1)``) meeting ``tolerance``.

    ``log_range`` is the events' ``(min, max)`` of ``L``; ``linear`` and ``quadratic`` bound the
    absolute exponent coefficients ``|d|`` and ``|beta|`` over the parameter ranges. With a
    curvature the slope at a slice centre ``c`` is ``d + 2 beta c``, bounded using ``max |L|``.
    """
    low, high = log_range
    largest_log = max(abs(low), abs(high))
    best: SliceChoice | None = None
    for width in CANDIDATE_WIDTHS:
        half_width = width / 2
        slope = abs(linear) + 2 * abs(quadratic) * (largest_log + half_width)
        n_slices = int(np.floor((high - low) / width)) + 1
        for order in range(1, MAX_ORDER + 1):
            # the order below must also meet it: that bounds the derivatives
            if error_bound(order - 1, half_width, slope, quadratic) <= tolerance:
                choice = SliceChoice(width, order, n_slices, error_bound(order, half_width, slope, quadratic))
                if best is None or n_slices * (order + 1) < best.n_slices * (best.order + 1):
                    best = choice
                break
    if best is None:
        raise PredictorError(
            f"no slicing with at most {MAX_ORDER} moments reaches a relative error of {tolerance:g} "
            f"for |d| <= {linear:g}, |beta| <= {quadratic:g}: narrow the parameter ranges"
        )
    return best


class MomentTable:
    """Per-bin, per-slice weighted moments of ``delta = L - c`` of one weight column.

    Parameters
    ----------
    bin_index:
        Bin of every event, ``(n_events,)`` integers in ``[0, n_bins)``.
    log_energy:
        ``L = ln(E / pivot)`` per event, ``(n_events,)``.
    weights:
        Non-negative weight per event, ``(n_events,)``.
    n_bins:
        Number of bins.
    slices:
        The :class:`SliceChoice` (width and order).

    The moments are kept as a ``(n_bins, n_slices * (order + 1))`` matrix.
    """

    def __init__(
        self,
        bin_index: np.ndarray,
        log_energy: np.ndarray,
        weights: np.ndarray,
        n_bins: int,
        slices: SliceChoice,
    ) -> None:
        self.slices = slices
        low = float(log_energy.min()) if log_energy.size else 0.0
        slice_index = np.minimum(((log_energy - low) / slices.width).astype(np.int64), slices.n_slices - 1)
        self.centres = low + (np.arange(slices.n_slices) + 0.5) * slices.width
        offsets = log_energy - self.centres[slice_index]
        cell = bin_index * slices.n_slices + slice_index
        n_cells = n_bins * slices.n_slices
        moments = np.empty((slices.order + 1, n_cells))
        power = weights.astype(float, copy=True)
        for m in range(slices.order + 1):
            moments[m] = np.bincount(cell, power, minlength=n_cells)
            power *= offsets
        # (order + 1, n_bins, n_slices) -> (n_bins, n_slices, order + 1) -> flat per bin
        self.matrix = np.ascontiguousarray(
            moments.reshape(slices.order + 1, n_bins, slices.n_slices).transpose(1, 2, 0)
        ).reshape(n_bins, -1)

    def weighted_sum(self, linear: TensorLike, quadratic: TensorLike | None = None) -> pt.TensorVariable:
        """``(n_bins,)`` graph of ``sum_i w_i exp(-linear L_i - quadratic L_i**2)`` per bin."""
        order, centres = self.slices.order, self.centres
        if quadratic is None:
            slope = -linear  # a scalar: the same at every slice centre
            start = pt.exp(-linear * centres)
        else:
            slope = -(linear + 2 * quadratic * centres)  # (n_slices,)
            start = pt.exp(-linear * centres - quadratic * centres**2)
        # Taylor coefficients of exp(slope delta - quadratic delta**2) in delta:
        # a_m = sum_{j + 2k = m} slope**j / j! * (-quadratic)**k / k!, from vectorised powers
        # (exponents >= 1 only, so that the gradient is finite where slope or quadratic is 0)
        slope_terms = _power_series(slope, order)  # (..., order + 1)
        if quadratic is None:
            taylor = slope_terms
        else:
            n_curvature = order // 2 + 1
            curvature_terms = _power_series(-quadratic, n_curvature - 1)  # (n_curvature,)
            products = slope_terms[:, :, None] * curvature_terms[None, None, :]
            taylor = pt.dot(products.reshape((-1, (order + 1) * n_curvature)), _degree_map(order, n_curvature))
        coefficients = start[:, None] * taylor  # (n_slices, order + 1)
        return pt.dot(pt.as_tensor_variable(self.matrix), coefficients.reshape((-1,)))


def _power_series(value: TensorLike, order: int) -> pt.TensorVariable:
    """``value**m / m!`` for ``m = 0..order`` along a new last axis."""
    value = pt.as_tensor_variable(value)
    degrees = np.arange(1, order + 1)
    powers = value[..., None] ** degrees / np.cumprod(degrees.astype(float))
    return pt.concatenate([pt.ones_like(value)[..., None], powers], axis=-1)


def _degree_map(order: int, n_curvature: int) -> np.ndarray:
    """0/1 matrix ``((order + 1) * n_curvature, order + 1)`` adding term ``(j, k)`` to degree ``j + 2k``."""
    j, k = np.meshgrid(np.arange(order + 1), np.arange(n_curvature), indexing="ij")
    degree = (j + 2 * k).ravel()
    keep = degree <= order
    mapping = np.zeros((degree.size, order + 1))
    mapping[np.flatnonzero(keep), degree[keep]] = 1.0
    return mapping


def _exponent(component: Component, params: Mapping[str, TensorLike]) -> tuple[TensorLike, TensorLike | None]:
    """``(d, beta)`` of a component's log-factor ``-d L - beta L**2`` (``beta`` ``None`` for a power law)."""
    spectrum = component.spectrum
    linear = params[spectrum.parameter_names[0]] - spectrum.generated_index
    quadratic = params[spectrum.parameter_names[1]] if isinstance(spectrum, LogParabola) else None
    return linear, quadratic


class CompressedReweightedMCPredictor(Predictor):
    """:class:`~bayesfit.predictors.reweight.ReweightedMCPredictor` with compressed events.

    Same constructor as ``ReweightedMCPredictor`` plus:

    parameter_ranges:
        ``{parameter name: (lower, upper)}`` over which the compression must be exact to
        ``tolerance``; they become the parameters' bounds. Spectrum parameters not given keep
        their own bounds if finite, else :data:`DEFAULT_RANGES` (index ``[1, 4.5]``, curvature
        ``[-0.5, 0.5]``).
    tolerance:
        Relative error allowed on every bin's expected count and sum of squared weights.

    Spectra must be :class:`PowerLaw` or :class:`LogParabola` (all of them on the same energy
    variable and pivot) or the same for all events (``None``, ``Normalisation``).
    ``self.tables`` holds the :class:`MomentTable` s of the expected counts.
    """

    def __init__(
        self,
        events: Any,
        bin_index: Any,
        n_bins: int | None = None,
        *,
        components: Sequence[Component],
        name: str = "compressed_mc",
        parameter_ranges: Mapping[str, tuple[float, float]] | None = None,
        tolerance: float = 1e-12,
    ) -> None:
        self.name = name
        self.components = tuple(components)
        if not self.components or not all(isinstance(c, Component) for c in self.components):
            raise PredictorError(f"{name}: components must be a non-empty list of Component")
        if not 0 < tolerance < 1:
            raise PredictorError(f"{name}: tolerance must be in (0, 1), got {tolerance!r}")
        self.tolerance = float(tolerance)
        per_event = [c for c in self.components if c.per_event]
        self._check_spectra(per_event)
        self.parameters = self._bounded_parameters(dict(parameter_ranges or {}))
        self.variation_weights = np.ones(1)

        index, self.n_out = resolve_bin_index(bin_index, n_bins, events, name)
        inside = index >= 0
        self.n_events = int(inside.sum())
        bins = index[inside]
        weights = {}
        for component in self.components:
            column = event_column(events, component.weight, len(index), name)
            _check_weights(column, component.weight, name)
            weights[component] = column[inside]
        log_energy = np.zeros(0)
        if per_event:
            spectrum = per_event[0].spectrum
            column = event_column(events, spectrum.energy, len(index), name)
            log_energy = spectrum.precompute({spectrum.energy: column})["log_ratio"][inside]
        self._log_range = (float(log_energy.min()), float(log_energy.max())) if log_energy.size else (0.0, 0.0)

        self._expected_terms = [
            self._term((component,), weights[component], bins, log_energy) for component in self.components
        ]
        self._sumw2_terms = [
            self._term(pair, weights[pair[0]] * weights[pair[1]] * (1.0 if pair[0] is pair[1] else 2.0),
                       bins, log_energy)
            for pair in combinations_with_replacement(self.components, 2)
        ]
        self.tables = [table for _, table in self._expected_terms if isinstance(table, MomentTable)]

    # ------------------------------------------------------------------ construction
    def _check_spectra(self, per_event: Sequence[Component]) -> None:
        for component in per_event:
            if not isinstance(component.spectrum, (PowerLaw, LogParabola)):
                raise PredictorError(
                    f"{self.name}: component {component.weight!r} has spectrum {component.spectrum!r}, "
                    "which cannot be compressed (only PowerLaw and LogParabola); use ReweightedMCPredictor"
                )
        axes = {(c.spectrum.energy, c.spectrum.pivot) for c in per_event}
        if len(axes) > 1:
            raise PredictorError(
                f"{self.name}: all compressed spectra must share the energy variable and pivot, got "
                f"{sorted(axes)}"
            )

    def _bounded_parameters(self, ranges: dict[str, tuple[float, float]]) -> tuple[Parameter, ...]:
        """Declared parameters, spectrum parameters bounded by their compression range."""
        merged: dict[str, Parameter] = {}
        self._ranges: dict[str, tuple[float, float]] = {}
        for component in self.components:
            spectral = set(component.spectrum.parameter_names) if component.per_event else set()
            for parameter in component.parameters:
                if parameter.name in spectral:
                    curvature = isinstance(component.spectrum, LogParabola) and (
                        parameter.name == component.spectrum.parameter_names[1]
                    )
                    kind = "curvature" if curvature else "index"
                    own = (parameter.lower, parameter.upper)
                    default = own if np.all(np.isfinite(own)) else DEFAULT_RANGES[kind]
                    lower, upper = (float(v) for v in ranges.pop(parameter.name, default))
                    if not (np.isfinite(lower) and np.isfinite(upper) and lower < upper):
                        raise PredictorError(
                            f"{self.name}: range of {parameter.name!r} must be finite with lower < upper, "
                            f"got ({lower}, {upper})"
                        )
                    if not lower <= float(parameter.default) <= upper:
                        raise PredictorError(
                            f"{self.name}: default {parameter.default} of {parameter.name!r} is outside "
                            f"its range ({lower}, {upper})"
                        )
                    self._ranges[parameter.name] = (lower, upper)
                    parameter = Parameter(parameter.name, lower=lower, upper=upper, default=parameter.default)
                known = merged.setdefault(parameter.name, parameter)
                if known != parameter:
                    raise PredictorError(
                        f"{self.name}: parameter {parameter.name!r} is declared twice with different "
                        f"settings: {known} and {parameter}"
                    )
        if ranges:
            raise PredictorError(
                f"{self.name}: parameter_ranges names {sorted(ranges)}, which are not compressed spectrum "
                f"parameters; those are {sorted(self._ranges)}"
            )
        return tuple(merged.values())

    def _largest(self, name: str, offset: float = 0.0) -> float:
        lower, upper = self._ranges[name]
        return max(abs(lower - offset), abs(upper - offset))

    def _term(
        self, group: tuple[Component, ...], weights: np.ndarray, bins: np.ndarray, log_energy: np.ndarray
    ) -> tuple[tuple[Component, ...], MomentTable | np.ndarray]:
        """A product of components' factors summed per bin: a template or a moment table."""
        compressed = [c for c in group if c.per_event]
        if not compressed:
            return group, np.bincount(bins, weights, minlength=self.n_out)
        linear = sum(self._largest(c.spectrum.parameter_names[0], c.spectrum.generated_index) for c in compressed)
        quadratic = sum(
            self._largest(c.spectrum.parameter_names[1]) for c in compressed if isinstance(c.spectrum, LogParabola)
        )
        slices = choose_slices(self._log_range, linear, quadratic, self.tolerance)
        return group, MomentTable(bins, log_energy, weights, self.n_out, slices)

    # ------------------------------------------------------------------ graphs
    def _checked(self, params: Mapping[str, TensorLike]) -> dict[str, pt.TensorVariable]:
        missing = [name for name in self.parameter_names if name not in params]
        if missing:
            raise PredictorError(
                f"{self.name}: missing parameter(s) {missing}; it needs {list(self.parameter_names)}"
            )
        return {name: pt.as_tensor_variable(params[name]) for name in self.parameter_names}

    @staticmethod
    def _scale(component: Component, params: Mapping[str, TensorLike]) -> TensorLike:
        """The part of a component's factor that is the same for all events (a scalar)."""
        scale = pt.as_tensor_variable(1.0) if component.norm is None else params[component.norm]
        if component.spectrum is not None and not component.per_event:
            scale = scale * component.spectrum.factor({}, params)
        return scale

    def _sum_terms(self, terms, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        params = self._checked(params)
        total = []
        for group, table in terms:
            scale = pt.mul(*(self._scale(component, params) for component in group))
            if isinstance(table, np.ndarray):
                total.append(scale * table)
                continue
            exponents = [_exponent(c, params) for c in group if c.per_event]
            linear = pt.add(*(d for d, _ in exponents))
            curvatures = [beta for _, beta in exponents if beta is not None]
            quadratic = pt.add(*curvatures) if curvatures else None
            total.append(scale * table.weighted_sum(linear, quadratic))
        return (pt.add(*total) if len(total) > 1 else total[0])[None, :]

    def expected(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        return self._sum_terms(self._expected_terms, params)

    def expected_sumw2(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        """Sum over the events of each bin of the squared total event weight, ``(1, n_bins)``."""
        return self._sum_terms(self._sumw2_terms, params)
