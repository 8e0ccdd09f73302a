"""PyTensor's environment: its C backend linked to the BLAS that pip installed, and a report.

A pip-installed PyTensor finds no system BLAS on most machines, warns "could not link to a BLAS
installation" and runs matrix-vector and matrix-matrix products (``Gemv``, ``Gemm``) through slower
Python-level fallbacks. SciPy's wheels bundle OpenBLAS (``scipy.libs/libscipy_openblas-*.so`` on
Linux, ``scipy/.dylibs`` on macOS) with the standard 32-bit-integer (LP64) BLAS interface, but
every symbol carries a ``scipy_`` prefix (``scipy_dgemm_``). PyTensor accepts arbitrary compiler
flags in ``blas__ldflags``, so the library is linked (through a symbolic link with a plain
``lib<name>.so`` name in PyTensor's compile directory) and each BLAS name PyTensor's C
code calls is renamed with a ``-D dgemm_=scipy_dgemm_`` macro. (NumPy's own bundled OpenBLAS is
ILP64, 64-bit integers, and cannot serve PyTensor's 32-bit declarations.)

:func:`configure_blas` does this once per process, after importing PyMC: PyMC adds its compiler
flags to ``gcc__cxxflags`` when it is imported, and PyTensor caches C modules under their flags, so
every module compiled before that import would be compiled a second time after it (a fit's, before
the posterior's functions). Importing bayesfit changes nothing: bayesfit
calls it just before it compiles a predictor's graph (:meth:`Predictor.evaluate
<bayesfit.predictors.base.Predictor.evaluate>`; a :class:`~bayesfit.model.BinnedModel` evaluates
its predictor when it is built, so this is the first compilation of every model and of everything
compiled from it), before SMC of any PyMC model, and in toy workers before they unpickle a
compiled objective. Code that compiles graphs of its own first calls it explicitly.

- It leaves a ``blas__ldflags`` set by the user (``PYTENSOR_FLAGS``, ``.pytensorrc``) alone, and
  does nothing when ``BAYESFIT_BLAS=0`` is set in the environment.
- It checks that the library exports the symbols (``ctypes``) and that a test program links with
  the flags (one compiler call, cached per library in PyTensor's compile directory).
- On any failure it changes nothing, so PyTensor's own search runs (and warns) as before; the
  reason is kept in :func:`blas_status`.

:func:`environment_info` gathers what ``bayesfit info`` prints: versions, the BLAS status, the
compile directory and compiler, and the samplers available.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["BlasStatus", "blas_status", "configure_blas", "numpy_mode", "scipy_openblas_flags"]

logger = logging.getLogger(__name__)

#: The BLAS routines PyTensor's C code declares (``pytensor/tensor/blas_headers.py``).
BLAS_ROUTINES = tuple(
    f"{precision}{routine}_"
    for routine in ("gemm", "gemv", "axpy", "scal", "copy", "swap", "syrk")
    for precision in "sdcz"
) + ("sger_", "dger_", "sdot_", "ddot_", "ssymv_", "dsymv_")

#: Symbol prefix of SciPy's bundled OpenBLAS.
SYMBOL_PREFIX = "scipy_"

_LINK_TEST = """
extern "C" void dgemm_(char*, char*, int*, int*, int*, double*, double*, int*, double*, int*,
                       double*, double*, int*);
