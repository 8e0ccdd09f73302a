"""nutpie's NUTS on PyTensor's compiled C functions of a ``pm.Model``, chains in parallel processes.

nutpie's own compilation of a ``pm.Model`` (``nutpie.compile_pymc_model``) translates the log
density to numba at every run: about 7 s before the first draw on a 4-parameter model, whatever
the compile cache holds. Here the log density and its gradient in the sampler's unconstrained
coordinates (PyMC's value variables, joined into one vector), and the map from those coordinates
to the traced variables, are PyTensor functions of the default (C) backend, which come from the
compile cache; nutpie's Rust sampler calls them through ``nutpie.compiled_pyfunc.from_pyfunc``.
The density, the coordinates and the start points are exactly those of PyMC's own NUTS on the
same ``pm.Model``.

A Python callback holds the GIL, so chains run in parallel only in separate processes: each chain
is one ``nutpie.sample`` call with its own seed (from ``numpy.random.SeedSequence(seed)``), so
draws depend on the seed and the chain only, not on how chains are spread over processes.
Processes are forked from the caller, which has compiled the functions once; where ``fork`` is
not available (macOS, Windows) the chains run one after the other.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import sys
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["chain_seeds", "pytensor_nutpie_model", "sample_chains"]

logger = logging.getLogger(__name__)

#: The compiled nutpie model of the sampling in progress, inherited by forked chain processes.
_FORKED: dict[str, Any] = {}


def pytensor_nutpie_model(pymc_model: Any, jitter_rvs: set[Any]) -> Any:
    """A nutpie model (``from_pyfunc``) of ``pymc_model`` evaluated by PyTensor's C functions.

    ``jitter_rvs``: the random variables whose start values get PyMC's U(-1, 1) jitter in their
    unconstrained coordinates (the others start at their initial values, e.g. prior draws).
    """
    import pytensor
    from nutpie.compiled_pyfunc import from_pyfunc
    from pymc.initial_point import make_initial_point_fn
    from pymc.pytensorf import compile as compile_with_checks
    from pymc.pytensorf import join_nonshared_inputs

    value_vars = pymc_model.value_vars
    initial_point = make_initial_point_fn(model=pymc_model, jitter_rvs=jitter_rvs, return_transformed=True)
    point = initial_point(0)  # the shapes of the value variables
    (logp,), joined = join_nonshared_inputs(point, [pymc_model.logp(jacobian=True)], value_vars)
    logp_and_grad = compile_with_checks([joined], [logp, pytensor.grad(logp, joined)])
    logp_and_grad.trust_input = True

    traced = pymc_model.unobserved_RVs
    names = [variable.name for variable in traced]
    outputs, joined_expand = join_nonshared_inputs(point, pymc_model.replace_rvs_by_values(traced), value_vars)
    expand = compile_with_checks([joined_expand], outputs)
    expand.trust_input = True

    def flat_initial_point(seed: int) -> np.ndarray:
        values = initial_point(seed)
        return np.concatenate([np.ravel(values[v.name]) for v in value_vars]).astype(np.float64)

    start = flat_initial_point(0)
    shapes = [np.shape(value) for value in expand(start)]

    def make_logp() -> Any:
        def logp_function(x: np.ndarray) -> tuple[float, np.ndarray]:
            value, gradient = logp_and_grad(x)
            return float(value), np.array(gradient, dtype=np.float64)

        return logp_function

    def make_expand(_seed1: int, _seed2: int, _chain: int) -> Any:
        def expand_function(x: np.ndarray) -> dict[str, np.ndarray]:
            return {name: np.array(value, dtype=np.float64).reshape(shape)
                    for name, value, shape in zip(names, expand(x), shapes)}

        return expand_function

    dims = {name: tuple(pymc_model.named_vars_to_dims[name]) for name in names if name in pymc_model.named_vars_to_dims}
    coords = {dim: pd.Index(pymc_model.coords[dim]) for dim in {d for ds in dims.values() for d in ds}}
    return from_pyfunc(
        start.size, make_logp, make_expand, [np.dtype(np.float64)] * len(names), shapes, names,
        coords=coords, dims=dims, make_initial_point_fn=flat_initial_point,
    )


def chain_seeds(seed: int | None, chains: int) -> list[int]:
    """One nutpie seed per chain from ``seed`` (``None``: fresh entropy)."""
    return [int(s.generate_state(1, np.uint32)[0]) for s in np.random.SeedSequence(seed).spawn(chains)]


def sample_chains(compiled: Any, *, chains: int, cores: int, seed: int | None, settings: Mapping[str, Any]) -> Any:
    """``chains`` chains of nutpie's NUTS on ``compiled`` (one ``nutpie.sample`` call per chain,
    ``settings`` passed on), ``cores`` of them at a time in forked processes; one
    :class:`arviz.InferenceData` with chains ``0 .. chains - 1``."""
    seeds = chain_seeds(seed, chains)
    processes = min(cores, chains)
    start = time.perf_counter()
    if processes > 1 and _can_fork():
        _FORKED["compiled"], _FORKED["settings"] = compiled, dict(settings)
        context = multiprocessing.get_context("fork")
        pool = context.Pool(processes, initializer=_ignore_interrupts)
        try:
            parts = []
            for part in pool.imap(_forked_chain, seeds):
                parts.append(part)
                logger.info("NUTS chain %d of %d done (%.1f s)", len(parts), chains, time.perf_counter() - start)
            pool.close()
        finally:
            pool.terminate()  # an interrupt or error here stops the other chains at once
            pool.join()
            _FORKED.clear()
    else:
        parts = []
        for chain_seed in seeds:
            parts.append(_one_chain(compiled, chain_seed, settings))
            logger.info("NUTS chain %d of %d done (%.1f s)", len(parts), chains, time.perf_counter() - start)
    idata = _join_chains(parts)
    idata.posterior.attrs["sampling_time"] = time.perf_counter() - start
    return idata


def _join_chains(parts: list[Any]) -> Any:
    """One InferenceData of one-chain InferenceData objects, chains numbered in order."""
    import arviz as az
    import xarray as xr

    groups = {}
    for group in parts[0].groups():
        datasets = [part[group] for part in parts]
        if "chain" in datasets[0].dims:
            joined = xr.concat(datasets, dim="chain", combine_attrs="override")
            groups[group] = joined.assign_coords(chain=np.arange(len(parts)))
        else:
            groups[group] = datasets[0]
    return az.InferenceData(**groups)


def _one_chain(compiled: Any, chain_seed: int, settings: Mapping[str, Any]) -> Any:
    import nutpie

    return nutpie.sample(compiled, chains=1, cores=1, seed=chain_seed, progress_bar=False, **settings)


def _forked_chain(chain_seed: int) -> Any:
    return _one_chain(_FORKED["compiled"], chain_seed, _FORKED["settings"])


def _ignore_interrupts() -> None:
    """Chain processes leave Ctrl-C to the caller, which stops them (no traceback per process)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _can_fork() -> bool:
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
