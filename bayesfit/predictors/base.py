"""The predictor contract: physics parameters -> expected counts per bin, as a PyTensor graph.

A predictor declares its :class:`Parameter` s, its number of output bins ``n_out`` and its
*variations axis*: ``K`` systematic variations ("universes", e.g. detector-response or flux throws)
with weights (``K = 1`` when there are none). Its graph maps parameter tensors to expected counts
of shape ``(K, n_out)``.

The same object serves NUTS (gradients by autodiff), maximum-likelihood fits and plain numpy
evaluation (:meth:`Predictor.evaluate`). A predictor knows nothing of PyMC, priors or data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.replace import vectorize_graph

from bayesfit.backend import configure_blas, numpy_mode
from bayesfit.errors import PredictorError

__all__ = ["Parameter", "Predictor", "TensorLike", "check_coefficients", "check_constant"]

TensorLike = Any  # a PyTensor variable, a PyMC random variable or a numpy array


@dataclass(frozen=True)
class Parameter:
    """A named input of a predictor.

    Attributes
    ----------
    name:
        Unique name within the predictor (and within a model).
    shape:
        ``()`` for a scalar, ``(n,)`` for a vector (e.g. 1080 cross sections).
    lower, upper:
        Support; ``-inf``/``inf`` for unbounded. Used for bounds of fits and checks of
        :meth:`Predictor.evaluate`.
    default:
        Value used when none is given (a scalar broadcast to ``shape``, or an array of ``shape``).
    labels:
        Optional coordinate labels for a vector parameter (one per entry).
    dim:
        Optional name of the vector's dimension (for ArviZ dims), e.g. ``"template"``.
    """

    name: str
    shape: tuple[int, ...] = ()
    lower: float = -np.inf
    upper: float = np.inf
    default: Any = 0.0
    labels: tuple[str, ...] | None = field(default=None)
    dim: str | None = None

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise PredictorError(f"parameter name must be a non-empty string, got {self.name!r}")
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))
        if not self.lower < self.upper:
            raise PredictorError(
                f"parameter {self.name!r}: lower bound {self.lower} is not below upper bound {self.upper}"
            )
        if self.labels is not None:
            labels = tuple(str(label) for label in self.labels)
            if len(self.shape) != 1 or len(labels) != self.shape[0]:
                raise PredictorError(
                    f"parameter {self.name!r}: {len(labels)} labels for shape {self.shape}"
                )
            object.__setattr__(self, "labels", labels)

    @property
    def size(self) -> int:
        """Number of scalar entries."""
        return int(np.prod(self.shape, dtype=int))

    def default_value(self) -> np.ndarray:
        """The default as a float array of :attr:`shape`."""
        return np.broadcast_to(np.asarray(self.default, dtype=float), self.shape).copy()

    def symbol(self) -> pt.TensorVariable:
        """A fresh PyTensor input variable of this parameter's shape, named after it."""
        return pt.tensor(name=self.name, shape=self.shape, dtype="float64")

    def check_value(self, value: Any, owner: str) -> np.ndarray:
        """Validate a numeric value: shape, finiteness and support. Returns a float array."""
        array = np.asarray(value, dtype=float)
        if array.shape != self.shape:
            try:
                array = np.broadcast_to(array, self.shape).copy()
            except ValueError:
                raise PredictorError(
                    f"{owner}: parameter {self.name!r} expects shape {self.shape}, got {array.shape}"
                ) from None
        bad = ~np.isfinite(array)
        if bad.any():
            raise PredictorError(
                f"{owner}: parameter {self.name!r} has {int(bad.sum())} non-finite value(s)"
            )
        outside = (array < self.lower) | (array > self.upper)
        if outside.any():
            first = array[outside].ravel()[0]
            raise PredictorError(
                f"{owner}: parameter {self.name!r} = {first:g} is outside its support "
                f"[{self.lower:g}, {self.upper:g}] ({int(outside.sum())} value(s) outside)"
            )
        return array