int main() {
    int n = 2; double one = 1.0, zero = 0.0;
    double a[4] = {1, 2, 3, 4}, b[4] = {1, 0, 0, 1}, c[4];
    char no = 'N';
    dgemm_(&no, &no, &n, &n, &n, &one, a, &n, b, &n, &zero, c, &n);
    return (c[0] == 1.0 && c[3] == 4.0) ? 0 : 1;
}
"""


@dataclass(frozen=True)
class BlasStatus:
    """What :func:`configure_blas` did.

    Attributes
    ----------
    configured:
        ``True`` if bayesfit set ``pytensor.config.blas__ldflags``.
    ldflags:
        The value of ``blas__ldflags`` bayesfit set (empty if it set none).
    reason:
        Why it set what it set, or why it left PyTensor's default alone.
    """

    configured: bool
    ldflags: str
    reason: str


_status: BlasStatus | None = None


def blas_status() -> BlasStatus:
    """The outcome of :func:`configure_blas` (which runs now if it has not yet)."""
    return configure_blas()


def configure_blas() -> BlasStatus:
    """Point PyTensor's ``blas__ldflags`` at SciPy's OpenBLAS if that works, after PyMC's
    compiler flags are in force (it imports PyMC); idempotent.

    bayesfit calls it before it compiles (see the module notes); code that compiles graphs of its
    own before using bayesfit calls it first. Never raises: on failure PyTensor keeps its default
    behaviour and the returned :class:`BlasStatus` says why (logged at DEBUG; a warning when
    SciPy's OpenBLAS should have worked but did not).
    """
    global _status
    if _status is None:
        _adopt_pymc_compiler_flags()
        _status = _configure()
        logger.debug("BLAS: %s", _status.reason)
    return _status


@functools.cache
def numpy_mode() -> Any:
    """PyTensor's ``FAST_COMPILE`` mode (the ops' numpy implementations: milliseconds to build,
    no C compilation) with sums and products of more than two terms evaluated in pairs.

    numpy's ``add`` and ``multiply`` take two operands, and PyTensor evaluates an elementwise sum
    of three terms (e.g. three components of a prediction) one element at a time in Python:
    1.2 s of HESE's per-draw post-processing (4000 draws x 400 bins). Built once per process.
    """
    import pytensor.tensor as pt
    from pytensor.compile.mode import get_mode
    from pytensor.graph.rewriting.basic import in2out, node_rewriter
    from pytensor.scalar import basic as scalar
    from pytensor.tensor.elemwise import Elemwise

    @node_rewriter([Elemwise])
    def pairwise(fgraph: Any, node: Any) -> list[Any] | None:
        if not isinstance(node.op.scalar_op, (scalar.Add, scalar.Mul)) or len(node.inputs) <= 2:
            return None
        binary = pt.add if isinstance(node.op.scalar_op, scalar.Add) else pt.mul
        result = node.inputs[0]
        for term in node.inputs[1:]:
            result = binary(result, term)
        return [result]

    return get_mode("FAST_COMPILE").register((in2out(pairwise, name="pairwise_sums_and_products"), 100))


def _adopt_pymc_compiler_flags() -> None:
    """Import PyMC, which adds its compiler flags to ``pytensor.config.gcc__cxxflags`` when it is
    imported, before bayesfit compiles anything. PyTensor caches C modules under their compiler
    flags, so the modules of a fit compiled before PyMC's import were compiled again for the
    posterior's functions after it: 35 modules of the HESE model, about 20 s with an empty cache."""
    import pymc  # noqa: F401


def _configure() -> BlasStatus:
    if os.environ.get("BAYESFIT_BLAS", "1").strip().lower() in ("0", "false", "no", "off"):
        return BlasStatus(False, "", "disabled by BAYESFIT_BLAS=0")
    import pytensor

    config = pytensor.config
    parameter = type(config).__dict__["blas__ldflags"]
    if _set_by_user(config, parameter):
        return BlasStatus(False, "", "blas__ldflags set by the user (PYTENSOR_FLAGS or .pytensorrc)")
    if hasattr(parameter, "val"):
        return BlasStatus(False, "", f"blas__ldflags already in use: {config.blas__ldflags!r}")
    if not config.cxx:
        return BlasStatus(False, "", "no C++ compiler: PyTensor uses its Python backend")
    try:
        flags = scipy_openblas_flags(Path(config.compiledir) / "bayesfit_blas")
    except (OSError, ImportError, LookupError) as error:
        return _unusable(f"SciPy's OpenBLAS not usable: {error}")
    problem = _link_problem(config.cxx, flags, Path(config.compiledir))
    if problem:
        return _unusable(f"test program does not link with {flags!r}: {problem}")
    config.blas__ldflags = flags
    return BlasStatus(True, flags, "linked SciPy's bundled OpenBLAS (scipy_-prefixed symbols)")


def _unusable(reason: str) -> BlasStatus:
    """The status, and a warning, when SciPy's OpenBLAS should have worked but did not."""
    logger.warning("BLAS: %s; PyTensor searches for a BLAS itself (see `bayesfit info`)", reason)
    return BlasStatus(False, "", reason)


