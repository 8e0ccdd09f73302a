"""Predictors: physics parameters -> expected counts per bin, compiled to PyTensor graphs."""

from bayesfit.predictors.base import Parameter, Predictor

__all__ = ["Parameter", "Predictor"]
