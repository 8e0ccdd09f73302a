"""Asymptotic frequentist p-values and the posterior predictive p-value, as :class:`TestResult` s.

- :func:`wilks_pvalue`: ``t = -2 ln [L(hypothesis, best others) / L(best fit)]`` and its
  chi-square tail probability with one degree of freedom per fixed entry (Wilks' theorem; it fails
  for a value on the boundary of the parameter space, e.g. a weight fixed at its lower bound 0:
  use :func:`bayesfit.inference.toys.toy_pvalue` or the ``q`` statistics of
  :func:`bayesfit.inference.hypotest` there).
- :func:`goodness_of_fit`: the likelihood ratio against the saturated model (every bin's
  expectation equal to its count, every constraint at its maximum) with ``n_bins + n_aux - n_free``
  degrees of freedom.
- :func:`posterior_predictive_pvalue`: the fraction of posterior draws whose replicated counts are
  more discrepant than the observed ones, with the discrepancy evaluated at the same draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats

from bayesfit.errors import InferenceError, ModelError
from bayesfit.inference.fit import fit
from bayesfit.inference.objective import Objective, objective_for
from bayesfit.inference.posterior import expected_per_draw
from bayesfit.inference.results import FitResult, TestResult, ToyResult
from bayesfit.inference.test_statistics import LikelihoodRatio, saturated_nll
from bayesfit.likelihood import draw_universes
from bayesfit.likelihood.poisson import poisson_deviance
from bayesfit.model import BinnedModel

__all__ = [
    "DISCREPANCIES",
    "goodness_of_fit",
    "pearson_chi2",
    "posterior_predictive_pvalue",
    "wilks_pvalue",
]

#: Discrepancy measures of :func:`posterior_predictive_pvalue`.
DISCREPANCIES = ("deviance", "chi2")


def _ml_objective(model: BinnedModel | Objective) -> Objective:
    objective = objective_for(model)
    if objective.kind != "ml":
        raise ModelError(f"p-values need a maximum-likelihood objective (kind='ml'), got kind={objective.kind!r}")
    return objective


def wilks_pvalue(
    model: BinnedModel | Objective,
    hypothesis: Mapping[str, float],
    *,
    best_fit: FitResult | None = None,
    observed: Any | None = None,
) -> TestResult:
    """Asymptotic p-value of ``hypothesis`` (entries fixed, e.g. ``{"weights[3]": 0.0}``) by Wilks' theorem.

    Parameters
    ----------
    model:
        A :class:`BinnedModel` (its compiled objective is reused) or an objective.
    hypothesis:
        Values of the fixed entries, by variable name or entry label.
    best_fit:
        The unconditional fit to the same data, if already known.
    observed:
        Data to test instead of the model's.
    """
    objective = _ml_objective(model)
    dof = len(objective.entry_indices(hypothesis, "hypothesis"))
    if dof == 0:
        raise ModelError("hypothesis fixes no parameter: give at least one {name or label: value}")
    if dof >= objective.size:
        raise ModelError(
            f"hypothesis fixes all {objective.size} free entries; use goodness_of_fit for a simple hypothesis"
        )
    data = objective.data(observed)
    if best_fit is None:
        best_fit = fit(objective, observed=data)
    value = LikelihoodRatio(hypothesis)(objective, data, None, free=best_fit)
    return TestResult(
        method="wilks", statistic=value.value, p_value=float(stats.chi2.sf(value.value, dof)), dof=dof,
        hypothesis=dict(hypothesis), best_fit=value.free, conditional_fit=value.conditional,
    )


def goodness_of_fit(model: BinnedModel | Objective, *, best_fit: FitResult | None = None) -> TestResult:
    """Likelihood ratio of the best fit against the saturated model and its asymptotic p-value.

    ``statistic = 2 (nll_best - nll_saturated)`` follows a chi-square with ``n_bins + n_aux - n_free``
    degrees of freedom (the auxiliary measurements are data too) when the expectations are large (a few counts per bin or more); with
    small counts use :func:`bayesfit.inference.toys.toy_pvalue` with ``hypothesis=None``.
    """
    objective = _ml_objective(model)
    n_measurements = objective.model.predictor.n_out + objective.model.n_aux  # main bins and auxiliary data
    dof = n_measurements - objective.size
    if dof <= 0:
        raise ModelError(
            f"goodness of fit needs more measurements ({n_measurements}: bins and auxiliary data) than free "
            f"parameters ({objective.size})"
        )
    best_fit = best_fit or fit(objective)
    statistic = max(2.0 * (best_fit.nll - saturated_nll(objective, objective.model.data)), 0.0)
    return TestResult(
        method="saturated", statistic=statistic, p_value=float(stats.chi2.sf(statistic, dof)), dof=dof,
        best_fit=best_fit, statistic_name="saturated_likelihood_ratio",
    )


# ---------------------------------------------------------------------- posterior predictive
def pearson_chi2(counts: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Pearson ``sum_i (k_i - mu_i)^2 / mu_i`` over the last axis (bins with ``mu = 0`` skipped)."""
    safe = np.where(expected > 0, expected, 1.0)
    return np.sum(np.where(expected > 0, (counts - expected) ** 2 / safe, 0.0), axis=-1)


