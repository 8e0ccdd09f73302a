"""The library reports through logging, never on stdout: progress of runs, toys, profiles, fits."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from bayesfit.inference import Objective, profile_likelihood
from bayesfit.inference.toys import SerialExecutor, toy_pvalue
from bayesfit.model import BinnedModel
from bayesfit.output import progress_reporter
from bayesfit.predictors import TemplatePredictor

TEMPLATES = np.array([[4.0, 2.0, 1.0], [1.0, 2.0, 4.0]])
COUNTS = np.array([5, 3, 6])


@pytest.fixture(scope="module")
def objective():
    return Objective(BinnedModel(TemplatePredictor(TEMPLATES), COUNTS))


def messages(caplog, logger: str, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelno == level]


def test_progress_reporter_logs_info_and_prints_nothing(caplog, capsys):
    caplog.set_level(logging.INFO, logger="bayesfit")
    progress_reporter(True)("fit in 1.0 s")
    progress_reporter(False)("not shown")
    assert messages(caplog, "bayesfit.output", logging.INFO) == ["fit in 1.0 s"]
    assert capsys.readouterr().out == ""


def test_toy_study_reports_its_start_and_end(objective, caplog, capsys):
    caplog.set_level(logging.INFO, logger="bayesfit")
    result = toy_pvalue(objective, {"weights[1]": 1.5}, n_toys=6, executor=SerialExecutor(), n_workers=1, seed=1)
    start, end = messages(caplog, "bayesfit.inference.toys", logging.INFO)
    assert start == "toys: 6 fits on 1 worker(s) of a SerialExecutor"
    assert end.startswith("toys: 6 fits in ") and end.endswith(f", {result.toys.n_failed} failed")
    assert capsys.readouterr().out == ""


def test_profile_reports_its_scan_and_fits_log_at_debug_only(objective, caplog):
    caplog.set_level(logging.DEBUG, logger="bayesfit")
    profile_likelihood(objective, "weights[0]", np.linspace(0.5, 2.0, 4))
    assert messages(caplog, "bayesfit.inference.profile", logging.INFO) == ["profile of weights[0]: 4 conditional fits"]
    (done,) = messages(caplog, "bayesfit.inference.profile", logging.DEBUG)
    assert done.startswith("profile of weights[0]: 4 of 4 fits converged")
    fits = messages(caplog, "bayesfit.inference.fit", logging.DEBUG)
    assert len(fits) == 5 and all(m.startswith("fit (ml, ") for m in fits)  # best fit + 4 scan points
    assert not messages(caplog, "bayesfit.inference.fit", logging.INFO)

