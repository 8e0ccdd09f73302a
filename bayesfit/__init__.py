"""bayesfit: Bayesian inference for binned counting experiments.

Binnings turn events into counts, predictors turn physics parameters into expected counts as
PyTensor graphs, likelihoods and models put them into PyMC, and the inference layer returns ArviZ
posteriors, maximum-likelihood fits, profiles, p-values and Bayes factors.

Public names are imported lazily, so ``import bayesfit`` stays fast and the binning layer never
imports PyMC. Importing changes no global state (PyTensor's BLAS is configured at the first
compilation, see :mod:`bayesfit.backend`). The library reports through :mod:`logging` (loggers
``bayesfit.*``, progress at INFO) and adds no handlers: unconfigured, Python shows its warnings
on stderr and nothing else; the ``bayesfit`` command configures it.
"""

from __future__ import annotations

import importlib
from typing import Any

from bayesfit.errors import (
    AnalysisFileError,
    BayesfitError,
    BinningError,
    EventsError,
    InferenceError,
    LikelihoodError,
    ModelError,
    PredictorError,
    WorkspaceError,
)

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "Binning": "bayesfit.binning",
    "load_events": "bayesfit.events",
    "Parameter": "bayesfit.predictors",
    "Predictor": "bayesfit.predictors",
    "TemplatePredictor": "bayesfit.predictors",
    "MatrixPredictor": "bayesfit.predictors",
    "LinearEinsumPredictor": "bayesfit.predictors",
    "ReweightedMCPredictor": "bayesfit.predictors",
    "ResponseMatrix": "bayesfit.predictors",
    "compose": "bayesfit.predictors",
    "linearise": "bayesfit.predictors",
    "BinnedModel": "bayesfit.model",
    "Prior": "bayesfit.priors",
    "GaussianConstraint": "bayesfit.likelihood",
    "PoissonConstraint": "bayesfit.likelihood",
    "ThrowConstraint": "bayesfit.likelihood",
    "ObservedData": "bayesfit.model",
    "fit": "bayesfit.inference",
    "FitResult": "bayesfit.inference",
    "sample_posterior": "bayesfit.inference",
    "profile_likelihood": "bayesfit.inference",
    "profile_likelihood_2d": "bayesfit.inference",
    "wilks_pvalue": "bayesfit.inference",
    "goodness_of_fit": "bayesfit.inference",
    "toy_pvalue": "bayesfit.inference",
    "hypotest": "bayesfit.inference",
    "upper_limit": "bayesfit.inference",
    "log_evidence_smc": "bayesfit.inference",
    "bayes_factor": "bayesfit.inference",
    "savage_dickey": "bayesfit.inference",
    "Analysis": "bayesfit.analysis",
}

__all__ = [
    "AnalysisFileError",
    "BayesfitError",
    "BinningError",
    "EventsError",
    "InferenceError",
    "LikelihoodError",
    "ModelError",
    "PredictorError",
    "WorkspaceError",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bayesfit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
