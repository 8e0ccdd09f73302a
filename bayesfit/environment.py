"""What bayesfit runs on: versions of the numerical stack, BLAS, compiler and samplers.

``bayesfit info`` prints :func:`environment_info`; every run records :func:`package_versions` in
its provenance.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import asdict
from importlib import metadata
from typing import Any

__all__ = ["REPORTED_PACKAGES", "environment_info", "installed_version", "package_versions"]

#: Distributions whose versions are reported (``None``: not installed).
REPORTED_PACKAGES = ("numpy", "scipy", "pytensor", "pymc", "arviz", "nutpie", "numba", "pyhf", "dask", "uproot")


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution`` (from its metadata, without importing it)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def package_versions() -> dict[str, str | None]:
    """``{"python": ..., "bayesfit": ..., <each of REPORTED_PACKAGES>: version or None}``."""
    from bayesfit import __version__

    return {
        "python": platform.python_version(),
        "bayesfit": __version__,
        **{name: installed_version(name) for name in REPORTED_PACKAGES},
    }


def environment_info() -> dict[str, Any]:
    """What bayesfit runs on, as a JSON-ready dict (``bayesfit info`` prints it).

    Keys: ``bayesfit`` and ``python`` (versions), ``packages`` (version of each of
    :data:`REPORTED_PACKAGES`, ``None`` if not installed), ``blas`` (the
    :class:`~bayesfit.backend.BlasStatus` of :func:`~bayesfit.backend.configure_blas`, which runs
    now if it has not yet, and the ``blas__ldflags`` PyTensor compiles with), ``pytensor`` (compile
    directory, C++ compiler, mode, floatX) and ``samplers`` (the NUTS implementations installed and
    the one ``sampler="auto"`` picks).
    """
    import pytensor

    from bayesfit.backend import blas_status
    from bayesfit.errors import InferenceError
    from bayesfit.inference.posterior import SAMPLERS, resolve_sampler

    versions = package_versions()
    status = blas_status()
    config = pytensor.config
    available = []
    for sampler in (name for name in SAMPLERS if name != "auto"):
        try:
            available.append(resolve_sampler(sampler))
        except InferenceError:  # not installed
            continue
    return {
        "bayesfit": versions.pop("bayesfit"),
        "python": f"{versions.pop('python')} ({sys.executable})",
        "packages": versions,
        "blas": {**asdict(status), "blas__ldflags": config.blas__ldflags},
        "pytensor": {"compiledir": str(config.compiledir), "cxx": config.cxx, "mode": str(config.mode),
                     "floatX": config.floatX},
        "samplers": {"available": available, "auto": resolve_sampler("auto")},
    }
