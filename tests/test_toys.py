"""Toy Monte Carlo: reproducible pseudo-data, statistics against scipy fits, any executor."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from scipy import optimize, stats

from bayesfit.errors import ModelError
from bayesfit.inference import Objective
from bayesfit.likelihood import GaussianConstraint, PoissonConstraint
from bayesfit.inference.toys import SerialExecutor, generate_toys, toy_pvalue
from bayesfit.model import BinnedModel
from bayesfit.predictors import TemplatePredictor

TEMPLATES = np.array([[8.0, 6.0, 4.0, 3.0, 2.0], [1.0, 2.0, 3.0, 5.0, 7.0]])
COUNTS = np.array([10.0, 9.0, 6.0, 5.0, 5.0])
HYPOTHESIS = {"weights[1]": 1.5}


def numpy_nll(weights, counts):
    return -stats.poisson.logpmf(counts, weights @ TEMPLATES).sum()


def numpy_ratio(counts):
    """-2 ln lambda of HYPOTHESIS by scipy, independent of bayesfit."""
    free = optimize.minimize(lambda w: numpy_nll(w, counts), [1.0, 1.0], bounds=[(1e-9, None)] * 2, tol=1e-12).fun
    fixed = optimize.minimize_scalar(
        lambda w: numpy_nll(np.array([w, 1.5]), counts), bounds=(1e-9, 20), method="bounded", options={"xatol": 1e-10}
    ).fun
    return max(2 * (fixed - free), 0.0)


@pytest.fixture(scope="module")
def objective():
    return Objective(BinnedModel(TemplatePredictor(TEMPLATES), COUNTS))


def test_generate_toys_reproducible_and_poisson(objective):
    point = {"weights": np.array([1.0, 2.0])}
    toys = generate_toys(objective, point, 4000, seed=5).main
    assert generate_toys(objective, point, 10, seed=5).aux.shape == (10, 0)  # no constraints
    np.testing.assert_array_equal(toys[:10], generate_toys(objective, point, 10, seed=5).main)
    assert not np.array_equal(toys[:10], generate_toys(objective, point, 10, seed=6).main)
    expected = np.array([1.0, 2.0]) @ TEMPLATES
    # mean and variance of Poisson counts: within 5 standard errors
    np.testing.assert_array_less(np.abs(toys.mean(axis=0) - expected), 5 * np.sqrt(expected / 4000))
    np.testing.assert_allclose(toys.var(axis=0), expected, rtol=0.15)
    with pytest.raises(ModelError, match="lacks variable 'weights'"):
        generate_toys(objective, {"norm": 1.0}, 3, seed=0)


def test_generate_toys_picks_universes_by_weight():
    templates = np.array([[[1.0, 1.0]], [[200.0, 200.0]]])  # (K=2, T=1, n=2)
    model = BinnedModel(TemplatePredictor(templates, variation_weights=[1.0, 3.0]), [2, 1])
    toys = generate_toys(model, {"weights": np.ones(1)}, 2000, seed=1).main
    high = np.mean(toys[:, 0] > 50)
    assert abs(high - 0.75) < 5 * np.sqrt(0.75 * 0.25 / 2000)


def test_toys_resample_the_auxiliary_measurements():
    """Gaussian auxiliary data ~ Normal(theta, sigma), Poisson ones ~ Poisson(tau theta), per toy."""
    model = BinnedModel(
        TemplatePredictor(TEMPLATES), COUNTS,
        constraints=[GaussianConstraint("weights", [1.0], [0.2], entries=[0]),
                     PoissonConstraint("weights", [50.0], [50.0], entries=[1])],
    )
    point = {"weights": np.array([1.3, 0.8])}
    toys = generate_toys(model, point, 4000, seed=3)
    assert toys.aux.shape == (4000, 2)
    assert abs(toys.aux[:, 0].mean() - 1.3) < 5 * 0.2 / np.sqrt(4000)
    assert toys.aux[:, 0].std() == pytest.approx(0.2, rel=0.05)
    assert abs(toys.aux[:, 1].mean() - 40.0) < 5 * np.sqrt(40.0 / 4000)
    assert toys.aux[:, 1].var() == pytest.approx(40.0, rel=0.1)
    np.testing.assert_array_equal(toys.aux[:, 1], np.round(toys.aux[:, 1]))
    # the toys' auxiliary data enter the fits: a shifted measurement moves the fitted entry
    from bayesfit.inference import fit
    from bayesfit.model import ObservedData

    shifted = fit(model, observed=ObservedData(COUNTS, np.array([1.5, 50.0])))
    nominal = fit(model)
    assert shifted.values["weights"][0] > nominal.values["weights"][0]


def test_ties_at_the_observed_statistic_count_and_p_has_an_upper_limit():
    from bayesfit.inference.results import ToyResult

    study = ToyResult(np.array([0.0, 1e-14, 0.5, np.nan]), {})
    assert study.n_failed == 1
    assert study.tail_fraction(0.0)[0] == 1.0  # values within 1e-9 of the observed one count
    p, error, upper = study.tail_fraction(2.0)
    assert p == 0.0 and upper == pytest.approx(1 - 0.05 ** (1 / 3)) and error > 0


def test_likelihood_ratio_toys_against_scipy_and_workers(objective):
    serial = toy_pvalue(objective, HYPOTHESIS, n_toys=40, executor=SerialExecutor(), seed=11)
    assert serial.method == "toys" and serial.statistic == pytest.approx(numpy_ratio(COUNTS), abs=1e-5)
    toys = generate_toys(objective, serial.toys.generating_point, 40, seed=11).main
    np.testing.assert_allclose(serial.toys.statistics[:4], [numpy_ratio(t) for t in toys[:4]], atol=1e-5)
    assert serial.toys.n_failed == 0
    p_value = np.mean(serial.toys.statistics >= serial.statistic)
    assert serial.p_value == p_value
    binomial = np.sqrt(p_value * (1 - p_value) / 40)
    edge = 1 - (1 - 0.682689) ** (1 / 40)  # one-sided 68% Clopper-Pearson at p = 0 or 1
    assert serial.p_value_error == pytest.approx(binomial if 0 < p_value < 1 else edge)
    for workers in (1, 2):
        with ProcessPoolExecutor(workers) as pool:
            pooled = toy_pvalue(objective, HYPOTHESIS, n_toys=40, executor=pool, seed=11, n_workers=workers)
        np.testing.assert_array_equal(pooled.toys.statistics, serial.toys.statistics)


def test_max_likelihood_pvalue(objective):
    result = toy_pvalue(objective, HYPOTHESIS, statistic="max_likelihood", n_toys=30, executor=SerialExecutor(), seed=2)
    conditional = optimize.minimize_scalar(
        lambda w: numpy_nll(np.array([w, 1.5]), COUNTS), bounds=(1e-9, 20), method="bounded", options={"xatol": 1e-10}
    )
    assert result.statistic == pytest.approx(conditional.fun, abs=1e-6)
    assert result.toys.generating_point["weights"][0] == pytest.approx(conditional.x, abs=1e-4)
    # ReMU: fraction of toys with a lower maximised likelihood (higher -max ln L) than the data
    assert result.p_value == np.mean(result.toys.statistics >= result.statistic)
    with pytest.raises(ModelError, match="unknown statistic"):
        toy_pvalue(objective, HYPOTHESIS, statistic="chi2", executor=SerialExecutor())


def test_dask_executor_gives_the_same_toys(objective):
    distributed = pytest.importorskip("distributed")
    serial = toy_pvalue(objective, HYPOTHESIS, n_toys=20, executor=SerialExecutor(), seed=4)
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        result = toy_pvalue(objective, HYPOTHESIS, n_toys=20, executor=client.get_executor(), seed=4)
    np.testing.assert_array_equal(result.toys.statistics, serial.toys.statistics)


@pytest.mark.slow
def test_likelihood_ratio_toys_follow_chi2_at_high_counts():
    """Under the hypothesis with large counts, -2 ln lambda is chi2(1): toy and Wilks p-values agree."""
    from bayesfit.inference.pvalues import wilks_pvalue

    counts = np.array([150.0, 140.0, 110.0, 120.0, 140.0])
    objective = Objective(BinnedModel(TemplatePredictor(TEMPLATES * 10), counts))
    result = toy_pvalue(objective, HYPOTHESIS, n_toys=400, executor=SerialExecutor(), seed=3)
    wilks = wilks_pvalue(objective, HYPOTHESIS)
    assert abs(result.p_value - wilks.p_value) < 4 * result.p_value_error + 0.01
    assert np.mean(result.toys.statistics) == pytest.approx(1.0, abs=0.25)
