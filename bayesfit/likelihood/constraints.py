"""Auxiliary measurements ("constraints") of model variables.

A constraint ties entries of one model variable to auxiliary data ``a`` measured elsewhere (a
calibration, a control sample, the spread of flux throws). The auxiliary data are part of the
observed data: frequentist toys resample them from the constraint's own distribution, and the
likelihood of a fit contains the constraint term. In the Bayesian reading the same measurement is
a prior on the variable: the posterior of ``theta`` given ``a`` under a flat prior.

================================  ===================================  =================================
constraint                        likelihood term of the aux data       Bayesian reading (prior)
================================  ===================================  =================================
:class:`GaussianConstraint`       ``Normal(a | theta, sigma)``          ``Normal(mu=a, sigma)``
:class:`PoissonConstraint`        ``Poisson(a | tau * theta)``          ``Gamma(alpha=a + 1, beta=tau)``
:class:`ThrowConstraint`          ``Normal(0 | z, 1)`` per component    ``Normal(0, 1)`` per component
================================  ===================================  =================================

Normalisation constants are kept (``-2 ln`` of the Gaussian and Poisson terms is that of pyhf's
HistFactory constraints), and the Poisson term uses ``ln Gamma(a + 1)`` for non-integer ``a``.

A :class:`ThrowConstraint` turns a vector parameter (e.g. a flux per energy bin) into a
multivariate normal nuisance estimated from throws, without a Cholesky factor of a possibly
singular covariance: the model's free variable is ``z`` (``rank`` standard-normal components,
named ``<parameter>_throw``) and the parameter is ``mean + loadings @ z``.

Everything here is numpy and PyTensor; :mod:`bayesfit.model` turns the Bayesian reading into PyMC.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytensor.tensor as pt

from bayesfit.errors import ModelError
from bayesfit.likelihood.poisson import poisson_logp, saturated_poisson_logp
from bayesfit.likelihood.variations import log_weights
from bayesfit.priors import Prior

__all__ = ["Constraint", "GaussianConstraint", "PoissonConstraint", "ThrowConstraint"]


def _entries(entries: Sequence[int] | np.ndarray | None, n_aux: int, owner: str) -> np.ndarray | None:
    if entries is None:
        return None
    index = np.asarray(entries, dtype=np.int64).ravel()
    if index.size != n_aux:
        raise ModelError(f"{owner}: {index.size} entries for {n_aux} auxiliary measurement(s)")
    if np.unique(index).size != index.size or np.any(index < 0):
        raise ModelError(f"{owner}: entries must be distinct non-negative flat indices, got {index.tolist()}")
    return index


def _positive(values: Any, what: str, owner: str, size: int) -> np.ndarray:
    array = np.broadcast_to(np.asarray(values, dtype=float), (size,)).copy()
    bad = ~np.isfinite(array) | (array <= 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ModelError(f"{owner}: {what}[{first}] = {array[first]!r} must be finite and > 0")
    return array


class Constraint(ABC):
    """An auxiliary measurement of some entries of the model variable ``variable``.

    Attributes
    ----------
    variable:
        Name of the model variable constrained (a predictor parameter, or the components of a
        :class:`ThrowConstraint`).
    auxdata:
        The auxiliary measurements ``a``, ``(n_aux,)``.
    entries:
        Flat indices of the constrained entries of ``variable``, ``(n_aux,)``; ``None``: all of
        them, in order (then ``n_aux`` is the variable's size).
    """

    def __init__(self, variable: str, auxdata: Any, entries: Sequence[int] | np.ndarray | None = None) -> None:
        if not isinstance(variable, str) or not variable:
            raise ModelError(f"a constraint needs the name of the variable it constrains, got {variable!r}")
        self.variable = variable
        auxdata = np.atleast_1d(np.asarray(auxdata, dtype=float))
        if auxdata.ndim != 1 or auxdata.size == 0 or not np.all(np.isfinite(auxdata)):
            raise ModelError(f"{self}: auxdata must be a non-empty 1-D array of finite values")
        self.auxdata = auxdata
        self.entries = _entries(entries, auxdata.size, str(self))

    @property
    def size(self) -> int:
        """Number of auxiliary measurements."""
        return int(self.auxdata.size)

    def flat_entries(self, variable_size: int) -> np.ndarray:
        """Flat indices of the constrained entries in a variable of ``variable_size`` entries."""
        if self.entries is None:
            if variable_size != self.size:
                raise ModelError(
                    f"{self}: {self.size} auxiliary measurement(s) for variable {self.variable!r} of "
                    f"{variable_size} entries; give entries= to say which ones"
                )
            return np.arange(self.size)
        if self.entries.max() >= variable_size:
            raise ModelError(
                f"{self}: entry {int(self.entries.max())} is outside variable {self.variable!r} "
                f"of {variable_size} entries"
            )
        return self.entries

    # ------------------------------------------------------------------ the measurement
    @abstractmethod
    def logpdf(self, aux: Any, values: Any) -> pt.TensorVariable:
        """``ln p(aux | values)`` summed over the measurements; ``values`` are the constrained
        entries ``(n_aux,)`` (a tensor), ``aux`` the auxiliary data ``(n_aux,)``."""

    @abstractmethod
    def expected_aux(self, values: np.ndarray) -> np.ndarray:
        """Expected auxiliary data (Asimov) at the constrained entries ``values``, ``(n_aux,)``."""

    @abstractmethod
    def sample_aux(self, values: np.ndarray, rng: np.random.Generator, n_toys: int | None = None) -> np.ndarray:
        """Draws of the auxiliary data at the constrained entries ``values``: one ``(n_aux,)``, or
        ``n_toys`` of them ``(n_toys, n_aux)`` drawn toy after toy from ``rng`` (so the first
        toys do not change when ``n_toys`` grows)."""

    @abstractmethod
    def saturated_logpdf(self, aux: np.ndarray) -> float | np.ndarray:
        """``max_theta ln p(aux | theta)``: the saturated model of the auxiliary data ``(..., n_aux)``
        (a float for one measurement vector, an array ``(...)`` for several)."""

    @abstractmethod
    def priors(self) -> list[Prior]:
        """The Bayesian reading: one prior per constrained entry, ``n_aux`` of them."""

    def __str__(self) -> str:
        return f"{type(self).__name__}({self.variable!r})"

    __repr__ = __str__


class GaussianConstraint(Constraint):
    """``a ~ Normal(theta, sigma)``: a measurement with Gaussian resolution ``sigma`` ``(n_aux,)``."""

    def __init__(
        self, variable: str, auxdata: Any, sigma: Any, entries: Sequence[int] | np.ndarray | None = None
    ) -> None:
        super().__init__(variable, auxdata, entries)
        self.sigma = _positive(sigma, "sigma", str(self), self.size)

    def logpdf(self, aux: Any, values: Any) -> pt.TensorVariable:
        pull = (pt.as_tensor_variable(aux) - values) / self.sigma
        return pt.sum(-0.5 * pull**2) - float(np.sum(np.log(self.sigma * np.sqrt(2.0 * np.pi))))

    def expected_aux(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=float).copy()

    def sample_aux(self, values: np.ndarray, rng: np.random.Generator, n_toys: int | None = None) -> np.ndarray:
        return rng.normal(values, self.sigma, size=None if n_toys is None else (n_toys, self.size))

    def saturated_logpdf(self, aux: np.ndarray) -> float | np.ndarray:
        value = -float(np.sum(np.log(self.sigma * np.sqrt(2.0 * np.pi))))
        shape = np.shape(aux)[:-1]
        return value if not shape else np.full(shape, value)

    def priors(self) -> list[Prior]:
        return [Prior("Normal", mu=float(a), sigma=float(s)) for a, s in zip(self.auxdata, self.sigma)]


class PoissonConstraint(Constraint):
    """``a ~ Poisson(tau * theta)``: an auxiliary count with scale ``factors`` (``tau``, ``(n_aux,)``).

    HistFactory's shapesys: ``tau = (nominal / uncertainty)^2`` and ``a = tau`` at ``theta = 1``.
    """

    def __init__(
        self, variable: str, auxdata: Any, factors: Any, entries: Sequence[int] | np.ndarray | None = None
    ) -> None:
        super().__init__(variable, auxdata, entries)
        self.factors = _positive(factors, "factors", str(self), self.size)
        if np.any(self.auxdata < 0):
            raise ModelError(f"{self}: auxiliary counts must be >= 0, got {self.auxdata.min():g}")

    def logpdf(self, aux: Any, values: Any) -> pt.TensorVariable:
        return pt.sum(poisson_logp(aux, self.factors * values))

    def expected_aux(self, values: np.ndarray) -> np.ndarray:
        return self.factors * np.asarray(values, dtype=float)

    def sample_aux(self, values: np.ndarray, rng: np.random.Generator, n_toys: int | None = None) -> np.ndarray:
        rates = self.factors * np.maximum(np.asarray(values, dtype=float), 0.0)
        return rng.poisson(rates, size=None if n_toys is None else (n_toys, self.size)).astype(float)

    def saturated_logpdf(self, aux: np.ndarray) -> float | np.ndarray:
        value = saturated_poisson_logp(aux)
        return float(value) if np.ndim(value) == 0 else value

    def priors(self) -> list[Prior]:
        return [Prior("Gamma", alpha=float(a) + 1.0, beta=float(t)) for a, t in zip(self.auxdata, self.factors)]


class ThrowConstraint(GaussianConstraint):
    """A vector parameter with a multivariate normal estimated from weighted throws.

    Parameters
    ----------
    parameter:
        Name of the predictor parameter (shape ``(size,)``) the throws sample, e.g. ``"flux"``.
    throws:
        ``(n_throws, size)``: one sampled value of the parameter per row.
    weights:
        Weight per throw, ``(n_throws,)``; equal by default.
    tolerance:
        Eigenvalues of the covariance below ``tolerance * largest`` are dropped.

    The model's free variable is ``<parameter>_throw``, the components ``z`` ``(rank,)`` with
    ``parameter = mean + loadings @ z``; each component is constrained by ``Normal(0 | z, 1)``.
    Attributes ``mean`` ``(size,)``, ``covariance`` ``(size, size)`` and ``loadings``
    ``(size, rank)`` describe the estimate.
    """

    def __init__(self, parameter: str, throws: Any, weights: Any = None, tolerance: float = 1e-10) -> None:
        throws = np.asarray(throws, dtype=float)
        if throws.ndim != 2 or throws.shape[0] < 2:
            raise ModelError(f"throws of {parameter!r} must have shape (n_throws >= 2, size), got {throws.shape}")
        if not np.all(np.isfinite(throws)):
            raise ModelError(f"throws of {parameter!r} contain non-finite values")
        weights = np.ones(throws.shape[0]) if weights is None else np.asarray(weights, dtype=float)
        if weights.shape != (throws.shape[0],):
            raise ModelError(
                f"throw weights of {parameter!r} have shape {weights.shape}, expected ({throws.shape[0]},)"
            )
        probabilities = np.exp(log_weights(weights))
        mean = probabilities @ throws
        deviations = throws - mean
        # unbiased weighted covariance (reliability weights)
        covariance = (deviations * probabilities[:, None]).T @ deviations / (1.0 - np.sum(probabilities**2))
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        keep = eigenvalues > tolerance * max(eigenvalues.max(), 0.0)
        if not keep.any():
            raise ModelError(f"throws of {parameter!r} do not vary: their covariance is zero")
        self.parameter = parameter
        self.throws, self.weights, self.tolerance = throws, weights, tolerance
        self.mean, self.covariance = mean, covariance
        self.loadings = eigenvectors[:, keep] * np.sqrt(eigenvalues[keep])
        super().__init__(f"{parameter}_throw", np.zeros(self.rank), np.ones(self.rank))

    @property
    def rank(self) -> int:
        """Number of independent standard-normal components ``z``."""
        return int(self.loadings.shape[1])

    @property
    def parameter_size(self) -> int:
        """Length of the parameter vector the throws sample."""
        return int(self.mean.size)

    def value(self, components: Any) -> Any:
        """The parameter ``mean + loadings @ z`` for components ``z`` ``(rank,)`` (numpy or tensor)."""
        if isinstance(components, np.ndarray):
            return self.mean + self.loadings @ components
        return pt.as_tensor_variable(self.mean) + pt.dot(pt.as_tensor_variable(self.loadings), components)

    def __str__(self) -> str:
        return f"ThrowConstraint({getattr(self, 'parameter', '?')!r})"

    __repr__ = __str__
