"""Per-bin likelihoods for binned counts, and the treatment of systematic variations.

Every function here is a pure PyTensor graph builder (no PyMC), usable on ``(K, n)`` expectations
of ``K`` universes, and the auxiliary measurements (constraints) are numpy and PyTensor;
:class:`bayesfit.model.BinnedModel` assembles them into its log density.
"""

from __future__ import annotations

from typing import Any

import pytensor.tensor as pt

from bayesfit.errors import ModelError
from bayesfit.likelihood.mc_statistics import (
    barlow_beeston_lite_logp,
    barlow_beeston_lite_scales,
    barlow_beeston_scaled_logp,
    effective_logp,
)
from bayesfit.likelihood.constraints import Constraint, GaussianConstraint, PoissonConstraint, ThrowConstraint
from bayesfit.likelihood.poisson import check_observed, impossible_bins, poisson_logp
from bayesfit.likelihood.variations import draw_universes, marginalise_universes, universe_probabilities

__all__ = [
    "LIKELIHOODS",
    "Constraint",
    "GaussianConstraint",
    "PoissonConstraint",
    "ThrowConstraint",
    "barlow_beeston_lite_logp",
    "barlow_beeston_lite_scales",
    "barlow_beeston_scaled_logp",
    "bin_logp",
    "check_likelihood_name",
    "check_observed",
    "draw_universes",
    "effective_logp",
    "impossible_bins",
    "marginalise_universes",
    "needs_sumw2",
    "poisson_logp",
    "universe_probabilities",
]

#: Likelihood names accepted by :func:`bin_logp` and :class:`bayesfit.model.BinnedModel`.
LIKELIHOODS: tuple[str, ...] = ("poisson", "effective", "barlow-beeston-lite", "barlow-beeston-sampled")


def needs_sumw2(likelihood: str) -> bool:
    """Whether ``likelihood`` uses the sum of squared Monte Carlo weights."""
    return check_likelihood_name(likelihood) != "poisson"


def check_likelihood_name(likelihood: str) -> str:
    """Return ``likelihood`` if it is known, else raise :class:`ModelError` listing the valid ones."""
    if likelihood not in LIKELIHOODS:
        raise ModelError(f"unknown likelihood {likelihood!r}; valid: {list(LIKELIHOODS)}")
    return likelihood


def bin_logp(
    likelihood: str,
    observed: Any,
    expected: Any,
    sumw2: Any = None,
    scales: Any = None,
) -> pt.TensorVariable:
    """Per-bin log likelihood of the named kind, shape of ``expected`` (``(n,)`` or ``(K, n)``).

    ``sumw2`` is required by the finite-MC-statistics likelihoods, ``scales`` (the sampled
    per-bin scales, ``(n,)``) by ``"barlow-beeston-sampled"``.
    """
    check_likelihood_name(likelihood)
    if likelihood == "poisson":
        return poisson_logp(observed, expected)
    if sumw2 is None:
        raise ModelError(f"likelihood {likelihood!r} needs the sum of squared weights, but none was given")
    if likelihood == "effective":
        return effective_logp(observed, expected, sumw2)
    if likelihood == "barlow-beeston-lite":
        return barlow_beeston_lite_logp(observed, expected, sumw2)
    if scales is None:
        raise ModelError("likelihood 'barlow-beeston-sampled' needs the sampled per-bin scales")
    return barlow_beeston_scaled_logp(observed, expected, sumw2, scales)
