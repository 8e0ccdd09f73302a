"""The Poisson log likelihood per bin, and validation of observed counts.

``ln L_i = k_i ln mu_i - mu_i - ln Gamma(k_i + 1)`` with ``ln k!`` included, so that numbers compare
with hand-written analyses. Zero expectation is handled exactly: ``mu = 0, k = 0`` contributes
``0``; ``mu = 0, k > 0`` is ``-inf`` (a model that forces it is rejected when it is built, see
:func:`impossible_bins`). A negative expectation is impossible: ``-inf`` whatever ``k``. Non-integer
counts (Asimov data, auxiliary measurements) use the same formula, the continuous extension of
the Poisson probability. This is the package's one Poisson log likelihood: main bins, the Poisson
constraints of auxiliary counts and the HistFactory reading all use it; its maximum over ``mu``
(:func:`saturated_poisson_logp`) and the deviance from that maximum (:func:`poisson_deviance`),
the numpy quantities of goodness-of-fit tests, are derived here from the same formula.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytensor.tensor as pt

from scipy import special

from bayesfit.binning.histogram import as_counts
from bayesfit.errors import LikelihoodError

__all__ = ["check_observed", "impossible_bins", "poisson_deviance", "poisson_logp", "saturated_poisson_logp"]


def poisson_logp(observed: Any, expected: Any) -> pt.TensorVariable:
    """Per-bin Poisson log likelihood, ``ln k!`` included.

    Parameters
    ----------
    observed:
        Counts ``k``, shape ``(n,)`` (numpy array or tensor; non-integer values are allowed).
    expected:
        Expectations ``mu >= 0``, shape ``(n,)`` or ``(K, n)`` (one row per universe).

    Returns
    -------
    A tensor broadcast to the shape of ``expected``. Bins with ``k = 0`` contribute ``-mu``
    (``0`` for ``mu = 0``), and their gradient is ``-1`` even at ``mu = 0`` (no ``0 * inf``);
    bins with ``mu < 0`` contribute ``-inf``.
    """
    observed = pt.as_tensor_variable(observed, dtype="float64")
    expected = pt.as_tensor_variable(expected)
    empty = pt.eq(observed, 0)
    # where k = 0 the k ln(mu) term is 0; a safe mu keeps its value and gradient finite there
    safe_expected = pt.switch(empty, 1.0, expected)
    terms = observed * pt.log(safe_expected) - expected - pt.gammaln(observed + 1.0)
    return pt.switch(pt.lt(expected, 0), -np.inf, terms)


def saturated_poisson_logp(observed: np.ndarray) -> np.ndarray:
    """The maximum of :func:`poisson_logp` over ``mu``, reached at ``mu = k``: ``k ln k - k - ln k!``
    (``0`` for ``k = 0``), summed over the last axis of ``observed``, shape ``(..., n)``."""
    observed = np.asarray(observed, dtype=float)
    return np.sum(special.xlogy(observed, observed) - observed - special.gammaln(observed + 1.0), axis=-1)


def poisson_deviance(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Saturated Poisson deviance ``2 sum_i [mu_i - k_i + k_i ln(k_i / mu_i)]`` over the last axis:
    twice the distance of :func:`poisson_logp` from its maximum; shapes broadcast, ``(..., n)``."""
    observed = np.asarray(observed, dtype=float)
    expected = np.asarray(expected, dtype=float)
    return 2.0 * np.sum(
        expected - observed + special.xlogy(observed, observed) - special.xlogy(observed, expected), axis=-1
    )


def check_observed(observed: Any, n_bins: int, *, allow_noninteger: bool = False) -> np.ndarray:
    """Validate observed counts and return them as a float array of shape ``(n_bins,)``.

    ``observed`` is an array, a :class:`~bayesfit.binning.Histogram` or a :class:`hist.Hist` (see
    :func:`~bayesfit.binning.as_counts`; hist flow bins must be empty). Raises :class:`~bayesfit.errors.LikelihoodError` naming the first offending bin when the
    length differs from the predictor's ``n_out``, or a count is negative, non-finite or (unless
    ``allow_noninteger``, for Asimov data) not an integer.
    """
    counts = as_counts(observed)
    if counts.ndim != 1 or counts.shape[0] != n_bins:
        raise LikelihoodError(
            f"observed counts have shape {counts.shape}, expected ({n_bins},) to match the predictor"
        )
    checks = [
        (~np.isfinite(counts), "is not finite"),
        (counts < 0, "is negative"),
    ]
    if not allow_noninteger:
        checks.append(
            (counts != np.round(counts), "is not an integer (pass allow_noninteger=True for Asimov data)")
        )
    for bad, what in checks:
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise LikelihoodError(
                f"observed count in bin {first} = {float(counts[first])!r} {what}; "
                f"{int(bad.sum())} bin(s) affected"
            )
    return counts


def impossible_bins(observed: np.ndarray, expectations: np.ndarray) -> np.ndarray:
    """Indices of bins with data where every expectation is zero, i.e. ``mu = 0, k > 0`` always.

    ``expectations`` stacks the expected counts at several parameter points and universes,
    shape ``(..., n)``; ``observed`` has shape ``(n,)``.
    """
    expectations = np.asarray(expectations, dtype=float).reshape(-1, np.shape(observed)[0])
    never_reached = np.all(expectations == 0, axis=0)
    return np.flatnonzero(never_reached & (np.asarray(observed) > 0))
