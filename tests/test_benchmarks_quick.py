"""The benchmark harness still runs: every case at tiny sizes, results written to a tmp folder."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

RUN_PY = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


def load_harness():
    spec = importlib.util.spec_from_file_location("bayesfit_benchmarks_run", RUN_PY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_tiny_run_writes_tables_and_json(tmp_path):
    harness = load_harness()
    cases = [name for name in harness.REGISTRY if name != "blas"]  # blas spawns processes: slow
    rows = harness.main(["--tiny", "--cases", ",".join(cases), "--out", str(tmp_path)])
    assert {row.case for row in rows} == set(cases)
    for row in rows:
        assert row.ours_seconds > 0 and row.reference_seconds > 0
        if row.max_relative_difference is not None:  # ours agrees with the independent reference
            assert row.max_relative_difference < 1e-9, row
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["mode"] == "tiny" and len(results["rows"]) == len(rows)
    assert int(results["environment"]["cpu_count"]) >= 1
    table = (tmp_path / "RESULTS.md").read_text()
    assert all(harness.REGISTRY[name].title in table for name in cases)
    compressed = [row for row in rows if row.case == "hese_logp" and row.ours == "bayesfit compressed"]
    assert compressed and np.isfinite([row.ratio for row in compressed]).all()
