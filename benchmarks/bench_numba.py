"""PyTensor's numba backend vs its default C backend on the fits, in one process, calls interleaved.

The same :class:`~bayesfit.model.BinnedModel` is compiled twice by
:class:`~bayesfit.inference.objective.Objective`: once in the default mode (C, with bayesfit's BLAS)
and once under ``pytensor.config.change_flags(mode="NUMBA")``, which is what
``PYTENSOR_FLAGS=mode=NUMBA`` does for a whole program. Compared: ``Objective.value_and_grad``
and a one-start :func:`~bayesfit.inference.fit` (Hessian included) of the HESE model
(``models/hese_diffuse.yaml``) and of the cross-section template model (100 universes).
numba compiles slowly the first time (about a minute per model here; cached on disk afterwards):
the case runs in full mode only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from bench_common import Row, interleaved_medians, relative_difference
from bench_fits import hese_analysis
from bench_xsec import POINT, xsec_setup

XSEC_UNIVERSES = 100


def _numba_objective(model: Any) -> tuple[Any, float]:
    """The model's ML objective compiled with numba (its Hessian too), and the seconds it took."""
    import pytensor

    from bayesfit.inference.objective import Objective

    tick = time.perf_counter()
    with pytensor.config.change_flags(mode="NUMBA"):
        objective = Objective(model, "ml")
        objective.hessian(objective.pack(model.start_point()))
    return objective, time.perf_counter() - tick


def _rows(size: int, name: str, default: Any, numba: Any, x: np.ndarray, compile_seconds: float) -> list[Row]:
    from bayesfit.inference.fit import fit

    counts = default.model.observed
    fit(default)  # compiles the default Hessian
    data = default.data(counts)
    difference = relative_difference(numba.value_and_grad(x, data), default.value_and_grad(x, data))
    note = f"numba compile (objective + Hessian) {compile_seconds:.1f} s"
    logp = interleaved_medians([lambda: numba.value_and_grad(x, data), lambda: default.value_and_grad(x, data)],
                               budget=1.0)
    fits = interleaved_medians([lambda: fit(numba, n_random_starts=0), lambda: fit(default, n_random_starts=0)],
                               min_repeats=3, budget=1.0)
    nll = relative_difference([fit(numba, n_random_starts=0).nll], [fit(default, n_random_starts=0).nll])
    return [Row("numba", size, f"numba: {name} logp + gradient", logp[0], f"C: {name} logp + gradient", logp[1],
                difference, note),
            Row("numba", size, f"numba: {name} fit (1 start)", fits[0], f"C: {name} fit (1 start)", fits[1], nll, note)]


def numba_fits(sizes: Sequence[int]) -> list[Row]:
    """numba vs C for the HESE model (``sizes``: generated simulation events; the rows' size) and
    the cross-section template model (100 universes; size 100)."""
    rows = []
    for n_generated in sizes:
        analysis = hese_analysis(n_generated)
        numba, seconds = _numba_objective(analysis.model)
        default = analysis.objective
        x = default.pack({"atmo_norm": 1.05, "astro_norm": 6.3, "astro_gamma": 2.85})
        rows += _rows(n_generated, "HESE", default, numba, x, seconds)
        setup = xsec_setup(XSEC_UNIVERSES)
        numba, seconds = _numba_objective(setup.model)
        rows += _rows(XSEC_UNIVERSES, f"xsec ({XSEC_UNIVERSES} universes)", setup.objective, numba,
                      setup.objective.pack(POINT), seconds)
    return rows
