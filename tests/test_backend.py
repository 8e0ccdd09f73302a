"""bayesfit.backend: PyTensor linked to SciPy's OpenBLAS gives correct BLAS products."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytensor
import pytensor.tensor as pt

from bayesfit.backend import BLAS_ROUTINES, blas_status, configure_blas


def test_configure_blas_is_idempotent_and_explains_itself():
    first, second = configure_blas(), blas_status()
    assert first is second
    assert first.reason
    if first.configured:
        assert pytensor.config.blas__ldflags == first.ldflags
        assert all(f"-D{routine}=scipy_{routine}" in first.ldflags for routine in BLAS_ROUTINES)


def test_blas_products_match_numpy():
    """Gemv, Gemm, Ger and dot through whatever BLAS is linked, against numpy."""
    configure_blas()
    matrix, other, vector = pt.matrix("matrix"), pt.matrix("other"), pt.vector("vector")
    value = pt.sum(pt.log(matrix @ vector)) + pt.sum(matrix @ other) + pt.dot(vector, vector)
    function = pytensor.function([matrix, other, vector], [value, pytensor.grad(value, vector)])
    rng = np.random.default_rng(4)
    a, b, x = rng.uniform(size=(50, 20)), rng.uniform(size=(20, 7)), rng.uniform(size=20)
    got_value, got_gradient = function(a, b, x)
    np.testing.assert_allclose(got_value, np.log(a @ x).sum() + (a @ b).sum() + x @ x, rtol=1e-13)
    np.testing.assert_allclose(got_gradient, a.T @ (1 / (a @ x)) + 2 * x, rtol=1e-13)
    if blas_status().configured:
        kinds = {type(node.op).__name__ for node in function.maker.fgraph.apply_nodes}
        assert "CGemv" in kinds  # the C implementation, only built with a linked BLAS


def test_disabled_by_environment_and_user_flags_win():
    code = "from bayesfit.backend import configure_blas; print(configure_blas().reason)"
    for extra, expected in (({"BAYESFIT_BLAS": "0"}, "disabled by BAYESFIT_BLAS=0"),
                            ({"PYTENSOR_FLAGS": "blas__ldflags=-lblas"}, "set by the user")):
        environment = dict(os.environ, **extra)
        if "PYTENSOR_FLAGS" in extra and os.environ.get("PYTENSOR_FLAGS"):
            environment["PYTENSOR_FLAGS"] = os.environ["PYTENSOR_FLAGS"] + "," + extra["PYTENSOR_FLAGS"]
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment)
        assert expected in result.stdout, result.stderr


def test_an_unusable_openblas_is_a_warning_and_changes_nothing(tmp_path):
    code = (
        "import bayesfit.backend as backend, pytensor\n"
        "def missing(): raise LookupError('no library here')\n"
        "backend._scipy_openblas_library = missing\n"
        "status = backend.configure_blas()\n"
        "assert not status.configured and not hasattr(type(pytensor.config).__dict__['blas__ldflags'], 'val')\n"
    )
    environment = {k: v for k, v in os.environ.items() if k != "BAYESFIT_BLAS"}
    environment["PYTENSOR_FLAGS"] = f"compiledir={tmp_path}"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment)
    assert result.returncode == 0, result.stderr
    assert "BLAS: SciPy's OpenBLAS not usable: no library here; PyTensor searches" in result.stderr


def test_numpy_mode_sums_and_products_in_pairs():
    """A sum and a product of three terms run as numpy ufuncs of two operands (PyTensor evaluates
    wider elementwise ops one element at a time in Python), with the same values."""
    from pytensor.tensor.elemwise import Elemwise

    from bayesfit.backend import numpy_mode

    a, b, c = (pt.vector(name) for name in "abc")
    function = pytensor.function([a, b, c], [pt.add(a, b, c), pt.mul(a, b, c)], mode=numpy_mode())
    widths = [len(node.inputs) for node in function.maker.fgraph.apply_nodes if isinstance(node.op, Elemwise)]
    assert widths and max(widths) == 2
    values = [np.arange(4.0), np.full(4, 2.0), np.linspace(-1, 1, 4)]
    total, product = function(*values)
    np.testing.assert_array_equal(total, values[0] + values[1] + values[2])
    np.testing.assert_array_equal(product, values[0] * values[1] * values[2])
