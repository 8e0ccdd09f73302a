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

The positional forms above are bayesfit's own (variable first). :func:`Regular`, :func:`Variable`
and :func:`IntCategory` read like :mod:`hist` (``hist.axis.Regular(bins, start, stop, *, name,
transform)``) and return these classes, so a hist user's call gives the same binning::

    Regular(20, 6e4, 1e7, name="energy", transform="log")  # == Log10Axis("energy", 6e4, 1e7, 20)
    Regular(10, 0.0, np.pi, name="zenith", transform="cos")  # == CosAxis("zenith", 10)

Every axis has an optional ``label`` and ``unit`` for display; :meth:`Axis.to_hist` and
:func:`axis_from_hist` convert to and from hist axes.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, ClassVar

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
    "Regular",
    "Variable",
    "IntCategory",
    "axis_from_dict",
    "MAX_BINS",
    "axis_from_hist",
    "edges_match",
]


class Axis(ABC):
    """A binned variable: ``size`` bins, stored ``edges``, and a vectorised ``index``."""

    variable: str
    label: str
    unit: str
    #: the hist-style call that takes the same axis, named when the old form is misused
    _hist_form: ClassVar[str]

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
    def to_hist(self) -> Any:
        """The matching :mod:`hist` axis, named after the variable, without flow bins where hist allows.

        Its ``metadata`` holds :meth:`to_dict`, so :func:`axis_from_hist` gives this axis back
        exactly (cos binning, closed bins, unit and category labels included).
        """

    def _check_names(self) -> None:
        """Refuse a non-string variable (hist's argument order given to the old form)."""
        if not isinstance(self.variable, str):
            raise BinningError(
                f"{type(self).__name__} takes the variable name first, got {self.variable!r}; "
                f"in hist's argument order write bayesfit.binning.{self._hist_form}"
            )
        if not self.variable:
            raise BinningError(f"a {type(self).__name__} needs a non-empty variable name")
        for what in ("label", "unit"):
            if not isinstance(getattr(self, what), str):
                raise BinningError(
                    f"axis {self.variable!r}: {what} must be a string, got {getattr(self, what)!r}"
                )

    def _display(self) -> dict[str, str]:
        return {key: getattr(self, key) for key in ("label", "unit") if getattr(self, key)}

    @property
    def display_label(self) -> str:
        """The axis title of figures: ``label`` (or the variable) with the unit in brackets,
        e.g. ``"Deposited energy [GeV]"``."""
        name = self.label or self.variable
        return f"{name} [{self.unit}]" if self.unit else name

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

    def to_hist(self) -> Any:
        import hist

        return hist.axis.Variable(self.edges, **self._hist_options())

    def _hist_options(self) -> dict[str, Any]:
        return {"name": self.variable, "label": self.label, "metadata": self.to_dict(), "flow": False}

    def _flags(self) -> dict[str, Any]:
        return {"include_upper": True, **self._display()} if self.include_upper else self._display()


@dataclass(frozen=True)
class RegularAxis(_EdgeAxis):
    """``bins`` equal-width bins from ``start`` to ``stop`` (edges ``np.linspace``)."""

    variable: str
    start: float
    stop: float
    bins: int
    include_upper: bool = False
    label: str = ""
    unit: str = ""

    _hist_form: ClassVar[str] = "Regular(bins, start, stop, name=variable)"

    def __post_init__(self) -> None:
        self._check_names()
        _check_range(self.variable, self.start, self.stop, self.bins)

    @cached_property
    def edges(self) -> np.ndarray:
        return _readonly(np.linspace(self.start, self.stop, self.bins + 1))

    def to_hist(self) -> Any:
        import hist

        return hist.axis.Regular(self.bins, self.start, self.stop, **self._hist_options())

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
    label: str = ""
    unit: str = ""

    _hist_form: ClassVar[str] = 'Regular(bins, start, stop, name=variable, transform="log")'

    def __post_init__(self) -> None:
        self._check_names()
        _check_range(self.variable, self.start, self.stop, self.bins)
        if self.start <= 0:
            raise BinningError(f"log10 axis {self.variable!r} needs start > 0, got {self.start!r}")

    @cached_property
    def edges(self) -> np.ndarray:
        return _readonly(np.logspace(np.log10(self.start), np.log10(self.stop), self.bins + 1))

    def to_hist(self) -> Any:
        """A hist ``Regular`` axis with ``transform=log``: uniform in ``ln``, the same bins.

        boost-histogram gives transformed axes flow bins always; they stay empty.
        """
        import hist

        options = {key: value for key, value in self._hist_options().items() if key != "flow"}
        return hist.axis.Regular(self.bins, self.start, self.stop, transform=hist.axis.transform.log, **options)

    def to_dict(self) -> dict[str, Any]:
        spec = {"start": float(self.start), "stop": float(self.stop), "bins": int(self.bins)}
        return {"variable": self.variable, "log10": spec, **self._flags()}


