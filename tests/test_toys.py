"""Toy Monte Carlo: reproducible pseudo-data, statistics against scipy fits, any executor."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from scipy import optimize, stats

from bayesfit.errors import ModelError
from bayesfit.inference import Objective
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
    toys = generate_toys(objective, point, 4000, seed=5)
    np.testing.assert_array_equal(toys[:10], generate_toys(objective, point, 10, seed=5))
    assert not np.array_equal(toys[:10], generate_toys(objective, point, 10, seed=6))
    expected = np.array([1.0, 2.0]) @ TEMPLATES
    # mean and variance of Poisson counts: within 5 standard errors
    np.testing.assert_array_less(np.abs(toys.mean(axis=0) - expected), 5 * np.sqrt(expected / 4000))
    np.testing.assert_allclose(toys.var(axis=0), expected, rtol=0.15)
    with pytest.raises(ModelError, match="lacks free variable 'weights'"):
        generate_toys(objective, {"norm": 1.0}, 3, seed=0)


def test_generate_toys_picks_universes_by_weight():
    templates = np.array([[[1.0, 1.0]], [[200.0, 200.0]]])  # (K=2, T=1, n=2)
    model = BinnedModel(TemplatePredictor(templates, variation_weights=[1.0, 3.0]), [2, 1])
    toys = generate_toys(model, {"weights": np.ones(1)}, 2000, seed=1)
    high = np.mean(toys[:, 0] > 50)
    assert abs(high - 0.75) < 5 * np.sqrt(0.75 * 0.25 / 2000)


def test_likelihood_ratio_toys_against_scipy_and_workers(objective):
    serial = toy_pvalue(objective, HYPOTHESIS, n_toys=40, executor=SerialExecutor(), seed=11)
    assert serial.observed_statistic == pytest.approx(numpy_ratio(COUNTS), abs=1e-5)
    toys = generate_toys(objective, serial.generating_point, 40, seed=11)
    np.testing.assert_allclose(serial.toy_statistics[:4], [numpy_ratio(t) for t in toys[:4]], atol=1e-5)
    assert serial.n_failed == 0
    p_value = np.mean(serial.toy_statistics >= serial.observed_statistic)
    assert serial.p_value == p_value
    assert serial.p_value_error == pytest.approx(np.sqrt(p_value * (1 - p_value) / 40))
    for workers in (1, 2):
        with ProcessPoolExecutor(workers) as pool:
            pooled = toy_pvalue(objective, HYPOTHESIS, n_toys=40, executor=pool, seed=11, n_workers=workers)
        np.testing.assert_array_equal(pooled.toy_statistics, serial.toy_statistics)


def test_max_likelihood_pvalue(objective):
    result = toy_pvalue(objective, HYPOTHESIS, statistic="max_likelihood", n_toys=30, executor=SerialExecutor(), seed=2)
    conditional = optimize.minimize_scalar(
        lambda w: numpy_nll(np.array([w, 1.5]), COUNTS), bounds=(1e-9, 20), method="bounded", options={"xatol": 1e-10}
    )
    assert result.observed_statistic == pytest.approx(conditional.fun, abs=1e-6)
    assert result.generating_point["weights"][0] == pytest.approx(conditional.x, abs=1e-4)
    # ReMU: fraction of toys with a lower maximised likelihood (higher -max ln L) than the data
    assert result.p_value == np.mean(result.toy_statistics >= result.observed_statistic)
    with pytest.raises(ModelError, match="unknown statistic"):
        toy_pvalue(objective, HYPOTHESIS, statistic="chi2", executor=SerialExecutor())


def test_dask_executor_gives_the_same_toys(objective):
    distributed = pytest.importorskip("distributed")
    serial = toy_pvalue(objective, HYPOTHESIS, n_toys=20, executor=SerialExecutor(), seed=4)
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        result = toy_pvalue(objective, HYPOTHESIS, n_toys=20, executor=client.get_executor(), seed=4)
    np.testing.assert_array_equal(result.toy_statistics, serial.toy_statistics)


@pytest.mark.slow
def test_likelihood_ratio_toys_follow_chi2_at_high_counts():
    """Under the hypothesis with large counts, -2 ln lambda is chi2(1): toy and Wilks p-values agree."""
    from bayesfit.inference.pvalues import wilks_pvalue

    counts = np.array([150.0, 140.0, 110.0, 120.0, 140.0])
    objective = Objective(BinnedModel(TemplatePredictor(TEMPLATES * 10), counts))
    result = toy_pvalue(objective, HYPOTHESIS, n_toys=400, executor=SerialExecutor(), seed=3)
    wilks = wilks_pvalue(objective, HYPOTHESIS)
    assert abs(result.p_value - wilks.p_value) < 4 * result.p_value_error + 0.01
    assert np.mean(result.toy_statistics) == pytest.approx(1.0, abs=0.25)
