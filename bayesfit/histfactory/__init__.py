"""HistFactory / pyhf JSON workspaces: read, validate, patch, and build the model of a measurement.

A workspace becomes a :class:`~bayesfit.model.BinnedModel`; every inference runs through
:mod:`bayesfit.inference`:

>>> from bayesfit.histfactory import build_model
>>> from bayesfit.inference import fit, hypotest, upper_limit, sample_posterior
>>> model = build_model("workspace.json")  # doctest: +SKIP
>>> fit(model).value(model.poi)  # doctest: +SKIP
>>> upper_limit(model).observed  # doctest: +SKIP

A background-only workspace and its pyhf patchset give a limit per signal hypothesis:

>>> from bayesfit.histfactory import PatchsetHypotheses
>>> from bayesfit.inference import limit_scan
>>> limits = limit_scan(PatchsetHypotheses("BkgOnly.json", "patchset.json"))  # doctest: +SKIP
>>> limits.to_csv("limits.csv")  # doctest: +SKIP
"""

from __future__ import annotations

from bayesfit.histfactory.build import HistFactoryPredictor, build_model, relative_mc_uncertainty
from bayesfit.histfactory.modifiers import ModifierLayout, ParameterSet, build_layout
from bayesfit.histfactory.patchset import Patch, PatchSet, PatchsetHypotheses, digest, read_patchset, validate_patchset
from bayesfit.histfactory.workspace import (
    MODIFIER_TYPES,
    Workspace,
    apply_patch,
    load_workspace,
    read_patched_workspace,
    validate_workspace,
)

__all__ = [
    "MODIFIER_TYPES",
    "HistFactoryPredictor",
    "ModifierLayout",
    "ParameterSet",
    "Patch",
    "PatchSet",
    "PatchsetHypotheses",
    "Workspace",
    "apply_patch",
    "build_layout",
    "build_model",
    "digest",
    "load_workspace",
    "read_patched_workspace",
    "read_patchset",
    "relative_mc_uncertainty",
    "validate_patchset",
    "validate_workspace",
]