def check_coefficients(values: Any, what: str, owner: str) -> np.ndarray:
    """Return ``values`` as a float array after checking every entry is finite and non-negative.

    ``what`` names the array (e.g. ``"matrix"``) and ``owner`` the predictor, for the message,
    which gives the index of the first bad entry.
    """
    array = np.asarray(values, dtype=float)
    for problem, bad in (("NaN or infinite", ~np.isfinite(array)), ("negative", array < 0)):
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise PredictorError(
                f"{owner}: {what} has {int(bad.sum())} {problem} entr{'y' if bad.sum() == 1 else 'ies'}, "
                f"first at index {first} (value {array[first]!r})"
            )
    return array


def check_constant(constant: Any, n_variations: int, n_out: int, owner: str) -> np.ndarray | None:
    """Validate a constant term of a linear predictor.

    ``None`` stays ``None``; ``(n_out,)`` becomes ``(1, n_out)``; ``(K, n_out)`` is kept. Entries
    must be finite and non-negative.
    """
    if constant is None:
        return None
    constant = check_coefficients(constant, "constant", owner)
    if constant.shape == (n_out,):
        return constant[np.newaxis]
    if constant.shape == (n_variations, n_out):
        return constant
    raise PredictorError(
        f"{owner}: constant has shape {constant.shape}, expected ({n_out},) or ({n_variations}, {n_out})"
    )


