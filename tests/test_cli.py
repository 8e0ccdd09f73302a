"""The bayesfit command line: help, a fit run writing summary.json, one-line errors, no overwrites."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from scipy import stats
from reference_data import REFERENCE

from bayesfit.cli import main

MODELS = Path(__file__).resolve().parents[1] / "models"
SMALL = REFERENCE / "hese" / "synthetic-small"


def test_help_explains_the_run_command():
    completed = subprocess.run(
        [sys.executable, "-m", "bayesfit.cli", "run", "--help"], capture_output=True, text=True, check=True
    )
    for option in ("--out", "--set", "--no-sample", "--draws", "--tune", "--chains", "--seed", "--sampler", "--force"):
        assert option in completed.stdout
    assert "summary.json" in completed.stdout


def test_sampler_choices_are_the_librarys():
    from bayesfit.cli import SAMPLER_CHOICES
    from bayesfit.inference.posterior import SAMPLERS

    assert tuple(SAMPLER_CHOICES) == tuple(SAMPLERS)


def test_fit_only_run_writes_summary_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "results"
    arguments = [
        "run", str(MODELS / "hese_diffuse.yaml"), "--no-sample", "--quiet", "--out", str(out),
        "--set", f"data.path={SMALL / 'hese_toy_data.json'}",
        "--set", f"simulation.path={SMALL / 'hese_toy_simulation.json'}",
        "--set", "inference.profile.astro_gamma.points=5",
    ]
    assert main(arguments) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["analysis"] == "hese-diffuse"
    assert set(summary["fit"]) >= {"parameters", "neg_log_likelihood", "converged", "edm", "minima_agree"}
    assert set(summary["fit"]["parameters"]) == {"atmo_norm", "astro_norm", "astro_gamma", "prompt_norm"}
    assert set(summary["fit"]["parameters"]["astro_gamma"]) == {"value", "error"}
    assert "posterior" not in summary and "upper_limit_credible" not in summary
    # the prompt-like component: its discovery test and CLs upper limit
    discovery = summary["hypotests"]["prompt_discovery"]
    assert discovery["test_statistic"] == "q0" and 0.0 <= discovery["p_value"] <= 1.0
    limit = summary["upper_limit"]
    assert limit["poi"] == "prompt_norm" and limit["method"] == "cls" and limit["observed"] > 0
    assert list(limit["expected"]) == ["-2sigma", "-1sigma", "median", "+1sigma", "+2sigma"]
    for figure in ("counts_energy.png", "counts_zenith.png", "profile_astro_gamma.png", "correlation.png", "cls_scan.png"):
        assert (out / figure).stat().st_size > 1000
    table = capsys.readouterr().out  # the table on stdout
    assert "astro_gamma" in table and "time: build" in table
    assert main(["show", str(out)]) == 0 and capsys.readouterr().out == table  # again from the saved files
    assert set(summary["timing"]) >= {"build", "fit", "profiles", "hypotests", "upper_limit", "figures", "total"}
    assert summary["provenance"]["overrides"] == arguments[-5::2]

    before = (out / "summary.json").read_bytes()
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--force" in error and "Traceback" not in error
    assert (out / "summary.json").read_bytes() == before


def test_bad_analysis_file_is_one_line_on_stderr(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text((MODELS / "hese_diffuse.yaml").read_text().replace("likelihood: poisson", "likelihood: poison"))
    assert main(["run", str(path), "--no-sample"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("bayesfit: error: ") and "likelihood" in error and error.count("\n") == 1
    with pytest.raises(Exception, match="poison"):
        main(["--debug", "run", str(path), "--no-sample"])


def test_curvature_test_reports_wilks_and_toy_pvalues(tmp_path):
    out = tmp_path / "curvature"
    arguments = [
        "run", str(MODELS / "hese_log_parabola.yaml"), "--no-sample", "--quiet", "--out", str(out),
        "--set", f"data.path={SMALL / 'hese_toy_data.json'}",
        "--set", f"simulation.path={SMALL / 'hese_toy_simulation.json'}",
        "--set", "inference.profile={}",
        "--set", "inference.tests.curvature.toys=6",
    ]
    assert main(arguments) == 0
    test = json.loads((out / "summary.json").read_text())["tests"]["curvature"]
    assert test["hypothesis"] == {"astro_beta": 0.0} and test["dof"] == 1
    assert test["p_value_wilks"] == pytest.approx(stats.chi2.sf(test["statistic"], 1), rel=1e-12)
    assert test["toys"] == 6 and 0.0 <= test["p_value_toys"] <= 1.0


def test_show_refuses_a_summary_that_does_not_follow_the_schema(tmp_path, capsys):
    """``summary.schema.json`` is checked: a missing section and a wrong type are named."""
    from bayesfit.analysis.report import summary_schema, validate_summary
    from bayesfit.errors import BayesfitError

    assert summary_schema()["required"] == ["analysis", "model", "data", "fit", "provenance", "timing"]
    (tmp_path / "summary.json").write_text(json.dumps({"analysis": "x", "fit": {}}))
    assert main(["show", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "schema" in error and "'model' is a required property" in error and error.count("\n") == 1
    valid = {
        "analysis": "x",
        "model": {"kind": "K", "bins": 3, "entries": 1, "poi": None, "likelihood": "poisson", "constrained": []},
        "data": {"events": 5, "likelihood": "poisson"},
        "fit": {"kind": "ml", "parameters": {"mu": {"value": 1.0, "error": None}}, "neg_log_likelihood": 2.0,
                "converged": True, "edm": 1e-9, "minima_agree": True, "starts": 1},
        "provenance": {"versions": {"python": "3", "bayesfit": "0"}, "analysis_file": None, "overrides": [],
                       "resolved_analysis": None, "seed": 0, "inputs": {}},
        "timing": {"fit": 0.5, "total": 1.0},
    }
    validate_summary(valid)
    with pytest.raises(BayesfitError, match="at timing.total"):
        validate_summary({**valid, "timing": {"total": "slow"}})
    with pytest.raises(BayesfitError, match="at fit.converged"):
        validate_summary({**valid, "fit": {**valid["fit"], "converged": "yes"}})


def test_console_command_runs_exit_handlers_and_keeps_the_exit_code():
    """The console command ends the process without the interpreter's teardown, after its
    output and the exit handlers; its exit code is main's (2 for a bad analysis file)."""
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('exit handler ran', flush=True))\n"
        "sys.argv = ['bayesfit', 'run', sys.argv[1]]\n"
        "from bayesfit.cli import console_main\n"
        "print('before', flush=False)\n"
        "console_main()\n"
    )
    completed = subprocess.run([sys.executable, "-c", code, "no-such-file.yaml"], capture_output=True, text=True,
                               timeout=300)
    assert completed.returncode == 2
    assert completed.stdout.splitlines() == ["before", "exit handler ran"]
    assert "no-such-file.yaml" in completed.stderr
