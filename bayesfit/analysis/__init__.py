"""Declarative analysis files: the YAML format the ``bayesfit run`` command executes."""

from bayesfit.analysis.spec import (
    AnalysisSpec,
    EventSource,
    InferenceSettings,
    ParameterSpec,
    apply_overrides,
    read_analysis,
)

__all__ = [
    "AnalysisSpec",
    "EventSource",
    "InferenceSettings",
    "ParameterSpec",
    "apply_overrides",
    "read_analysis",
]
