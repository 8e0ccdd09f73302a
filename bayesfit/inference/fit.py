"""Maximum-likelihood and MAP fits with a compiled objective and scipy's L-BFGS-B.

:class:`Objective` compiles ``-ln L`` (``ln k!`` included) and its gradient once, in natural
units, with the free variables packed into one vector ``x`` and the observed counts as a second
input. Profile scans (some entries fixed) and toy studies (new counts) reuse the same compiled
function; only the Hessian is compiled separately, on first use.

:func:`fit` minimises it from several starts and returns a :class:`FitResult` with values,
Hessian uncertainties, covariance and a convergence flag.

``kind="ml"`` minimises ``-ln L`` within the parameter bounds (priors ignored, constraints of
throw nuisances included); ``kind="map"`` adds ``-ln prior`` of every parameter with a proper
prior (flat ones only bound) and of the hyperparameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytensor
import pytensor.tensor as pt
from scipy.optimize import OptimizeResult, minimize

from bayesfit.errors import InferenceError, ModelError
from bayesfit.likelihood import check_observed
from bayesfit.model import BinnedModel, ModelParameter

__all__ = ["FitResult", "Objective", "fit"]

FIT_KINDS = ("ml", "map")

#: Smallest expectation in bins with data seen by the fit objective: keeps -ln L finite (see
#: :meth:`BinnedModel.log_likelihood`); it changes nothing where the likelihood is not negligible.
EXPECTED_FLOOR = 1e-100

#: Objective value reported to the minimiser where -ln L is infinite (L-BFGS-B needs finite values).
_IMPOSSIBLE = 1e30

#: Largest projected gradient of -ln L accepted as converged.
GRADIENT_TOLERANCE = 1e-3

#: L-BFGS-B settings: with exact gradients the minimum is found to ~1e-12 in -ln L, so parameter
#: values are reproducible to well below their uncertainties (override with ``fit(options=...)``).
MINIMIZER_OPTIONS = {"ftol": 1e-13, "gtol": 1e-6, "maxiter": 10_000}


class Objective:
    """Compiled negative log likelihood (or posterior) of a :class:`BinnedModel`.

    The free variables (:attr:`parameters`) are packed into a flat vector ``x`` in their order;
    :meth:`pack` and :meth:`unpack` convert between dicts and vectors.
    """

    def __init__(self, model: BinnedModel, kind: str = "ml") -> None:
        if kind not in FIT_KINDS:
            raise ModelError(f"unknown fit kind {kind!r}; valid: {list(FIT_KINDS)}")
        self.model = model
        self.kind = kind
        self.parameters: tuple[ModelParameter, ...] = tuple(
            p for p in model.free_parameters if kind == "map" or p.kind != "hyperparameter"
        )
        offsets = np.cumsum([0] + [p.size for p in self.parameters])
        self.slices = {p.name: slice(int(a), int(b)) for p, a, b in zip(self.parameters, offsets, offsets[1:])}
        self.size = int(offsets[-1])
        self._x = pt.vector("x", dtype="float64")
        self._observed = pt.vector("observed", dtype="float64")
        self._value = self._graph()
        self._value_and_grad = self._compile([self._value, pytensor.grad(self._value, self._x)])
        self._hessian: pytensor.compile.Function | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the compiled Hessian: it is half the pickle (toy workers, which ship the
        objective, do not need it) and is compiled again on first use."""
        return {**self.__dict__, "_hessian": None}

    def _compile(self, outputs: Any) -> pytensor.compile.Function:
        """A function of ``(x, observed)``; it trusts its inputs (float64 vectors of the right
        lengths, checked by the public methods), which saves a few microseconds per call."""
        if self.kind == "map":
            # PyMC's compile turns failed parameter checks of prior densities into -inf
            from pymc.pytensorf import compile as compile_with_checks

            function = compile_with_checks([self._x, self._observed], outputs)
        else:
            function = pytensor.function([self._x, self._observed], outputs)
        function.trust_input = True
        return function

    def _graph(self) -> pt.TensorVariable:
        point = {p.name: self._x[self.slices[p.name]].reshape(p.shape) for p in self.parameters}
        model = self.model
        terms = model.log_likelihood(
            model.predictor_values(point), self._observed, profile_scales=True, expected_floor=EXPECTED_FLOOR
        )
        log_density = terms.total + model.constraint_logp(point)
        if self.kind == "map":
            log_density = log_density + self._prior_logp(point)
        return -log_density

    def _prior_logp(self, point: Mapping[str, Any]) -> pt.TensorVariable:
        import pymc as pm

        total = pt.constant(0.0)
        for parameter in self.parameters:
            if parameter.kind == "throws" or parameter.prior.is_flat:
                continue  # throws constraints are counted already; flat priors are bounds only
            distribution = parameter.prior.dist(point, parameter.shape)
            total = total + pt.sum(pm.logp(distribution, point[parameter.name]))
        return total

    # ------------------------------------------------------------------ packing
    def pack(self, values: Mapping[str, Any]) -> np.ndarray:
        """A vector ``x`` from values of all free variables."""
        missing = sorted({p.name for p in self.parameters} - set(values))
        if missing:
            raise ModelError(f"values missing for {missing}")
        entries = [np.broadcast_to(np.asarray(values[p.name], float), p.shape).ravel() for p in self.parameters]
        return np.concatenate(entries)

    def unpack(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Values of all free variables from a vector ``x``."""
        return {p.name: np.asarray(x[self.slices[p.name]]).reshape(p.shape) for p in self.parameters}

    def labels(self) -> list[str]:
        """One label per entry of ``x``: ``name`` or ``name[i]``."""
        return [
            p.name if p.shape == () else f"{p.name}[{i}]"
            for p in self.parameters
            for i in range(p.size)
        ]

    def bounds(self) -> list[tuple[float | None, float | None]]:
        """L-BFGS-B bounds per entry of ``x`` (``None`` for unbounded)."""
        return [
            (p.lower if np.isfinite(p.lower) else None, p.upper if np.isfinite(p.upper) else None)
            for p in self.parameters
            for _ in range(p.size)
        ]

    def fixed_entries(self, fixed: Mapping[str, Any]) -> dict[int, float]:
        """Map ``{name or entry label: value}`` to ``{index in x: value}``."""
        labels = self.labels()
        entries: dict[int, float] = {}
        for key, value in fixed.items():
            if key in self.slices:
                variable = next(p for p in self.parameters if p.name == key)
                indices = range(self.slices[key].start, self.slices[key].stop)
                values = np.broadcast_to(np.asarray(value, dtype=float), variable.shape).ravel()
                entries.update(zip(indices, values.tolist()))
            elif key in labels:
                entries[labels.index(key)] = float(value)
            else:
                raise ModelError(f"fixed: unknown parameter {key!r}; free variables are {labels}")
        return entries

    # ------------------------------------------------------------------ evaluation
    def _counts(self, observed: Any | None) -> np.ndarray:
        if observed is None:
            return self.model.observed
        return check_observed(observed, self.model.predictor.n_out, allow_noninteger=True)

    def _vector(self, x: Any) -> np.ndarray:
        """``x`` as a float64 vector of the objective's size."""
        vector = np.ascontiguousarray(x, dtype=np.float64)
        if vector.shape != (self.size,):
            raise ModelError(f"x must have shape ({self.size},) for {self.labels()}, got {vector.shape}")
        return vector

    def __call__(self, x: np.ndarray, observed: Any | None = None) -> float:
        """``-ln L`` at ``x`` (default: the model's counts)."""
        return float(self._value_and_grad(self._vector(x), self._counts(observed))[0])

    def value_and_grad(self, x: np.ndarray, observed: np.ndarray) -> tuple[float, np.ndarray]:
        """``-ln L`` and its gradient (the fits' hot path, inputs unchecked): ``x`` and ``observed``
        must be float64 vectors of the right lengths (``observed`` as validated by :func:`fit`)."""
        value, gradient = self._value_and_grad(x, observed)
        return float(value), np.array(gradient)  # a copy: PyTensor may reuse output buffers

    def hessian(self, x: np.ndarray, observed: Any | None = None) -> np.ndarray:
        """Hessian of ``-ln L`` by automatic differentiation, ``(size, size)``."""
        if self._hessian is None:
            self._hessian = self._compile(pytensor.gradient.hessian(self._value, self._x))
        return np.asarray(self._hessian(self._vector(x), self._counts(observed)))


@dataclass(frozen=True)
class FitResult:
    """Result of :func:`fit`.

    Attributes
    ----------
    values, errors:
        Best-fit value and Hessian uncertainty of every free variable (``errors`` is 0 for fixed
        ones and NaN where the Hessian is not positive definite).
    covariance:
        Covariance of the flat vector of free entries, ``(size, size)``, labelled by ``labels``
        (rows/columns of fixed entries are 0).
    nll:
        ``-ln L`` at the minimum (``ln k!`` included; ``-ln posterior`` for MAP).
    converged:
        The projected gradient is below ``GRADIENT_TOLERANCE`` and the Hessian of the free
        entries is positive definite (the minimiser's own flag is in ``message``).
    message, n_starts, all_nll:
        Minimiser message of the best start, number of starts, ``-ln L`` reached from each.
    """

    values: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]
    covariance: np.ndarray
    labels: list[str]
    nll: float
    converged: bool
    message: str
    n_starts: int
    all_nll: np.ndarray
    x: np.ndarray

    def __repr__(self) -> str:
        lines = [f"FitResult(nll={self.nll:.6f}, converged={self.converged})"]
        for name, value in self.values.items():
            error = np.array2string(self.errors[name], precision=3)
            lines.append(f"  {name} = {np.array2string(value, precision=5)} +- {error}")
        return "\n".join(lines)


