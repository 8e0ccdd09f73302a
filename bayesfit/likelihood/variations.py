"""Systematic variations ("universes"): marginalising a discrete universe index, and throws.

A predictor with ``K`` universes gives expectations of shape ``(K, n)`` and weights ``w_k``.
Two treatments are offered here:

- :func:`marginalise_universes`: the discrete universe index is summed out inside the graph,
  ``L = sum_k w_k L_k / sum_k w_k``, computed as
  ``logsumexp(ln w_k + ln L_k) - ln sum_k w_k`` so that NUTS samples the continuous parameters.
  After sampling, :func:`universe_probabilities` recovers the posterior probability of every
  universe per draw.
- :class:`ThrowNuisance`: a vector parameter (e.g. a flux per bin) whose throws define a
  multivariate normal prior. It is parametrised without a Cholesky factor of a possibly singular
  covariance: ``value = mean + loadings @ z`` with ``z ~ N(0, 1)`` of dimension ``rank``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import disconnected_grad
from scipy.special import logsumexp as np_logsumexp

from bayesfit.errors import ModelError

__all__ = ["ThrowNuisance", "marginalise_universes", "universe_probabilities"]


def _log_weights(weights: Any) -> np.ndarray:
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 1 or weights.size == 0 or np.any(weights < 0) or not np.all(np.isfinite(weights)):
        raise ModelError(f"universe weights must be a non-empty 1-D array of finite values >= 0, got {weights!r}")
    if weights.sum() <= 0:
        raise ModelError("universe weights sum to zero")
    with np.errstate(divide="ignore"):
        return np.log(weights) - np.log(weights.sum())


def marginalise_universes(universe_logp: Any, weights: Any) -> pt.TensorVariable:
    """``ln( sum_k w_k L_k / sum_k w_k )`` from per-universe log likelihoods, shape ``(K,)`` -> ``()``.

    ``universe_logp`` holds ``ln L_k`` (the sum over bins of universe ``k``); ``weights`` are the
    ``w_k`` (numpy, ``(K,)``, non-negative).
    """
    scores = pt.as_tensor_variable(_log_weights(weights)) + pt.as_tensor_variable(universe_logp)
    # Shift by the largest score (held constant for the gradient, which does not depend on it), so
    # that neither the value nor the gradient underflows when every universe fits badly: PyTensor's
    # own logsumexp stabilises the value but not always its gradient (0/0 = NaN).
    shift = disconnected_grad(pt.max(scores, axis=-1, keepdims=True))
    shift = pt.switch(pt.isinf(shift), 0.0, shift)  # all universes impossible: -inf, not NaN
    return pt.squeeze(shift, axis=-1) + pt.log(pt.sum(pt.exp(scores - shift), axis=-1))


def universe_probabilities(universe_logp: np.ndarray, weights: Any) -> np.ndarray:
    """Posterior probability of every universe given the parameters, ``(..., K)`` -> ``(..., K)``.

    ``p_k = w_k L_k / sum_j w_j L_j`` evaluated per draw (numpy, any leading axes).
    """
    scores = _log_weights(weights) + np.asarray(universe_logp, dtype=float)
    return np.exp(scores - np_logsumexp(scores, axis=-1, keepdims=True))


@dataclass(frozen=True)
class ThrowNuisance:
    """A multivariate normal prior for a vector parameter, estimated from weighted throws.

    Attributes
    ----------
    throws:
        Array ``(n_throws, size)``: one sampled value of the parameter per row (e.g. a flux per
        energy bin from flux-model throws).
    weights:
        Optional weights per throw, ``(n_throws,)``; equal weights by default.
    tolerance:
        Eigenvalues below ``tolerance * largest`` are dropped from the loadings.
    """

    throws: np.ndarray
    weights: np.ndarray | None = None
    tolerance: float = 1e-10
    mean: np.ndarray = field(init=False, repr=False)
    covariance: np.ndarray = field(init=False, repr=False)
    loadings: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        throws = np.asarray(self.throws, dtype=float)
        if throws.ndim != 2 or throws.shape[0] < 2:
            raise ModelError(f"throws must have shape (n_throws >= 2, size), got {throws.shape}")
        if not np.all(np.isfinite(throws)):
            raise ModelError("throws contain non-finite values")
        weights = np.ones(throws.shape[0]) if self.weights is None else np.asarray(self.weights, float)
        if weights.shape != (throws.shape[0],):
            raise ModelError(f"throw weights have shape {weights.shape}, expected ({throws.shape[0]},)")
        probabilities = np.exp(_log_weights(weights))
        mean = probabilities @ throws
        deviations = throws - mean
        # unbiased weighted covariance (reliability weights)
        covariance = (deviations * probabilities[:, None]).T @ deviations / (1.0 - np.sum(probabilities**2))
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        keep = eigenvalues > self.tolerance * max(eigenvalues.max(), 0.0)
        if not keep.any():
            raise ModelError("throws do not vary: their covariance is zero")
        object.__setattr__(self, "throws", throws)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "covariance", covariance)
        object.__setattr__(self, "loadings", eigenvectors[:, keep] * np.sqrt(eigenvalues[keep]))

    @property
    def size(self) -> int:
        """Length of the parameter vector."""
        return int(self.mean.size)

    @property
    def rank(self) -> int:
        """Number of independent standard-normal components ``z``."""
        return int(self.loadings.shape[1])

    def value(self, components: Any) -> Any:
        """The parameter vector ``mean + loadings @ z`` for components ``z`` of shape ``(rank,)``."""
        return pt.as_tensor_variable(self.mean) + pt.dot(pt.as_tensor_variable(self.loadings), components)
