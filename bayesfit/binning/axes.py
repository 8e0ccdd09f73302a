"""One-dimensional axes over a named variable.

Every axis maps values of its variable to bin indices ``0 .. size-1`` (``-1`` outside) by comparing
them with its stored edges, so an event always lands in the bin whose edges contain it. Bins are
half-open ``[low, high)``; ``include_upper=True`` closes the last bin, ``[low, high]``.

- :class:`RegularAxis`: equal widths in the variable.
- :class:`Log10Axis`: equal widths in ``log10`` (energies), edges ``np.logspace``.
- :class:`CosAxis`: equal widths in ``cos`` of an angle, edges in radians, increasing
  (``np.arccos(np.linspace(cos_min, cos_max, bins + 1))[::-1]``).
- :class:`VariableAxis`: arbitrary strictly increasing edges, may start at ``-inf``/end at ``+inf``;
  ``right_closed=True`` gives ``(low, high]`` bins (ReMU's ``include_upper``).
- :class:`CategoryAxis`: integer categories (topology, event type); integral floats are accepted.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from bayesfit.errors import BinningError

#: Most bins a binning may have: every histogram of it holds a few arrays of this length, and flat
#: indices must not overflow (2^31 bins take 16 GiB per float array).
MAX_BINS = 2**31

__all__ = [
    "Axis",
    "RegularAxis",
    "Log10Axis",
    "CosAxis",
    "VariableAxis",
    "CategoryAxis",
    "axis_from_dict",
    "MAX_BINS",
]


class Axis(ABC):
    """A binned variable: ``size`` bins, stored ``edges``, and a vectorised ``index``."""

    variable: str

    @property
    @abstractmethod
    def size(self) -> int:
        """Number of bins."""

    @property
    @abstractmethod
    def edges(self) -> np.ndarray:
        """``(size + 1,)`` bin edges (categories: ``category - 0.5 .. + 0.5`` positions)."""

    @abstractmethod
    def index(self, values: np.ndarray) -> np.ndarray:
        """``(n,)`` int64 bin index of each value, ``-1`` outside (NaN is outside)."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A plain-YAML description, read back by :func:`axis_from_dict`."""

    @abstractmethod
    def to_boost(self) -> Any:
        """The matching boost-histogram axis (for :meth:`Histogram.to_hist`)."""

    @property
    def labels(self) -> list[str]:
        """One readable label per bin, e.g. ``"energy in [6e+04, 7.7e+04)"``."""
        edges = self.edges
        return [f"{self.variable} in [{low:.4g}, {high:.4g})" for low, high in zip(edges[:-1], edges[1:])]


@dataclass(frozen=True)
class _EdgeAxis(Axis):
    """An axis defined by numeric edges; subclasses say how the edges are made."""

    @property
    def size(self) -> int:
        return len(self.edges) - 1

    def index(self, values: np.ndarray) -> np.ndarray:
        return _locate(
            np.asarray(values, dtype=np.float64),
            self.edges,
            include_upper=self.include_upper,
            right_closed=self.right_closed,
        )

    @property
    def right_closed(self) -> bool:
        """True for ``(low, high]`` bins; only :class:`VariableAxis` offers it."""
        return False

    def to_boost(self) -> Any:
        import boost_histogram as bh

        return bh.axis.Variable(self.edges, metadata=self.variable, underflow=False, overflow=False)

    def _flags(self) -> dict[str, Any]:
        return {"include_upper": True} if self.include_upper else {}


@dataclass(frozen=True)
class RegularAxis(_EdgeAxis):
    """``bins`` equal-width bins from ``start`` to ``stop`` (edges ``np.linspace``)."""

    variable: str
    start: float
    stop: float
    bins: int
    include_upper: bool = False

    def __post_init__(self) -> None:
        _check_range(self.variable, self.start, self.stop, self.bins)

    @cached_property
    def edges(self) -> np.ndarray:
        return _readonly(np.linspace(self.start, self.stop, self.bins + 1))

    def to_dict(self) -> dict[str, Any]:
        spec = {"start": float(self.start), "stop": float(self.stop), "bins": int(self.bins)}
        return {"variable": self.variable, "regular": spec, **self._flags()}


