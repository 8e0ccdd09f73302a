"""Reusable analysis chains built from bayesfit's pieces (binnings, predictors, models).

- :mod:`bayesfit.workflows.xsec`: ReMU's cross-section analysis (example 06): cross sections x
  flux throws -> true events -> detector response with universes -> reco bins, collapsed to
  template weights.
"""

from __future__ import annotations
