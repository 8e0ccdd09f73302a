"""Test-session set-up: one PyTensor compile directory per pytest-xdist worker.

PyTensor holds a file lock on its compile directory while it compiles a C module, so xdist
workers sharing one directory wait for each other's cold compiles (most of a CI run starts cold).
Each worker (``PYTEST_XDIST_WORKER``, e.g. ``gw0``) therefore compiles into a subfolder
``xdist-gw0`` of the configured compile directory (``compiledir`` from ``PYTENSOR_FLAGS``, else a
subfolder of ``base_compiledir``, default ``~/.pytensor``). PyTensor reads ``PYTENSOR_FLAGS`` once,
on its first import, so this module must run before anything imports pytensor: pytest imports it
before the test modules, and :func:`pytest_configure` checks that pytensor picked the folder up.
A serial run (no xdist) is left alone.

Importing bayesfit does not configure PyTensor's BLAS; bayesfit does it at its first compilation.
Many tests compile graphs of their own, in any order, so the session configures it first
(:func:`blas`), as a user's code that compiles its own graphs would.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

WORKER = os.environ.get("PYTEST_XDIST_WORKER")


def _flags(text: str) -> dict[str, str]:
    """``PYTENSOR_FLAGS`` as a dict (comma-separated ``key=value``; a later key overrides, as in PyTensor)."""
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {key.strip(): value.strip() for key, value in pairs}


def _worker_flag(flags: dict[str, str], worker: str) -> str:
    """The ``PYTENSOR_FLAGS`` entry that moves the compile cache into the worker's own folder."""
    if "compiledir" in flags:
        return f"compiledir={Path(flags['compiledir']).expanduser() / f'xdist-{worker}'}"
    base = Path(flags.get("base_compiledir", "~/.pytensor")).expanduser()
    return f"base_compiledir={base / f'xdist-{worker}'}"


if WORKER is not None:
    _existing = os.environ.get("PYTENSOR_FLAGS", "")
    os.environ["PYTENSOR_FLAGS"] = ",".join(filter(None, [_existing, _worker_flag(_flags(_existing), WORKER)]))


def pytest_configure(config: pytest.Config) -> None:
    """Under xdist, fail early if pytensor was imported before this module set the worker's folder."""
    if WORKER is None:
        return
    import pytensor

    if f"xdist-{WORKER}" not in str(pytensor.config.compiledir):
        raise pytest.UsageError(
            f"xdist worker {WORKER}: pytensor compiles into {pytensor.config.compiledir}, not its own folder: "
            "pytensor was imported (by a plugin?) before tests/conftest.py set PYTENSOR_FLAGS"
        )


@pytest.fixture(scope="session", autouse=True)
def blas() -> None:
    """BLAS configured before the first test compiles anything (see the module notes)."""
    from bayesfit.backend import configure_blas

    configure_blas()
