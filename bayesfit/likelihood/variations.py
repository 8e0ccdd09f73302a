"""Systematic variations ("universes"): marginalising a discrete universe index.

A predictor with ``K`` universes gives expectations of shape ``(K, n)`` and weights ``w_k``.
:func:`marginalise_universes` sums the discrete universe index out inside the graph,
``L = sum_k w_k L_k / sum_k w_k``, computed as ``logsumexp(ln w_k + ln L_k) - ln sum_k w_k`` so
that NUTS samples the continuous parameters. After sampling, :func:`universe_probabilities`
recovers the posterior probability of every universe per draw. (Throws that define a continuous
nuisance instead are a :class:`~bayesfit.likelihood.constraints.ThrowConstraint`.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import disconnected_grad
from scipy.special import logsumexp as np_logsumexp

from bayesfit.errors import ModelError

__all__ = ["draw_universes", "log_weights", "marginalise_universes", "universe_probabilities"]


def log_weights(weights: Any) -> np.ndarray:
    """``ln(w_k / sum w)`` of non-negative weights ``(K,)``, validated (``-inf`` for zero weights)."""
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
    scores = pt.as_tensor_variable(log_weights(weights)) + pt.as_tensor_variable(universe_logp)
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
    scores = log_weights(weights) + np.asarray(universe_logp, dtype=float)
    return np.exp(scores - np_logsumexp(scores, axis=-1, keepdims=True))


def draw_universes(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One universe index per row of ``probabilities`` ``(S, K)``, drawn with those
    probabilities (one uniform number per row): ``(S,)`` integers."""
    cumulative = np.cumsum(probabilities, axis=1)
    picked = (rng.random((len(probabilities), 1)) * cumulative[:, -1:] > cumulative).sum(axis=1)
    return np.minimum(picked, probabilities.shape[1] - 1)
