"""Inference on a :class:`bayesfit.model.BinnedModel`: NUTS posteriors, ML/MAP fits, profiles."""

from __future__ import annotations

from bayesfit.inference.fit import FitResult, Objective, fit
from bayesfit.inference.posterior import SamplingWarning, diagnose, sample_posterior, universe_posterior
from bayesfit.inference.profile import ProfileScan, ProfileScan2D, profile_likelihood, profile_likelihood_2d

__all__ = [
    "FitResult",
    "Objective",
    "ProfileScan",
    "ProfileScan2D",
    "SamplingWarning",
    "diagnose",
    "fit",
    "profile_likelihood",
    "profile_likelihood_2d",
    "sample_posterior",
    "universe_posterior",
]
