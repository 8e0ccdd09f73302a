"""Inference on a :class:`bayesfit.model.BinnedModel`: fits, profiles, posteriors, p-values, evidences."""

from __future__ import annotations

from bayesfit.inference.bayes_factor import (
    BayesFactorResult,
    EvidenceResult,
    bayes_factor,
    log_evidence_smc,
    savage_dickey,
)
from bayesfit.inference.fit import FitResult, Objective, fit
from bayesfit.inference.posterior import SamplingWarning, diagnose, sample_posterior, universe_posterior
from bayesfit.inference.profile import ProfileScan, ProfileScan2D, profile_likelihood, profile_likelihood_2d
from bayesfit.inference.pvalues import (
    GoodnessOfFit,
    PosteriorPredictiveCheck,
    WilksResult,
    goodness_of_fit,
    posterior_predictive_pvalue,
    wilks_pvalue,
)
from bayesfit.inference.toys import SerialExecutor, ToyResult, generate_toys, toy_pvalue

__all__ = [
    "BayesFactorResult",
    "EvidenceResult",
    "FitResult",
    "GoodnessOfFit",
    "Objective",
    "PosteriorPredictiveCheck",
    "ProfileScan",
    "ProfileScan2D",
    "SamplingWarning",
    "SerialExecutor",
    "ToyResult",
    "WilksResult",
    "bayes_factor",
    "diagnose",
    "fit",
    "generate_toys",
    "goodness_of_fit",
    "log_evidence_smc",
    "posterior_predictive_pvalue",
    "profile_likelihood",
    "profile_likelihood_2d",
    "sample_posterior",
    "savage_dickey",
    "toy_pvalue",
    "universe_posterior",
    "wilks_pvalue",
]
