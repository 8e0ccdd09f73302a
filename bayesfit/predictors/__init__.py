"""Predictors: physics parameters -> expected counts per bin, compiled to PyTensor graphs.

- linear: :class:`TemplatePredictor`, :class:`MatrixPredictor`, :class:`LinearEinsumPredictor`, and
  :class:`FluxTemplatePredictor` (bilinear in template weights and a flux);
- simulation: :class:`ReweightedMCPredictor` (and its event-count-independent
  :class:`CompressedReweightedMCPredictor`) with :mod:`~bayesfit.predictors.spectra`,
  :class:`ResponseMatrix` (from events or ReMU's ``.npz``);
- combination: :class:`ConcatenatedPredictor`, :class:`SumPredictor`, :func:`compose`,
  :class:`FixedParameters`, :class:`RenamedParameters`, :class:`SplitParameter`, and exact :func:`linearise`;
- systematics: :class:`InterpolatedShifts` (+-1 sigma variations driven by nuisance parameters).
"""

from bayesfit.predictors.base import Parameter, Predictor
from bayesfit.predictors.compose import (
    ComposedPredictor,
    ConcatenatedPredictor,
    FixedParameters,
    RenamedParameters,
    SplitParameter,
    SumPredictor,
    compose,
)
from bayesfit.predictors.compressed import CompressedReweightedMCPredictor
from bayesfit.predictors.einsum import LinearEinsumPredictor
from bayesfit.predictors.linearise import LinearMap, linear_map, linearise
from bayesfit.predictors.matrix import MatrixPredictor
from bayesfit.predictors.response import ResponseMatrix
from bayesfit.predictors.reweight import Component, ReweightedMCPredictor
from bayesfit.predictors.shifts import InterpolatedShifts
from bayesfit.predictors.spectra import (
    BrokenPowerLaw,
    CustomSpectrum,
    LogParabola,
    Normalisation,
    PowerLaw,
    Spectrum,
)
from bayesfit.predictors.template import FluxTemplatePredictor, TemplatePredictor

__all__ = [
    "BrokenPowerLaw",
    "Component",
    "CompressedReweightedMCPredictor",
    "ComposedPredictor",
    "ConcatenatedPredictor",
    "CustomSpectrum",
    "FixedParameters",
    "FluxTemplatePredictor",
    "InterpolatedShifts",
    "LinearEinsumPredictor",
    "LinearMap",
    "LogParabola",
    "MatrixPredictor",
    "Normalisation",
    "Parameter",
    "PowerLaw",
    "Predictor",
    "RenamedParameters",
    "ResponseMatrix",
    "ReweightedMCPredictor",
    "SplitParameter",
    "Spectrum",
    "SumPredictor",
    "TemplatePredictor",
    "compose",
    "linear_map",
    "linearise",
]