@dataclass(frozen=True)
class Log10Axis(_EdgeAxis):
    """``bins`` bins equal in ``log10`` from ``start`` to ``stop`` (both > 0).

    Edges are ``np.logspace(np.log10(start), np.log10(stop), bins + 1)``, exactly as the HESE seed
    builds its energy bins.
    """

    variable: str
    start: float
    stop: float
    bins: int
    include_upper: bool = False

    def __post_init__(self) -> None:
        _check_range(self.variable, self.start, self.stop, self.bins)
        if self.start <= 0:
            raise BinningError(f"log10 axis {self.variable!r} needs start > 0, got {self.start!r}")

    @cached_property
    def edges(self) -> np.ndarray:
        return _readonly(np.logspace(np.log10(self.start), np.log10(self.stop), self.bins + 1))

    def to_dict(self) -> dict[str, Any]:
        spec = {"start": float(self.start), "stop": float(self.stop), "bins": int(self.bins)}
        return {"variable": self.variable, "log10": spec, **self._flags()}


@dataclass(frozen=True)
class CosAxis(_EdgeAxis):
    """``bins`` bins equal in ``cos(angle)`` between ``cos_min`` and ``cos_max``; edges in radians.

    Edges are ``np.arccos(np.linspace(cos_min, cos_max, bins + 1))[::-1]`` (increasing angle), the
    HESE seed's zenith bins for the default full range. Events are compared with these radian
    edges, never with their cosines.
    """

    variable: str
    bins: int
    cos_min: float = -1.0
    cos_max: float = 1.0
    include_upper: bool = False

    def __post_init__(self) -> None:
        _check_range(self.variable, self.cos_min, self.cos_max, self.bins)
        if not -1.0 <= self.cos_min < self.cos_max <= 1.0:
            raise BinningError(
                f"cos axis {self.variable!r} needs -1 <= cos_min < cos_max <= 1, got "
                f"{self.cos_min!r}, {self.cos_max!r}"
            )

    @cached_property
    def edges(self) -> np.ndarray:
        return _readonly(np.arccos(np.linspace(self.cos_min, self.cos_max, self.bins + 1))[::-1])

    def to_dict(self) -> dict[str, Any]:
        spec = {"bins": int(self.bins), "cos_min": float(self.cos_min), "cos_max": float(self.cos_max)}
        return {"variable": self.variable, "cos": spec, **self._flags()}


@dataclass(frozen=True)
class VariableAxis(_EdgeAxis):
    """Bins between arbitrary strictly increasing ``bin_edges`` (``-inf``/``+inf`` allowed).

    ``right_closed=True`` makes every bin ``(low, high]`` (ReMU's ``include_upper``); otherwise
    bins are ``[low, high)`` and ``include_upper`` closes only the last one.
    """

    variable: str
    bin_edges: tuple[float, ...]
    include_upper: bool = False
    right_closed: bool = False  # type: ignore[assignment]

    def __post_init__(self) -> None:
        try:
            if isinstance(self.bin_edges, (str, bytes)):
                raise TypeError
            edges = np.asarray(self.bin_edges, dtype=np.float64)
        except (TypeError, ValueError):
            raise BinningError(
                f"edges of axis {self.variable!r} must be a list of numbers, got {self.bin_edges!r}"
            ) from None
        if edges.ndim != 1 or len(edges) < 2:
            raise BinningError(f"axis {self.variable!r} needs at least 2 edges, got {self.bin_edges!r}")
        object.__setattr__(self, "bin_edges", tuple(float(edge) for edge in edges))
        if np.isnan(edges).any():
            raise BinningError(f"edges of axis {self.variable!r} contain NaN: {self.bin_edges!r}")
        steps = np.diff(edges)
        if (steps <= 0).any():
            position = int(np.argmax(steps <= 0))
            raise BinningError(
                f"edges of axis {self.variable!r} are not strictly increasing: edge {position + 1} "
                f"({float(edges[position + 1])!r}) <= edge {position} ({float(edges[position])!r})"
            )
        if self.include_upper and self.right_closed:
            raise BinningError(
                f"axis {self.variable!r}: include_upper only applies to [low, high) bins, not to "
                "right_closed ones"
            )

    @cached_property
    def edges(self) -> np.ndarray:
        return _readonly(np.array(self.bin_edges))

    def to_dict(self) -> dict[str, Any]:
        flags = {"right_closed": True} if self.right_closed else self._flags()
        return {"variable": self.variable, "edges": list(self.bin_edges), **flags}

    @property
    def labels(self) -> list[str]:
        if not self.right_closed:
            return super().labels
        edges = self.edges
        return [f"{self.variable} in ({low:.4g}, {high:.4g}]" for low, high in zip(edges[:-1], edges[1:])]


