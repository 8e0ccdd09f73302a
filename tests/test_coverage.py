"""Frequentist coverage of profile-likelihood 68.3% intervals for astro_gamma on HESE toys.

Toys are Poisson counts at the maximum-likelihood point of the small HESE reference sample
(400 bins, free ``atmo_norm``, ``astro_norm``, ``astro_gamma``). For each toy both ends of the
interval solve ``sqrt(2 [nll_profile(gamma) - nll_min]) = 1``: the signed root of the profile is
nearly linear in gamma, so the first guess (best fit +- its Hessian error) is close, a bracket is
found in one or two conditional fits and Brent's method converges in a few more. One compiled
objective serves every fit; each conditional fit starts from the nuisance values of the previous
one. The fraction of intervals holding the true ``astro_gamma`` must be within 2 binomial standard
errors of 0.6827.

Marked ``slow`` and ``calibration``: ``-m "not slow or calibration"`` runs it with the fast tests.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from reference_data import HESE_NOTEBOOK, REFERENCE
from scipy import optimize, stats

from bayesfit.analysis import Analysis
from bayesfit.inference import fit, generate_toys
from bayesfit.inference.objective import Objective

pytestmark = [pytest.mark.slow, pytest.mark.calibration]

MODELS = Path(__file__).resolve().parents[1] / "models"
SMALL = REFERENCE / "hese" / "synthetic-small"
ON_SMALL = [f"data.path={SMALL / 'hese_toy_data.json'}", f"simulation.path={SMALL / 'hese_toy_simulation.json'}",
            *HESE_NOTEBOOK]
N_TOYS = 1000
LEVEL = stats.chi2.cdf(1.0, 1)  # 0.6827
PARAMETER = "astro_gamma"
XTOL = 1e-4  # precision of the interval ends in astro_gamma


def profile_interval(objective: Objective, toy: np.ndarray) -> tuple[float, float, float, int]:
    """Best fit, lower and upper end of the 68.3% profile interval of ``PARAMETER``, and the number of fits.

    An end beyond the parameter's bound is returned as the bound.
    """
    parameter = next(p for p in objective.parameters if p.name == PARAMETER)
    best = fit(objective, observed=toy, n_random_starts=1)
    centre = float(best.values[PARAMETER])
    sigma = float(best.errors[PARAMETER])
    if not np.isfinite(sigma) or sigma <= 0:
        sigma = 0.1  # Hessian not positive definite: a first step of the order of the typical width
    n_fits = 1

    def interval_end(direction: float) -> float:
        bound = parameter.upper if direction > 0 else parameter.lower
        warm = {name: entry for name, entry in best.values.items() if name != PARAMETER}
        evaluated = {centre: -1.0}  # brentq evaluates the bracket ends again: reuse those fits

        def excess(value: float) -> float:  # sqrt(2 Delta nll) - 1: negative inside the interval
            nonlocal n_fits, warm
            if value not in evaluated:
                conditional = fit(objective, observed=toy, fixed={PARAMETER: value}, starts=[warm], n_random_starts=0)
                n_fits += 1
                warm = {name: entry for name, entry in conditional.values.items() if name != PARAMETER}
                evaluated[value] = float(np.sqrt(max(2.0 * (conditional.nll - best.nll), 0.0))) - 1.0
            return evaluated[value]

        def towards_bound(distance: float) -> float:
            return float(np.clip(centre + direction * distance, parameter.lower, parameter.upper))

        inner, outer = centre, towards_bound(sigma)
        while (outside := excess(outer)) < 0:
            if outer == bound:
                return bound  # the interval reaches the parameter's bound
            # the signed root sqrt(2 Delta nll) is about linear in the parameter: aim just beyond 1
            signed_root = outside + 1.0
            factor = min(max(1.05 / signed_root, 1.2), 4.0) if signed_root > 0 else 4.0
            inner, outer = outer, towards_bound(factor * abs(outer - centre))
        return optimize.brentq(excess, min(inner, outer), max(inner, outer), xtol=XTOL)

    lower = interval_end(-1.0)
    upper = interval_end(+1.0)
    return centre, lower, upper, n_fits


def test_profile_likelihood_intervals_cover_at_68_percent():
    analysis = Analysis.from_file(MODELS / "hese_diffuse.yaml", ON_SMALL)
    objective = analysis.objective
    truth = fit(objective).values
    toys = generate_toys(objective, truth, N_TOYS, seed=20240601).main
    started = time.perf_counter()
    results = np.array([profile_interval(objective, toy) for toy in toys])
    seconds = time.perf_counter() - started
    centre, lower, upper, n_fits = results.T
    assert np.all(lower <= centre) and np.all(centre <= upper) and np.all(lower < upper)
    covered = (lower <= truth[PARAMETER]) & (truth[PARAMETER] <= upper)
    coverage = covered.mean()
    error = np.sqrt(LEVEL * (1 - LEVEL) / N_TOYS)
    print(
        f"coverage of {PARAMETER} = {truth[PARAMETER]:.4f}: {coverage:.4f} +- {error:.4f} "
        f"({N_TOYS} toys, median width {np.median(upper - lower):.3f}, {n_fits.mean():.1f} fits per toy, "
        f"{seconds:.1f} s)"
    )
    assert abs(coverage - LEVEL) < 2 * error
