"""Inference on any :class:`bayesfit.model.BinnedModel`: fits, profiles, tests, limits, posteriors, evidences.

Every function takes the model (or its compiled objective) and returns a type of
:mod:`bayesfit.inference.results`:

- frequentist: :func:`fit` (ML, MAP), :func:`profile_likelihood` (1-D, 2-D), :func:`wilks_pvalue`,
  :func:`goodness_of_fit`, :func:`toy_pvalue`, :func:`hypotest` (``q0``, ``qmu``, ``qmu_tilde``,
  ``tmu``, ``tmu_tilde``; asymptotic or toys), :func:`upper_limit` (CLs, or credible),
  :func:`limit_scan` (limits over labelled hypotheses, e.g. a patchset, on an executor),
  :func:`ranking` (impacts of the constrained entries on the POI);
- Bayesian: :func:`sample_posterior` (NUTS), :func:`sample_prior`, :func:`posterior_predictive_pvalue`,
  :func:`log_evidence_smc`, :func:`savage_dickey`, :func:`bayes_factor`.
"""

from __future__ import annotations

from bayesfit.inference.bayes_factor import bayes_factor, log_evidence_smc, savage_dickey
from bayesfit.inference.fit import fit
from bayesfit.inference.hypotest import hypotest, upper_limit
from bayesfit.inference.limit_scan import limit_scan
from bayesfit.inference.objective import Objective, objective_for
from bayesfit.inference.posterior import SamplingWarning, diagnose, sample_posterior, sample_prior, universe_posterior
from bayesfit.inference.profile import profile_likelihood, profile_likelihood_2d
from bayesfit.inference.ranking import ranking
from bayesfit.inference.pvalues import goodness_of_fit, posterior_predictive_pvalue, wilks_pvalue
from bayesfit.inference.results import (
    BayesFactorResult,
    EvidenceResult,
    FitResult,
    HypotestResult,
    LimitScanResult,
    ProfileResult,
    RankingResult,
    TestResult,
    ToyResult,
    UpperLimitResult,
)
from bayesfit.inference.test_statistics import TEST_STATISTICS
from bayesfit.inference.toys import SerialExecutor, asimov_data, generate_toys, toy_pvalue

__all__ = [
    "TEST_STATISTICS",
    "BayesFactorResult",
    "EvidenceResult",
    "FitResult",
    "HypotestResult",
    "LimitScanResult",
    "Objective",
    "ProfileResult",
    "RankingResult",
    "SamplingWarning",
    "SerialExecutor",
    "TestResult",
    "ToyResult",
    "UpperLimitResult",
    "asimov_data",
    "bayes_factor",
    "diagnose",
    "fit",
    "generate_toys",
    "goodness_of_fit",
    "hypotest",
    "limit_scan",
    "log_evidence_smc",
    "objective_for",
    "posterior_predictive_pvalue",
    "profile_likelihood",
    "profile_likelihood_2d",
    "ranking",
    "sample_posterior",
    "sample_prior",
    "savage_dickey",
    "toy_pvalue",
    "universe_posterior",
    "upper_limit",
    "wilks_pvalue",
]
