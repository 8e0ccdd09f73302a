"""The benchmark harness still runs: cases at tiny sizes, results written to a tmp folder.

The fast test runs the logp, fill and scaling cases, which cost seconds. The others compile
several more graphs (half a minute to minutes with a cold PyTensor cache, as in CI) or start
processes, samplers and pyhf: every case runs at tiny sizes in the slow test.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

RUN_PY = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"
FAST_CASES = ("hese_logp", "scaling_bins", "scaling_universes", "fill")


def load_harness():
    spec = importlib.util.spec_from_file_location("bayesfit_benchmarks_run", RUN_PY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def check_rows(harness, rows, cases, out: Path) -> None:
    """Every case gave rows (or was skipped with a reason), values agree with their references,
    and both output files describe the run."""
    results = json.loads((out / "results.json").read_text())
    assert {row.case for row in rows} | set(results["skipped"]) == set(cases)
    for row in rows:
        assert row.ours_seconds > 0 and row.reference_seconds > 0, row
        if row.max_relative_difference is not None:  # ours agrees with the independent reference
            assert row.max_relative_difference < 1e-9, row
    assert results["mode"] == "tiny" and len(results["rows"]) == len(rows)
    assert set(results["case_seconds"]) == set(cases)
    assert int(results["environment"]["cpu_count"]) >= 1
    table = (out / "RESULTS.md").read_text()
    assert all(harness.REGISTRY[name].title in table for name in cases)


def test_tiny_run_writes_tables_and_json(tmp_path):
    harness = load_harness()
    assert set(FAST_CASES) <= set(harness.REGISTRY)
    rows = harness.main(["--tiny", "--cases", ",".join(FAST_CASES), "--out", str(tmp_path)])
    check_rows(harness, rows, FAST_CASES, tmp_path)
    compressed = [row for row in rows if row.case == "hese_logp" and row.ours == "bayesfit compressed"]
    assert compressed and np.isfinite([row.ratio for row in compressed]).all()


def test_extra_numbers_and_the_numba_tables_are_written():
    harness = load_harness()
    label = "response 10x8x169"
    rows = [
        harness.Row("blas", 10, f"bayesfit.backend BLAS: {label}", 2e-4, f"no BLAS: {label}", 3e-4),
        harness.Row("blas", 10, f"numba: {label}", 1e-4, f"no BLAS: {label}", 3e-4),
        harness.Row("fit_xsec", 10, "bayesfit fit", 5e-3, "scipy", 1e-2, 1e-15, "one start",
                    {"nll_difference": -2.5e-11}),
        harness.Row("numba", 100, "numba: xsec fit (1 start)", 4e-3, "C: xsec fit (1 start)", 8e-3),
    ]
    durations = {"blas": 1.0, "fit_xsec": 1.0, "numba": 1.0}
    table = harness.markdown(rows, {"cpu_count": "2"}, "tiny", 1.0, durations, {})
    row = "| 10 | bayesfit fit | 5.000 | scipy | 10.000 | 0.500 | 2.0x | 1.0e-15 | one start; nll_difference -2.5e-11 |"
    assert row in table
    assert f"| {label} | 0.200 | 0.100 | 0.50 |" in table  # numba / (C + BLAS) per graph
    assert "| xsec fit (1 start) | 8.000 | 4.000 | 0.50 |" in table


def test_a_skipped_case_is_reported_with_its_reason(tmp_path):
    harness = load_harness()

    def unavailable(sizes):
        raise harness.SkipCase("reference package not installed")

    harness.case("unavailable", "a case without its reference", tiny=(1,), quick=(1,), full=(1,))(unavailable)
    rows = harness.main(["--tiny", "--cases", "unavailable", "--out", str(tmp_path)])
    assert rows == []
    assert json.loads((tmp_path / "results.json").read_text())["skipped"] == {
        "unavailable": "reference package not installed"}
    assert "Skipped: reference package not installed" in (tmp_path / "RESULTS.md").read_text()


@pytest.mark.slow
def test_every_case_runs_at_tiny_sizes(tmp_path):
    harness = load_harness()
    cases = list(harness.REGISTRY)
    rows = harness.main(["--tiny", "--out", str(tmp_path)])
    check_rows(harness, rows, cases, tmp_path)
    fits = [row for row in rows if row.case == "fit_xsec"]
    # both minimisers reach the same optimum of the same likelihood (FD gradients: ~1e-6 in -ln L)
    assert fits and all(abs(row.extra["nll_difference"]) < 1e-4 for row in fits)
