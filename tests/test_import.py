"""Importing bayesfit has no side effects; BLAS is configured at bayesfit's first compilation.

Each check runs in a fresh interpreter (``python -c``): in the test process PyTensor has long
been configured and has compiled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bayesfit"

#: bayesfit, its command line and every subpackage.
MODULES = ("bayesfit", "bayesfit.cli", *sorted(f"bayesfit.{path.parent.name}" for path in PACKAGE.glob("*/__init__.py")))

# The state of every PyTensor config variable without evaluating lazy defaults (reading
# blas__ldflags would run PyTensor's BLAS search): whether it holds a value, which, and whether
# the value came from the user; plus the values every import reads anyway.
IMPORT_CHECK = """
import json, os, sys
import pytensor

def state():
    config = pytensor.config
    values = {"compiledir": str(config.compiledir), "floatX": config.floatX, "cxx": config.cxx,
              "files": sorted(os.listdir(config.compiledir))}
    variables = {name: [hasattr(parameter, "val"), repr(getattr(parameter, "val", None)), parameter.is_default]
                 for name, parameter in config._config_var_dict.items()}
    return {**values, "variables": variables}

before = state()
for module in sys.argv[2:]:
    __import__(module)
after = state()
with open(sys.argv[1], "w") as handle:
    json.dump({"before": before, "after": after}, handle)
"""

FIT_THEN_STATUS = """
import json
import pytensor
from bayesfit.backend import blas_status
from bayesfit.inference import fit
from bayesfit.model import BinnedModel
from bayesfit.predictors import TemplatePredictor

result = fit(BinnedModel(TemplatePredictor([[5.0, 3.0], [1.0, 2.0]]), [6, 4]))
assert result.converged
status = blas_status()
print(json.dumps({"reason": status.reason, "configured": status.configured,
                  "ldflags": pytensor.config.blas__ldflags}))
"""


def _python(code: str, *arguments: str, environment: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *arguments], capture_output=True, text=True,
                          env=environment or dict(os.environ), check=True, timeout=600)


def _clean_environment(**flags: str) -> dict[str, str]:
    """The test environment without bayesfit's and PyTensor's switches, plus ``flags``."""
    environment = {k: v for k, v in os.environ.items() if k not in ("BAYESFIT_BLAS", "PYTENSOR_FLAGS")}
    return {**environment, **flags}


def test_import_changes_no_pytensor_config_writes_nothing_and_prints_nothing(tmp_path):
    report = tmp_path / "report.json"
    compiledir = tmp_path / "compiledir"
    environment = _clean_environment(PYTENSOR_FLAGS=f"compiledir={compiledir}")
    completed = _python(IMPORT_CHECK, str(report), *MODULES, environment=environment)
    states = json.loads(report.read_text())
    before, after = states["before"], states["after"]
    assert before["compiledir"] == str(compiledir)
    assert before["files"] == ["__init__.py"]  # what `import pytensor` itself creates
    changed = {name: (before["variables"][name], value) for name, value in after["variables"].items()
               if before["variables"].get(name) != value}
    assert not changed
    assert after == before
    assert not after["variables"]["blas__ldflags"][0]  # neither set nor evaluated
    assert completed.stdout == ""


@pytest.mark.parametrize("user_flags", [False, True], ids=["default", "user-ldflags"])
def test_first_compilation_configures_blas_unless_the_user_set_flags(user_flags):
    """A fit in a fresh process ends with the BLAS status a direct ``configure_blas()`` gets
    there: bayesfit configured BLAS before it compiled anything (had a compilation come first,
    the status would read "already in use"). Flags set by the user stay as they are."""
    import pytensor

    flags = f"compiledir={pytensor.config.compiledir}"  # this test process's: a warm cache
    environment = _clean_environment(PYTENSOR_FLAGS=f"{flags},blas__ldflags=" if user_flags else flags)
    direct = _python("from bayesfit.backend import configure_blas; print(configure_blas().reason)",
                     environment=environment).stdout.strip()
    after_fit = json.loads(_python(FIT_THEN_STATUS, environment=environment).stdout.strip().splitlines()[-1])
    assert after_fit["reason"] == direct
    assert "already in use" not in after_fit["reason"]
    if user_flags:
        assert not after_fit["configured"] and after_fit["ldflags"] == ""
        assert "set by the user" in after_fit["reason"]
    elif after_fit["configured"]:
        assert after_fit["ldflags"].startswith("-L") and "-Ddgemv_=scipy_dgemv_" in after_fit["ldflags"]


COMPILER_FLAGS_AT_BUILD = """
import json
import pytensor
from bayesfit.model import BinnedModel
from bayesfit.predictors import TemplatePredictor

BinnedModel(TemplatePredictor([[5.0, 3.0], [1.0, 2.0]]), [6, 4])  # bayesfit's first compilation
flags_at_build = pytensor.config.gcc__cxxflags
import pymc  # noqa: F401  (the posterior's functions import it, if nothing did before)
print(json.dumps([flags_at_build, pytensor.config.gcc__cxxflags]))
"""


def test_compilations_use_the_compiler_flags_pymc_sets():
    """bayesfit's compilations (from a model's construction on) run under the compiler flags PyMC
    adds at its import: C modules are cached under their flags, and a fit compiled before PyMC's
    import had every module compiled again for the posterior's functions."""
    at_build, after_pymc = json.loads(_python(COMPILER_FLAGS_AT_BUILD).stdout.strip().splitlines()[-1])
    assert at_build == after_pymc