def posterior_predictive_pvalue(
    model: BinnedModel,
    idata: Any,
    *,
    discrepancy: str = "deviance",
    seed: int | None = 0,
) -> TestResult:
    """Posterior predictive p-value of the observed counts (Gelman, Meng and Stern 1996).

    For every posterior draw ``s``: the expectation ``mu_s`` (of a universe picked by its
    posterior probability ``universe_probability`` when universes are marginalised), replicated
    counts ``y_s ~ Poisson(mu_s)``, and the discrepancies ``D(y_s, mu_s)`` and ``D(k, mu_s)``;
    ``p = P(D(y_rep) >= D(k_obs))``.

    Parameters
    ----------
    idata:
        InferenceData from :func:`bayesfit.inference.sample_posterior` of this model.
    discrepancy:
        ``"deviance"`` (saturated Poisson deviance) or ``"chi2"`` (Pearson).
    """
    if discrepancy not in DISCREPANCIES:
        raise ModelError(f"unknown discrepancy {discrepancy!r}; valid: {list(DISCREPANCIES)}")
    measure = poisson_deviance if discrepancy == "deviance" else pearson_chi2
    rng = np.random.default_rng(seed)
    expected = _expected_per_draw(model, idata, rng)  # (S, n)
    replicated_counts = rng.poisson(expected).astype(float)
    observed_discrepancy = measure(model.observed, expected)
    replicated_discrepancy = measure(replicated_counts, expected)
    p_value = float(np.mean(replicated_discrepancy >= observed_discrepancy))
    error = float(np.sqrt(p_value * (1.0 - p_value) / len(expected)))
    return TestResult(
        method="posterior_predictive", statistic=observed_discrepancy, p_value=p_value, p_value_error=error,
        statistic_name=discrepancy,
        toys=ToyResult(replicated_discrepancy, {}, seed),
    )


def _expected_per_draw(model: BinnedModel, idata: Any, rng: np.random.Generator) -> np.ndarray:
    """Expected counts per posterior draw, ``(n_draws, n_bins)``, one universe per draw."""
    posterior = getattr(idata, "posterior", None)
    if posterior is None:
        raise InferenceError("idata has no posterior group: pass the result of sample_posterior")
    missing = [p.name for p in model.free_parameters if p.name not in posterior]
    if missing:
        raise InferenceError(f"posterior lacks the model's variable(s) {missing}: is idata from this model?")
    n_draws = posterior.sizes["chain"] * posterior.sizes["draw"]
    n_variations = model.predictor.n_variations
    if n_variations > 1:
        if "universe_probability" not in posterior:
            raise InferenceError("posterior lacks universe_probability: sample it with sample_posterior")
        universes = draw_universes(posterior["universe_probability"].values.reshape(n_draws, n_variations), rng)
    else:
        universes = np.zeros(n_draws, dtype=int)
    return expected_per_draw(model, posterior, universes)
