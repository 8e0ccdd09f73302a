"""Frequentist coverage of profile-likelihood 68.3% intervals for astro_gamma on HESE toys.

Toys are Poisson counts at the maximum-likelihood point of the small HESE reference sample
(400 bins, free ``atmo_norm``, ``astro_norm``, ``astro_gamma``). For each toy the interval is
found by root finding (Brent) of ``2 [nll_profile(gamma) - nll_min] = 1`` on both sides of the
best fit, with one compiled objective reused for every fit. The fraction of intervals holding the
true ``astro_gamma`` must be within 2 binomial standard errors of 0.6827.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from reference_data import REFERENCE
from scipy import optimize, stats

from bayesfit.analysis import Analysis
from bayesfit.inference import fit, generate_toys

pytestmark = pytest.mark.slow

MODELS = Path(__file__).resolve().parents[1] / "models"
SMALL = REFERENCE / "hese" / "synthetic-small"
ON_SMALL = [f"data.path={SMALL / 'hese_toy_data.json'}", f"simulation.path={SMALL / 'hese_toy_simulation.json'}"]
N_TOYS = 300
LEVEL = stats.chi2.cdf(1.0, 1)  # 0.6827
PARAMETER = "astro_gamma"


def profile_interval(objective, toy: np.ndarray, bounds: tuple[float, float]) -> tuple[float, float, float]:
    """Best fit and the 68.3% profile-likelihood interval of ``PARAMETER`` for counts ``toy``."""
    best = fit(objective, observed=toy, n_random_starts=1)
    centre = float(best.values[PARAMETER])
    warm = [{name: value for name, value in best.values.items() if name != PARAMETER}]

    def excess(value: float) -> float:  # 2 Delta nll - 1, negative inside the interval
        conditional = fit(objective, observed=toy, fixed={PARAMETER: value}, starts=warm, n_random_starts=0)
        return 2.0 * (conditional.nll - best.nll) - 1.0

    def crossing(edge: float) -> float:
        step = 0.05 if edge > centre else -0.05
        inner, outer = centre, centre + step
        while excess(outer) < 0:  # walk outwards until the profile crosses the threshold
            inner, outer = outer, outer + step
            step *= 2
            if not min(bounds) < outer < max(bounds):
                return edge  # the interval reaches the parameter's bound
        return optimize.brentq(excess, inner, outer, xtol=1e-4)

    return centre, crossing(bounds[0]), crossing(bounds[1])


def test_profile_likelihood_intervals_cover_at_68_percent():
    analysis = Analysis.from_file(MODELS / "hese_diffuse.yaml", ON_SMALL)
    objective = analysis.objective
    truth = fit(objective).values
    parameter = next(p for p in objective.parameters if p.name == PARAMETER)
    bounds = (parameter.lower, parameter.upper)
    toys = generate_toys(objective, truth, N_TOYS, seed=20240601)
    started = time.perf_counter()
    intervals = np.array([profile_interval(objective, toy, bounds) for toy in toys])
    seconds = time.perf_counter() - started
    centre, lower, upper = intervals.T
    assert np.all(lower < centre) and np.all(centre < upper)
    covered = (lower <= truth[PARAMETER]) & (truth[PARAMETER] <= upper)
    coverage = covered.mean()
    error = np.sqrt(LEVEL * (1 - LEVEL) / N_TOYS)
    print(
        f"coverage of {PARAMETER} = {truth[PARAMETER]:.4f}: {coverage:.4f} +- {error:.4f} "
        f"({N_TOYS} toys, median width {np.median(upper - lower):.3f}, {seconds:.1f} s)"
    )
    assert abs(coverage - LEVEL) < 2 * error