class Predictor(ABC):
    """Base class of all predictors. Subclasses implement :meth:`expected`.

    Subclasses set, in ``__init__``: ``self.name`` (used in error messages), ``self.parameters``
    (a tuple of :class:`Parameter`), ``self.n_out`` (number of output bins) and
    ``self.variation_weights`` (float array of shape ``(K,)``; ``np.ones(1)`` without variations).
    """

    name: str
    parameters: tuple[Parameter, ...]
    n_out: int
    variation_weights: np.ndarray

    # ------------------------------------------------------------------ declared structure
    @property
    def n_variations(self) -> int:
        """``K``, the number of systematic variations (universes)."""
        return int(len(self.variation_weights))

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def parameter(self, name: str) -> Parameter:
        """The declared :class:`Parameter` called ``name``."""
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise PredictorError(
            f"{self.name}: unknown parameter {name!r}; it has {list(self.parameter_names)}"
        )

    def defaults(self) -> dict[str, np.ndarray]:
        """Default value of every parameter."""
        return {p.name: p.default_value() for p in self.parameters}

    # ------------------------------------------------------------------ graphs
    @abstractmethod
    def expected(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        """Expected counts, a graph of shape ``(K, n_out)``.

        ``params`` maps every parameter name to a tensor of the parameter's declared shape.
        """

    def expected_per_variation(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        """Expected counts when each parameter carries a leading axis of one value per variation.

        Parameter ``p`` comes with shape ``(B, *p.shape)``; universe ``k`` of the output uses the
        ``k``-th value ("same" combination of universes). ``B`` equals ``K``, or is any length
        when the predictor has ``K = 1`` (its single universe then serves every value).
        Output shape ``(B, n_out)``.

        The default vectorises :meth:`expected` over the leading axis and keeps the diagonal,
        which costs ``K`` times more than needed: linear predictors override it.
        """
        inputs = {p.name: p.symbol() for p in self.parameters}
        core = self.expected(inputs)
        batched = {inputs[name]: pt.as_tensor_variable(params[name]) for name in inputs}
        stacked = vectorize_graph(core, replace=batched)  # (B, K, n_out)
        if self.n_variations == 1:
            return stacked[:, 0]
        k = pt.arange(self.n_variations)
        return stacked[k, k]

    def expected_sumw2(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable | None:
        """Sum of squared Monte Carlo weights per bin, shape ``(K, n_out)``, or ``None``.

        Predictors built from weighted simulation return it so that finite-MC-statistics
        likelihoods can use it; others return ``None``.
        """
        return None

    # ------------------------------------------------------------------ numpy convenience
    def symbols(self) -> dict[str, pt.TensorVariable]:
        """Fresh PyTensor inputs, one per parameter."""
        return {p.name: p.symbol() for p in self.parameters}

    def check_values(self, values: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
        """Complete ``values`` with defaults and validate them (shape, finiteness, support)."""
        values = dict(values or {})
        unknown = sorted(set(values) - set(self.parameter_names))
        if unknown:
            raise PredictorError(
                f"{self.name}: unknown parameter(s) {unknown}; it has {list(self.parameter_names)}"
            )
        checked = {}
        for parameter in self.parameters:
            value = values.get(parameter.name, parameter.default_value())
            checked[parameter.name] = parameter.check_value(value, self.name)
        return checked

    def evaluate(self, values: Mapping[str, Any] | None = None, **kwargs: Any) -> np.ndarray:
        """Expected counts as a numpy array of shape ``(K, n_out)``.

        Parameters missing from ``values`` take their defaults. The graph is compiled once per
        predictor and reused.
        """
        checked = self.check_values({**(values or {}), **kwargs})
        function = self._compiled("expected")
        return np.asarray(function(*(checked[name] for name in self.parameter_names)))

    def evaluate_sumw2(self, values: Mapping[str, Any] | None = None, **kwargs: Any) -> np.ndarray:
        """Sum of squared weights per bin as numpy, shape ``(K, n_out)``."""
        checked = self.check_values({**(values or {}), **kwargs})
        function = self._compiled("expected_sumw2")
        return np.asarray(function(*(checked[name] for name in self.parameter_names)))

    def _compiled(self, method: str) -> pytensor.compile.Function:
        """The graph of ``method(symbols)`` as a function of the parameters in
        :attr:`parameter_names` order, once per predictor.

        Evaluations are one-off (model checks, toy generation, figures): the function runs the
        ops' numpy implementations (PyTensor's ``FAST_COMPILE`` mode), which costs milliseconds
        to build, where a C compilation took seconds per predictor with an empty compile cache.
        BLAS is configured here (see :mod:`bayesfit.backend`): every model's construction evaluates
        its predictor, so the C compilations that follow (objectives, samplers, post-processing)
        find it linked.
        """
        cache = self.__dict__.setdefault("_compiled_functions", {})
        if method not in cache:
            configure_blas()
            inputs = self.symbols()
            output = getattr(self, method)(inputs)
            if output is None:
                raise PredictorError(f"{self.name}: provides no {method.removeprefix('expected_')}")
            cache[method] = pytensor.function(
                [inputs[name] for name in self.parameter_names], output, on_unused_input="ignore", mode=numpy_mode()
            )
        return cache[method]

    # ------------------------------------------------------------------ helpers for subclasses
    def _set_variation_weights(self, weights: Any, n_variations: int) -> None:
        """Validate and store ``weights`` (``None`` means equal weights) for ``n_variations``."""
        if weights is None:
            self.variation_weights = np.ones(n_variations)
            return
        weights = np.asarray(weights, dtype=float)
        if weights.shape != (n_variations,):
            raise PredictorError(
                f"{self.name}: variation_weights has shape {weights.shape}, expected ({n_variations},)"
            )
        if not np.all(np.isfinite(weights)) or np.any(weights < 0) or not weights.sum() > 0:
            raise PredictorError(
                f"{self.name}: variation_weights must be finite, non-negative and not all zero"
            )
        self.variation_weights = weights

    def _check_output(self, name: str, got: Sequence[int]) -> None:
        if tuple(got) != (self.n_variations, self.n_out):
            raise PredictorError(
                f"{self.name}: {name} has shape {tuple(got)}, expected "
                f"({self.n_variations}, {self.n_out})"
            )

    def __repr__(self) -> str:
        params = ", ".join(
            p.name if not p.shape else f"{p.name}{list(p.shape)}" for p in self.parameters
        )
        return f"<{type(self).__name__} {self.name!r}: ({params}) -> K={self.n_variations} x {self.n_out} bins>"
