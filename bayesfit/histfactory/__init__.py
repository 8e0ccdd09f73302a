"""HistFactory / pyhf JSON workspaces: read, validate, patch, fit and read as priors.

>>> from bayesfit.histfactory import HistFactoryModel, fit
>>> model = HistFactoryModel("workspace.json")  # doctest: +SKIP
>>> result = fit(model)  # doctest: +SKIP
"""

from __future__ import annotations

from bayesfit.histfactory.model import HistFactoryModel, HistFactoryPredictor, ObservedData, PriorSpec
from bayesfit.histfactory.workspace import Workspace, apply_patch, load_workspace, validate_workspace

__all__ = [
    "HistFactoryModel",
    "HistFactoryPredictor",
    "ObservedData",
    "PriorSpec",
    "Workspace",
    "apply_patch",
    "load_workspace",
    "validate_workspace",
]