@dataclass(frozen=True)
class CategoryAxis(Axis):
    """One bin per integer category, in increasing order (e.g. topology ``[0, 1]``).

    Values must equal a category exactly (``1.0`` is category ``1``); anything else is outside.
    """

    variable: str
    categories: tuple[int, ...]

    def __post_init__(self) -> None:
        values = np.asarray(self.categories, dtype=np.float64).ravel()
        if len(values) == 0 or not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
            raise BinningError(
                f"categories of {self.variable!r} must be a non-empty list of integers, got "
                f"{self.categories!r}"
            )
        ordered = sorted(int(value) for value in values)
        if len(set(ordered)) != len(ordered):
            raise BinningError(f"categories of {self.variable!r} repeat a value: {self.categories!r}")
        object.__setattr__(self, "categories", tuple(ordered))

    @property
    def size(self) -> int:
        return len(self.categories)

    @cached_property
    def edges(self) -> np.ndarray:
        return _readonly(np.arange(self.size + 1) - 0.5)

    @cached_property
    def _sorted(self) -> np.ndarray:
        return np.array(self.categories, dtype=np.float64)

    def index(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        position = np.searchsorted(self._sorted, values)
        clipped = np.minimum(position, self.size - 1)
        return np.where(self._sorted[clipped] == values, clipped, -1).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {"variable": self.variable, "categories": list(self.categories)}

    def to_boost(self) -> Any:
        import boost_histogram as bh

        return bh.axis.IntCategory(list(self.categories), metadata=self.variable, growth=False)

    @property
    def labels(self) -> list[str]:
        return [f"{self.variable} = {category}" for category in self.categories]


def axis_from_dict(spec: dict[str, Any]) -> Axis:
    """Build an axis from its :meth:`Axis.to_dict` description."""
    if not isinstance(spec, dict) or "variable" not in spec:
        raise BinningError(f"an axis must be a mapping with a 'variable' key, got {spec!r}")
    if not isinstance(spec["variable"], str) or not spec["variable"]:
        raise BinningError(f"an axis's 'variable' must be a non-empty name, got {spec['variable']!r}")
    kinds = [key for key in ("regular", "log10", "cos", "edges", "categories") if key in spec]
    if len(kinds) != 1:
        raise BinningError(
            f"axis {spec['variable']!r} must have exactly one of regular, log10, cos, edges, "
            f"categories; got keys {sorted(spec)}"
        )
    kind, options = kinds[0], {key: value for key, value in spec.items() if key not in kinds}
    try:
        if kind == "edges":
            return VariableAxis(bin_edges=spec["edges"], **options)
        if kind == "categories":
            return CategoryAxis(categories=tuple(spec["categories"]), **options)
        axis_type = {"regular": RegularAxis, "log10": Log10Axis, "cos": CosAxis}[kind]
        if not isinstance(spec[kind], dict):
            raise BinningError(f"{kind} axis {spec['variable']!r}: expected a mapping of options, got {spec[kind]!r}")
        return axis_type(**options, **spec[kind])
    except TypeError as error:
        raise BinningError(f"bad options for {kind} axis {spec['variable']!r}: {error}") from error


def _locate(
    values: np.ndarray, edges: np.ndarray, *, include_upper: bool, right_closed: bool
) -> np.ndarray:
    """Bin index of each value for strictly increasing ``edges``; -1 outside or NaN."""
    size = len(edges) - 1
    if right_closed:  # (low, high]: index i with edges[i] < v <= edges[i+1]
        index = np.searchsorted(edges, values, side="left").astype(np.int64, copy=False)
    else:  # [low, high): edges[i] <= v < edges[i+1]
        index = np.searchsorted(edges, values, side="right").astype(np.int64, copy=False)
        if include_upper:
            index[values == edges[-1]] = size
    index -= 1
    # one unsigned comparison catches both -1 and size; NaN sorts past the end, so it is outside
    index[index.view(np.uint64) >= size] = -1
    return index


def _check_range(variable: str, start: float, stop: float, bins: int) -> None:
    if not (isinstance(bins, (int, np.integer)) and not isinstance(bins, bool) and bins >= 1):
        raise BinningError(f"axis {variable!r} needs a positive integer number of bins, got {bins!r}")
    if bins > MAX_BINS:
        raise BinningError(f"axis {variable!r} has {bins} bins, more than a binning may have ({MAX_BINS})")
    numbers = all(isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
                  for value in (start, stop))
    if not (numbers and math.isfinite(start) and math.isfinite(stop) and start < stop):
        raise BinningError(
            f"axis {variable!r} needs finite start < stop, got start={start!r}, stop={stop!r}"
        )


def _readonly(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array