@dataclass(frozen=True)
class CosAxis(_EdgeAxis):
    """``bins`` bins equal in ``cos(angle)`` between ``cos_min`` and ``cos_max``; edges in radians.

    Edges are ``np.arccos(np.linspace(cos_min, cos_max, bins + 1))[::-1]`` (increasing angle), the
    HESE seed's zenith bins for the default full range. Events are compared with these radian
    edges, never with their cosines. hist has no cos transform: :meth:`to_hist` gives a
    ``Variable`` axis with these edges.
    """

    variable: str
    bins: int
    cos_min: float = -1.0
    cos_max: float = 1.0
    include_upper: bool = False
    label: str = ""
    unit: str = ""

    _hist_form: ClassVar[str] = (
        'Regular(bins, start_angle, stop_angle, name=variable, transform="cos")'
    )

    def __post_init__(self) -> None:
        self._check_names()
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
    label: str = ""
    unit: str = ""

    _hist_form: ClassVar[str] = "Variable(edges, name=variable)"

    def __post_init__(self) -> None:
        self._check_names()
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
        flags = {"right_closed": True, **self._display()} if self.right_closed else self._flags()
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
    ``category_labels`` optionally name the categories (``("cascade", "track")``), in the order
    given; they follow their categories when those are sorted.
    """

    variable: str
    categories: tuple[int, ...]
    category_labels: tuple[str, ...] | None = None
    label: str = ""
    unit: str = ""

    _hist_form: ClassVar[str] = "IntCategory(categories, name=variable)"

    def __post_init__(self) -> None:
        self._check_names()
        values = np.asarray(self.categories, dtype=np.float64).ravel()
        if len(values) == 0 or not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
            raise BinningError(
                f"categories of {self.variable!r} must be a non-empty list of integers, got "
                f"{self.categories!r}"
            )
        integers = [int(value) for value in values]
        if len(set(integers)) != len(integers):
            raise BinningError(f"categories of {self.variable!r} repeat a value: {self.categories!r}")
        order = np.argsort(integers, kind="stable")
        object.__setattr__(self, "categories", tuple(integers[i] for i in order))
        if self.category_labels is not None:
            names = tuple(self.category_labels)
            if len(names) != len(integers) or not all(isinstance(name, str) for name in names):
                raise BinningError(
                    f"axis {self.variable!r}: category_labels must be {len(integers)} strings, one per "
                    f"category, got {self.category_labels!r}"
                )
            object.__setattr__(self, "category_labels", tuple(names[i] for i in order))

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
        spec: dict[str, Any] = {"variable": self.variable, "categories": list(self.categories)}
        if self.category_labels is not None:
            spec["category_labels"] = list(self.category_labels)
        return {**spec, **self._display()}

    def to_hist(self) -> Any:
        import hist

        return hist.axis.IntCategory(
            list(self.categories), name=self.variable, label=self.label, metadata=self.to_dict(), flow=False
        )

    @property
    def labels(self) -> list[str]:
        names = self.category_labels or self.categories
        return [f"{self.variable} = {name}" for name in names]

    @property
    def category_names(self) -> list[str]:
        """The name of each category for figures: its label, or ``"<label or variable> <value>"``."""
        if self.category_labels is not None:
            return list(self.category_labels)
        return [f"{self.label or self.variable} {category}" for category in self.categories]


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
            if options.get("category_labels") is not None:
                options["category_labels"] = tuple(options["category_labels"])
            return CategoryAxis(categories=tuple(spec["categories"]), **options)
        axis_type = {"regular": RegularAxis, "log10": Log10Axis, "cos": CosAxis}[kind]
        if not isinstance(spec[kind], dict):
            raise BinningError(f"{kind} axis {spec['variable']!r}: expected a mapping of options, got {spec[kind]!r}")
        return axis_type(**options, **spec[kind])
    except TypeError as error:
        raise BinningError(f"bad options for {kind} axis {spec['variable']!r}: {error}") from error

# -- hist-style constructors ----------------------------------------------------------------------


def Regular(
    bins: int,
    start: float,
    stop: float,
    *,
    name: str,
    transform: Any = None,
    label: str = "",
    unit: str = "",
    include_upper: bool = False,
) -> RegularAxis | Log10Axis | CosAxis:
    """``bins`` bins from ``start`` to ``stop``, uniform in ``transform`` of the variable.

    The argument order of ``hist.axis.Regular(bins, start, stop, *, name, transform)``;
    ``start`` and ``stop`` are values of the variable itself for every transform.

    Parameters
    ----------
    bins, start, stop
        Number of bins and range of the variable.
    name
        The variable the axis bins (hist's axis name).
    transform
        ``None``: uniform in the variable, a :class:`RegularAxis`. ``"log"``, ``"log10"`` or
        ``hist.axis.transform.log``: uniform in the logarithm, a :class:`Log10Axis` (bins uniform
        in ``ln`` and in ``log10`` are the same bins). ``"cos"``: uniform in the cosine of an angle
        in radians with ``0 <= start < stop <= pi``, a :class:`CosAxis` (edges in radians,
        increasing).
    label, unit
        For display.
    include_upper
        Close the last bin, ``[low, high]``.
    """
    display = {"label": label, "unit": unit, "include_upper": include_upper}
    kind = _transform_kind(transform, name)
    if kind == "none":
        return RegularAxis(name, start, stop, bins, **display)
    if kind == "log":
        return Log10Axis(name, start, stop, bins, **display)
    if not (math.isfinite(start) and math.isfinite(stop) and 0.0 <= start < stop <= math.pi):
        raise BinningError(
            f"cos axis {name!r} needs angles 0 <= start < stop <= pi (radians), got {start!r}, {stop!r}"
        )
    cos_min = -1.0 if stop == math.pi else math.cos(stop)
    return CosAxis(name, bins, cos_min, math.cos(start), **display)


def Variable(
    edges: Iterable[float],
    *,
    name: str,
    label: str = "",
    unit: str = "",
    include_upper: bool = False,
    right_closed: bool = False,
) -> VariableAxis:
    """Bins between strictly increasing ``(n + 1,)`` ``edges``, like ``hist.axis.Variable``.

    A :class:`VariableAxis` over the variable ``name``; ``right_closed=True`` gives ``(low, high]``
    bins, ``include_upper=True`` closes only the last ``[low, high)`` bin.
    """
    return VariableAxis(
        name, tuple(edges), include_upper=include_upper, right_closed=right_closed, label=label, unit=unit
    )


def IntCategory(
    categories: Iterable[int],
    *,
    name: str,
    category_labels: Sequence[str] | None = None,
    label: str = "",
    unit: str = "",
) -> CategoryAxis:
    """One bin per integer category, like ``hist.axis.IntCategory``: a :class:`CategoryAxis`.

    ``category_labels`` name the categories in the order given, e.g.
    ``IntCategory([0, 1], name="topology", category_labels=["cascade", "track"])``.
    """
    return CategoryAxis(
        name,
        tuple(categories),
        category_labels=None if category_labels is None else tuple(category_labels),
        label=label,
        unit=unit,
    )


def _transform_kind(transform: Any, name: str) -> str:
    """``"none"``, ``"log"`` or ``"cos"`` for a transform given by name or as a hist transform."""
    if transform is None:
        return "none"
    if isinstance(transform, str):
        kinds = {"log": "log", "log10": "log", "cos": "cos"}
        if transform not in kinds:
            raise BinningError(
                f"axis {name!r}: transform must be None, 'log', 'log10' or 'cos', got {transform!r}"
            )
        return kinds[transform]
    import boost_histogram as bh

    if transform == bh.axis.transform.log:
        return "log"
    raise BinningError(
        f"axis {name!r}: bayesfit has no equivalent of the hist transform {transform!r} (only log); "
        "give its edges to Variable(edges, name=...) instead"
    )


def axis_from_hist(axis: Any) -> Axis:
    """The bayesfit axis of a hist or boost-histogram axis; its name becomes the variable.

    An axis made by :meth:`Axis.to_hist` comes back exactly (its ``metadata`` holds the bayesfit
    description; the hist label wins over it). Otherwise: ``Regular`` -> :class:`RegularAxis`,
    ``Regular`` with ``transform=log`` -> :class:`Log10Axis`, other transforms, ``Variable`` and
    ``Integer`` -> :class:`VariableAxis` with the hist edges, ``IntCategory`` ->
    :class:`CategoryAxis`, ``StrCategory`` -> :class:`CategoryAxis` over ``0 .. n-1`` with the
    strings as ``category_labels``. Flow bins are not part of the axis (see
    :meth:`~bayesfit.binning.Histogram.from_hist`).

    Raises
    ------
    BinningError
        For an axis without a name, a circular axis, or a kind bayesfit cannot represent.
    """
    import boost_histogram as bh

    name = getattr(axis, "name", "") or (axis.metadata if isinstance(axis.metadata, str) else "")
    if not name:
        raise BinningError(f"a hist axis needs a name (the bayesfit variable), got {axis!r}")
    if axis.traits.circular:
        raise BinningError(f"hist axis {name!r} is circular; bayesfit axes do not wrap around")
    label = getattr(axis, "label", "")
    display = {"label": "" if label == name else label}
    stored = _stored_axis(axis, name)
    if stored is not None:
        return replace(stored, **display)
    if isinstance(axis, bh.axis.IntCategory):
        return CategoryAxis(name, tuple(int(value) for value in axis), **display)
    if isinstance(axis, bh.axis.StrCategory):
        return CategoryAxis(name, tuple(range(len(axis))), category_labels=tuple(axis), **display)
    if isinstance(axis, bh.axis.Regular):
        edges = axis.edges
        if axis.transform is None:
            return RegularAxis(name, float(edges[0]), float(edges[-1]), len(axis), **display)
        if axis.transform == bh.axis.transform.log:
            # hist's edges are exp(ln(start)): 15 digits give back the start and stop it was given
            start, stop = (float(f"{edge:.15g}") for edge in (edges[0], edges[-1]))
            return Log10Axis(name, start, stop, len(axis), **display)
    if isinstance(axis, (bh.axis.Regular, bh.axis.Variable, bh.axis.Integer)):
        return VariableAxis(name, tuple(float(edge) for edge in axis.edges), **display)
    raise BinningError(f"hist axis {name!r} of type {type(axis).__name__} has no bayesfit equivalent")


def _stored_axis(axis: Any, name: str) -> Axis | None:
    """The axis described by ``axis.metadata`` if it still matches the hist axis, else ``None``."""
    spec = axis.metadata
    if not isinstance(spec, dict) or spec.get("variable") != name:
        return None
    try:
        stored = axis_from_dict(spec)
    except BinningError:
        return None
    if stored.size != len(axis):
        return None
    if isinstance(stored, CategoryAxis):
        return stored if list(stored.categories) == list(axis) else None
    return stored if edges_match(stored.edges, axis.edges) else None


def edges_match(first: np.ndarray, second: np.ndarray) -> bool:
    """Whether two edge arrays agree to rounding (``1e-9`` of the narrowest bin; infinities exact).

    hist computes transformed edges in its own way (``exp`` of uniform ``ln`` values), which
    differs from bayesfit's ``logspace`` in the last digits.
    """
    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if first.shape != second.shape:
        return False
    finite = np.isfinite(first)
    if not np.array_equal(finite, np.isfinite(second)) or not np.array_equal(first[~finite], second[~finite]):
        return False
    values = first[finite]
    widths = np.diff(values)
    tolerance = 1e-9 * (widths.min() if len(widths) else max(1.0, float(np.abs(values).max(initial=0.0))))
    return bool(np.all(np.abs(values - second[finite]) <= tolerance))


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
