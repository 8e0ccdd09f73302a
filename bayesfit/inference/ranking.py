"""Nuisance-parameter ranking: the impact of each constrained entry on the parameter of interest.

As cabinetry computes it: refit the model with one constrained entry held at its best-fit value
plus or minus its post-fit error (post-fit impact) or its prior sd (pre-fit impact), the other
entries free; the impact is the shift of the POI's best-fit value. The prior of a constrained
entry is the Bayesian reading of its auxiliary measurement (``Normal(a, sigma)``: sd ``sigma``;
``Gamma(alpha, beta)``: sd ``sqrt(alpha) / beta``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from bayesfit.errors import ModelError
from bayesfit.inference.fit import fit
from bayesfit.inference.objective import Objective, objective_for
from bayesfit.inference.results import FitResult, PullsResult, RankingResult
from bayesfit.model import BinnedModel
from bayesfit.priors import Prior

__all__ = ["ConstrainedEntry", "constrained_entries", "prior_moments", "pulls", "ranking"]

logger = logging.getLogger(__name__)


def prior_moments(prior: Prior) -> tuple[float, float] | None:
    """Mean and sd of a constraint's prior (Normal or Gamma); ``None`` for other families."""
    arguments = prior.arguments
    if prior.distribution == "Normal":
        return float(arguments["mu"]), float(arguments["sigma"])
    if prior.distribution == "Gamma":
        alpha, beta = float(arguments["alpha"]), float(arguments["beta"])
        return alpha / beta, float(np.sqrt(alpha)) / beta
    return None


class ConstrainedEntry(NamedTuple):
    """A free entry with an auxiliary measurement: its variable's name, flat ``index`` in it,
    ``label``, and the ``mean`` and ``sd`` of its prior (the Bayesian reading of the measurement)."""

    variable: str
    index: int
    label: str
    mean: float
    sd: float


def constrained_entries(model: BinnedModel) -> list[ConstrainedEntry]:
    """Every free entry with an auxiliary measurement whose prior is Normal or Gamma."""
    entries = []
    for variable in model.parameters:
        for index in variable.free_index:
            if not variable.constrained.ravel()[index]:
                continue
            moments = prior_moments(variable.priors[index])
            if moments is not None:
                entries.append(ConstrainedEntry(variable.name, int(index), variable.labels[index], *moments))
    return entries


def pulls(model: BinnedModel, values: Mapping[str, Any], errors: Mapping[str, Any]) -> PullsResult:
    """Pulls of every free constrained entry (Normal and Gamma priors of the auxiliary measurements):
    ``(value - prior mean) / prior sd`` and ``error / prior sd``.

    ``values`` and ``errors`` map variable names to full-shape arrays, e.g. a fit's ``values`` and
    ``errors``, or posterior means and sds.
    """
    entries = constrained_entries(model)
    value = np.array([np.ravel(values[entry.variable])[entry.index] for entry in entries], dtype=float)
    error = np.array([np.ravel(errors[entry.variable])[entry.index] for entry in entries], dtype=float)
    mean = np.array([entry.mean for entry in entries], dtype=float)
    sd = np.array([entry.sd for entry in entries], dtype=float)
    return PullsResult([entry.label for entry in entries], (value - mean) / sd, error / sd)


def ranking(model: BinnedModel | Objective, *, best_fit: FitResult | None = None, poi: str | None = None) -> RankingResult:
    """The pre- and post-fit impact on the POI of every constrained entry (see the module docstring).

    Four fits per entry, each started from the best fit; a shifted value is clipped to the entry's
    bounds. Returns a :class:`~bayesfit.inference.results.RankingResult`.
    """
    objective = model if isinstance(model, Objective) else objective_for(model)
    model = objective.model
    poi = poi or model.poi
    if poi is None:
        raise ModelError("a ranking needs a parameter of interest: give poi= or BinnedModel(..., poi=...)")
    variable, entry = model.entry(poi, "parameter of interest")
    poi = variable.labels[entry]
    best_fit = best_fit or fit(objective)
    best = best_fit.entries()
    poi_value = best[poi][0]
    entries = [entry for entry in constrained_entries(model) if entry.label != poi]
    start = time.perf_counter()
    shifts = np.full((len(entries), 4), np.nan)
    for row, (_, _, label, _, prior_sd) in enumerate(entries):
        value, error = best[label]
        index = objective.index(label)
        lower, upper = objective.lower[index], objective.upper[index]
        for column, held in enumerate((value + prior_sd, value - prior_sd, value + error, value - error)):
            if not np.isfinite(held):
                continue
            refit = fit(objective, fixed={label: float(np.clip(held, lower, upper))}, starts=[best_fit.values],
                        n_random_starts=0, errors=False)
            if refit.converged:
                shifts[row, column] = refit.value(poi) - poi_value
    logger.info("ranking of %d constrained entries on %s: %d fits in %.1f s", len(entries), poi,
                4 * len(entries), time.perf_counter() - start)
    pulls = np.array([(best[entry.label][0] - entry.mean) / entry.sd for entry in entries])
    pull_errors = np.array([best[entry.label][1] / entry.sd for entry in entries])
    order = np.argsort(-np.nanmax(np.abs(shifts[:, 2:]), axis=1, initial=0.0), kind="stable")
    return RankingResult(
        poi, poi_value, [entries[i].label for i in order], pulls[order], pull_errors[order],
        shifts[order, 0], shifts[order, 1], shifts[order, 2], shifts[order, 3],
    )