def fit(
    model: BinnedModel | Objective,
    *,
    kind: str | None = None,
    observed: Any | None = None,
    fixed: Mapping[str, Any] | None = None,
    starts: Sequence[Mapping[str, Any]] | None = None,
    n_random_starts: int = 2,
    seed: int | None = 0,
    options: Mapping[str, Any] | None = None,
    errors: bool = True,
) -> FitResult:
    """Minimise ``-ln L`` (``kind="ml"``) or ``-ln posterior`` (``kind="map"``) with L-BFGS-B.

    Parameters
    ----------
    model:
        A :class:`BinnedModel`, or an :class:`Objective` to reuse its compiled function (scans, toys).
    observed:
        Counts to fit instead of the model's (toys, Asimov data; non-integer allowed).
    kind:
        ``"ml"`` (default for a model) or ``"map"``; an objective brings its own.
    fixed:
        Values held fixed (profile scans), by variable name (whole variable) or entry label
        (``"norm[1]"``, see :meth:`Objective.labels`).
    starts:
        Start points (partial dicts, completed with the model's start); default: the model's start.
    n_random_starts:
        Additional random starts near the first one, inside the bounds.
    errors:
        Compute the Hessian for ``errors`` and ``covariance``; ``False`` skips it (toy fits, which
        need only ``-ln L``): both are NaN and ``converged`` is judged by the gradient alone.
    """
    objective = model if isinstance(model, Objective) else Objective(model, kind or "ml")
    if kind is not None and kind != objective.kind:
        raise ModelError(f"fit kind {kind!r} differs from the objective's kind {objective.kind!r}")
    counts = objective._counts(observed)
    fixed_entries = objective.fixed_entries(fixed or {})
    free = np.ones(objective.size, dtype=bool)
    free[list(fixed_entries)] = False

    def packed(point: Mapping[str, Any]) -> np.ndarray:
        x = objective.pack({**objective.model.start_point(), **point})
        x[list(fixed_entries)] = list(fixed_entries.values())
        return x

    rng = np.random.default_rng(seed)
    start_vectors = [packed(s) for s in (starts or [{}])]
    start_vectors += [packed(objective.model.random_point(rng)) for _ in range(n_random_starts)]
    x_fixed = start_vectors[0]
    bounds = [b for b, f in zip(objective.bounds(), free) if f]

    def function(free_x: np.ndarray) -> tuple[float, np.ndarray]:
        x = x_fixed.copy()
        x[free] = free_x
        value, gradient = objective.value_and_grad(x, counts)
        if not np.isfinite(value) or not np.all(np.isfinite(gradient)):
            # e.g. a step to mu = 0 where data are: a huge finite value makes the line search back off
            return _IMPOSSIBLE, np.zeros_like(free_x)
        return value, gradient[free]

    results = []
    for start in start_vectors:
        x0 = start[free]
        value, _ = function(x0)
        if value >= _IMPOSSIBLE:
            continue
        if not free.any():  # e.g. a profile point of a one-parameter model: nothing to minimise
            results.append(OptimizeResult(x=x0, fun=value, success=True, message="all entries fixed"))
            continue
        results.append(
            minimize(function, x0, jac=True, method="L-BFGS-B", bounds=bounds, options={**MINIMIZER_OPTIONS, **(options or {})})
        )
    if not results:
        raise InferenceError("-ln L is not finite at any start point; check starts and data")
    best = min(results, key=lambda r: r.fun)
    x_best = x_fixed.copy()
    x_best[free] = best.x
    if errors:
        covariance, positive = _covariance(objective.hessian(x_best, counts), free)
    else:
        covariance, positive = np.full((objective.size, objective.size), np.nan), True
    stationary = _projected_gradient_norm(function(best.x)[1], best.x, bounds) < GRADIENT_TOLERANCE
    variances = np.diag(covariance)
    return FitResult(
        values=objective.unpack(x_best),
        errors=objective.unpack(np.sqrt(np.where(variances >= 0, variances, np.nan))),
        covariance=covariance,
        labels=objective.labels(),
        nll=float(best.fun),
        # L-BFGS-B may end "ABNORMAL" on rounding noise at the minimum: judge by the gradient instead
        converged=positive and stationary,
        message=str(best.message),
        n_starts=len(start_vectors),
        all_nll=np.array([r.fun for r in results]),
        x=x_best,
    )


def _projected_gradient_norm(
    gradient: np.ndarray, x: np.ndarray, bounds: Sequence[tuple[float | None, float | None]]
) -> float:
    """Largest gradient component that is not pushing against an active bound."""
    lower = np.array([-np.inf if b[0] is None else b[0] for b in bounds])
    upper = np.array([np.inf if b[1] is None else b[1] for b in bounds])
    blocked = ((x <= lower) & (gradient > 0)) | ((x >= upper) & (gradient < 0))
    return float(np.max(np.abs(np.where(blocked, 0.0, gradient)), initial=0.0))


def _covariance(hessian: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, bool]:
    """Inverse of the Hessian restricted to the free entries, embedded in a full matrix."""
    covariance = np.zeros_like(hessian)
    block = hessian[np.ix_(free, free)]
    try:
        np.linalg.cholesky(block)
    except np.linalg.LinAlgError:
        covariance[np.ix_(free, free)] = np.nan
        return covariance, False
    inverse = np.linalg.inv(block)
    covariance[np.ix_(free, free)] = inverse
    return covariance, True
