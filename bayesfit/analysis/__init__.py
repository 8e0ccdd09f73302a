"""Declarative analysis files: the YAML format the ``bayesfit run`` command executes.

:func:`read_analysis` validates a file (light: no PyTensor); :class:`Analysis` builds the binning,
predictor and model it describes (imported on first use).
"""

from __future__ import annotations

from typing import Any

from bayesfit.analysis.spec import (
    AnalysisSpec,
    EventSource,
    InferenceSettings,
    ParameterSpec,
    apply_overrides,
    read_analysis,
)

__all__ = [
    "Analysis",
    "AnalysisSpec",
    "EventSource",
    "InferenceSettings",
    "ParameterSpec",
    "apply_overrides",
    "read_analysis",
]


def __getattr__(name: str) -> Any:
    if name == "Analysis":
        from bayesfit.analysis.build import Analysis

        return Analysis
    raise AttributeError(f"module 'bayesfit.analysis' has no attribute {name!r}")
