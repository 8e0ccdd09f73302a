"""``bayesfit info`` and the command's logging: stderr for messages, stdout for reports."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import numpy
import pytensor
import pytest

from bayesfit import __version__
from bayesfit.backend import blas_status
from bayesfit.environment import REPORTED_PACKAGES, environment_info, installed_version
from bayesfit.cli import _logging_to_stderr, main
from bayesfit.inference.posterior import resolve_sampler
from bayesfit.output import progress_reporter


def test_environment_info_reports_versions_blas_compiler_and_samplers():
    info = environment_info()
    assert info["bayesfit"] == __version__
    assert info["python"].startswith(".".join(map(str, sys.version_info[:3])))
    assert list(info["packages"]) == list(REPORTED_PACKAGES)
    assert info["packages"]["numpy"] == numpy.__version__ and info["packages"]["pytensor"] == pytensor.__version__
    status = blas_status()
    assert info["blas"] == {"configured": status.configured, "ldflags": status.ldflags, "reason": status.reason,
                            "blas__ldflags": pytensor.config.blas__ldflags}
    assert info["pytensor"]["compiledir"] == str(pytensor.config.compiledir)
    assert info["pytensor"]["cxx"] == pytensor.config.cxx
    assert info["samplers"]["auto"] == resolve_sampler("auto") and "pymc" in info["samplers"]["available"]
    assert ("nutpie" in info["samplers"]["available"]) == (info["packages"]["nutpie"] is not None)
    assert installed_version("no-such-distribution-bayesfit") is None


def test_info_prints_the_report_on_stdout(capsys):
    assert main(["info", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == environment_info()
    assert captured.err == ""
    assert main(["info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["bayesfit", __version__]
    assert any(line.split(None, 1) == ["BLAS", blas_status().reason] for line in lines)
    assert any(line.startswith("samplers") and line.endswith(f"(auto: {resolve_sampler('auto')})") for line in lines)


def test_verbose_shows_debug_messages_on_stderr_and_quiet_excludes_verbose():
    """In a fresh process ``info`` configures BLAS, whose outcome is a DEBUG message."""
    command = [sys.executable, "-m", "bayesfit.cli", "info"]
    verbose = subprocess.run([*command, "-v"], capture_output=True, text=True, check=True)
    assert "[bayesfit] BLAS: " in verbose.stderr and "[bayesfit]" not in verbose.stdout
    assert "compile directory" in verbose.stdout
    default = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "[bayesfit] BLAS: " not in default.stderr
    both = subprocess.run([*command, "-v", "--quiet"], capture_output=True, text=True)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_of_a_command_goes_to_stderr_and_quiet_hides_it(quiet, capsys):
    logger = logging.getLogger("bayesfit")
    level, handlers = logger.level, list(logger.handlers)
    with _logging_to_stderr(quiet=quiet, verbose=False):
        progress_reporter(True)("maximum-likelihood fit in 0.1 s")
        logging.getLogger("bayesfit.inference.fit").warning("the starts reached different minima")
    captured = capsys.readouterr()
    assert captured.out == ""
    expected = [] if quiet else ["[bayesfit] maximum-likelihood fit in 0.1 s"]
    assert captured.err.splitlines() == [*expected, "[bayesfit] the starts reached different minima"]
    assert (logger.level, logger.handlers) == (level, handlers)  # the command leaves logging as it was
