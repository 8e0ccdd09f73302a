"""The model layer: :class:`BinnedModel`, its variables, its log density and its ``pm.Model``."""

from __future__ import annotations

from bayesfit.model.binned import (
    NON_CENTERED,
    OBSERVED_NAME,
    SCALES_NAME,
    SYSTEMATICS,
    BinnedModel,
    DensityTerms,
    LikelihoodTerms,
    ObservedData,
)
from bayesfit.model.variables import ModelParameter

__all__ = [
    "NON_CENTERED",
    "OBSERVED_NAME",
    "SCALES_NAME",
    "SYSTEMATICS",
    "BinnedModel",
    "DensityTerms",
    "LikelihoodTerms",
    "ModelParameter",
    "ObservedData",
]