def _set_by_user(config, parameter) -> bool:
    """Whether ``blas__ldflags`` comes from ``PYTENSOR_FLAGS`` or a ``.pytensorrc`` file.

    PyTensor consumes the flags it read (``is_default`` turns ``False``); a value not read yet
    is still found by ``fetch_val_for_key``.
    """
    if hasattr(parameter, "val"):
        return not parameter.is_default
    try:
        config.fetch_val_for_key("blas__ldflags")
    except KeyError:
        return False
    return True


def _scipy_openblas_library() -> Path:
    """Path of SciPy's bundled LP64 OpenBLAS, checked to export ``scipy_dgemm_``."""
    import scipy

    package = Path(scipy.__file__).parent
    patterns = ("libscipy_openblas*.so*", "libscipy_openblas*.dylib")
    folders = (package.parent / "scipy.libs", package / ".dylibs")
    candidates = sorted(path for folder in folders for pattern in patterns for path in folder.glob(pattern))
    if not candidates:
        raise LookupError(f"no libscipy_openblas library in {[str(f) for f in folders]}")
    for library in candidates:
        handle = ctypes.CDLL(str(library))
        if all(hasattr(handle, SYMBOL_PREFIX + name) for name in ("dgemm_", "dgemv_", "ddot_")):
            return library
    raise LookupError(f"{[str(c) for c in candidates]} export no {SYMBOL_PREFIX}dgemm_")


def scipy_openblas_flags(link_folder: Path) -> str:
    """``blas__ldflags`` linking SciPy's OpenBLAS, with the symbol-renaming macros.

    The library is reached through a symbolic link ``lib<name>.so`` in ``link_folder`` so that it
    can be named with a plain ``-l<name>``, the form PyTensor passes to every BLAS Op's link step.
    The libraries next to it (its libgfortran) are linked there too, under their own names.
    """
    if sys.platform == "win32":
        raise LookupError("linking SciPy's OpenBLAS by path is not supported on Windows")
    library = _scipy_openblas_library()
    name = "bayesfit_openblas_" + hashlib.sha256(str(library).encode()).hexdigest()[:10]
    links = {link_folder / f"lib{name}{library.suffix}": library}
    links.update({link_folder / neighbour.name: neighbour for neighbour in library.parent.iterdir()})
    for link, target in links.items():
        _symlink(link, target)
    renames = " ".join(f"-D{routine}={SYMBOL_PREFIX}{routine}" for routine in BLAS_ROUTINES)
    folder = shlex.quote(str(link_folder))
    return f"-L{folder} -l{name} -Wl,-rpath,{folder} {renames}"


def _symlink(link: Path, target: Path) -> None:
    """Make ``link`` point to ``target``, atomically (concurrent processes never see half a link)."""
    if link.is_symlink() and link.resolve() == target.resolve():
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    temporary = link.with_name(f".{link.name}.{os.getpid()}")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(target)
    temporary.replace(link)


def _link_problem(compiler: str, flags: str, cache_folder: Path) -> str:
    """Compile, link and run a ``dgemm_`` call with ``flags``; ``""`` if it works, else the error.

    A success is remembered in ``cache_folder`` (keyed by compiler and flags), so the compiler
    runs once per library, not once per process.
    """
    key = hashlib.sha256(f"{compiler}\n{flags}".encode()).hexdigest()[:16]
    marker = cache_folder / f"bayesfit_blas_{key}.json"
    if marker.exists():
        return ""
    with tempfile.TemporaryDirectory(prefix="bayesfit_blas_") as folder:
        source, program = Path(folder) / "test.cpp", Path(folder) / "test"
        source.write_text(_LINK_TEST)
        command = [compiler, str(source), "-o", str(program), *shlex.split(flags)]
        try:
            build = subprocess.run(command, capture_output=True, text=True, timeout=120)
            if build.returncode != 0:
                return build.stderr.strip()[-500:] or f"compiler exit code {build.returncode}"
            run = subprocess.run([str(program)], capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as error:
            return str(error)
        if run.returncode != 0:
            return f"test program returned {run.returncode} (wrong dgemm_ result or crash)"
    try:
        cache_folder.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"compiler": compiler, "flags": flags}))
    except OSError:
        pass  # an unwritable cache only costs a compiler call next time
    return ""
