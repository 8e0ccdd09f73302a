"""Posterior sampling (NUTS: PyMC vs nutpie) and toy fits (serial vs 2 processes vs dask) of HESE.

Both use ``models/hese_diffuse.yaml`` as it is (1e5 generated simulation events, 3 parameters).

NUTS: :func:`bayesfit.inference.posterior.sample_posterior` with ``sampler="pymc"`` and
``"nutpie"`` (bayesfit's settings: a dense / low-rank mass matrix for this small model), 4 chains
on the machine's cores, as many tuning steps as draws. The efficiency is the bulk effective
sample size, the smallest over the parameters, per second of sampling (tuning included), as the
samplers report it (``posterior.attrs["sampling_time"]``); a row's seconds are its inverse,
seconds per effective sample, so that ratio < 1 means nutpie is the more efficient. A second
row uses the wall time of the whole call (model compilation, sampling, post-processing).

By model size (``sampler_by_size``): both samplers on the HESE posterior (4 free entries, the
compressed predictor the analysis builder now uses), the 13-parameter counting workspace and
the 131-entry ATLAS top-pair workspace (``shared/reference/pyhf``), wall time of the whole call
(compilation included, as ``bayesfit run`` pays it) per effective sample; these rows are what
:func:`bayesfit.inference.posterior.resolve_sampler` picks ``"auto"`` by.

Toys: :func:`bayesfit.inference.toys.toy_pvalue` (goodness of fit: one fit per toy) with
:class:`~bayesfit.inference.toys.SerialExecutor`, a ``ProcessPoolExecutor(2)`` and a dask
``LocalCluster(n_workers=2, threads_per_worker=1)``, given as the client itself (the objective
scattered to the workers once) and as ``client.get_executor()`` (the objective in every task,
unpickled once per worker). The pools are
started and warmed up (workers import bayesfit and load the compiled objective) before the timed
studies; that start-up is reported separately. The toy statistics must be identical whatever
the executor (``max rel diff``).
"""

from __future__ import annotations

import logging
import pickle
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import ExitStack
from typing import Any

import numpy as np
from bench_common import Row, relative_difference
from bench_fits import HESE_FILE, hese_analysis

#: Generated simulation events of the model file (its own setting).
HESE_GENERATED = 100_000
N_CHAINS = 4
#: Workers of the process pool and of the dask cluster.
N_WORKERS = 2
#: Seed of the untimed warm-up study on a fresh pool (the timed studies use seeds 0, 1, ...).
WARM_UP_SEED = 99


def _sample(model: Any, sampler: str, draws: int, seed: int) -> tuple[float, float, float]:
    """``(min bulk ESS, sampling seconds, wall seconds)`` of one NUTS run."""
    import arviz as az

    from bayesfit.inference.posterior import sample_posterior

    tick = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small ESS / r-hat warnings at tiny sizes are expected
        idata = sample_posterior(model, draws=draws, tune=draws, chains=N_CHAINS, seed=seed, sampler=sampler,
                                 progressbar=False)
    wall = time.perf_counter() - tick
    names = [p.name for p in model.free_parameters]
    ess = az.ess(idata, var_names=names, method="bulk")
    smallest = min(float(np.min(ess[name].values)) for name in names)
    return smallest, float(idata.posterior.attrs["sampling_time"]), wall


def nuts(sizes: Sequence[int]) -> list[Row]:
    """ESS per second of PyMC's NUTS and nutpie on the HESE posterior, per number of draws per chain.

    Runs of 1000 draws or more are repeated 3 times with different seeds (the median is
    reported), shorter ones once.
    """
    logging.getLogger("pymc").setLevel(logging.ERROR)
    model = hese_analysis(HESE_GENERATED).model
    rows = []
    for draws in sizes:
        repeats = 3 if draws >= 1000 else 1
        runs: dict[str, list[tuple[float, float, float]]] = {"pymc": [], "nutpie": []}
        for seed in range(repeats):
            for sampler in runs:
                runs[sampler].append(_sample(model, sampler, draws, seed))
        per_ess = {sampler: (float(np.median([s / e for e, s, _ in values])),
                             float(np.median([w / e for e, _, w in values])),
                             float(np.median([e for e, _, _ in values]))) for sampler, values in runs.items()}
        extra = {f"{sampler}_ess_per_s": 1.0 / per_ess[sampler][0] for sampler in runs}
        extra |= {f"{sampler}_min_bulk_ess": per_ess[sampler][2] for sampler in runs}
        note = f"{N_CHAINS} chains x {draws} draws (+{draws} tune); median of {repeats} run(s)"
        rows.append(Row("nuts", draws, "nutpie: sampling s per effective sample", per_ess["nutpie"][0],
                        "PyMC NUTS: sampling s per effective sample", per_ess["pymc"][0], None, note, extra))
        rows.append(Row("nuts", draws, "nutpie: wall s (incl. compile) per effective sample", per_ess["nutpie"][1],
                        "PyMC NUTS: wall s (incl. compile) per effective sample", per_ess["pymc"][1], None, note,
                        {f"{sampler}_wall_ess_per_s": 1.0 / per_ess[sampler][1] for sampler in runs}))
    return rows


def _size_models() -> dict[int, tuple[str, Any]]:
    """``{free entries: (name, model)}`` of the models of :func:`sampler_by_size` that are here."""
    from bench_histfactory import WORKSPACES

    from bayesfit.analysis import Analysis, read_analysis
    from bayesfit.histfactory import build_model

    models = {}
    hese = Analysis(read_analysis(HESE_FILE)).model
    models[sum(p.n_free for p in hese.free_parameters)] = ("HESE (compressed)", hese)
    for path, _ in WORKSPACES.values():
        if path.exists():
            model = build_model(path)
            models[sum(p.n_free for p in model.free_parameters)] = (path.stem, model)
    return models


def sampler_by_size(sizes: Sequence[int]) -> list[Row]:
    """Wall seconds (compilation included) per effective sample of nutpie and PyMC's NUTS by model
    size, one run each of 4 chains x ``draws`` (+ as many tuning steps) per ``draws`` in ``sizes``."""
    logging.getLogger("pymc").setLevel(logging.ERROR)
    rows = []
    for n_free, (name, model) in sorted(_size_models().items()):
        for draws in sizes:
            runs = {sampler: _sample(model, sampler, draws, seed=0) for sampler in ("pymc", "nutpie")}
            extra = {f"{sampler}_{what}": value for sampler, (ess, sampling, wall) in runs.items()
                     for what, value in (("wall_s", wall), ("sampling_s", sampling), ("min_bulk_ess", ess))}
            note = f"{name}: {N_CHAINS} chains x {draws} draws (+{draws} tune), one run each"
            (pymc_ess, _, pymc_wall), (nutpie_ess, _, nutpie_wall) = runs["pymc"], runs["nutpie"]
            rows.append(Row("sampler_by_size", n_free, "nutpie: wall s (incl. compile) per effective sample",
                            nutpie_wall / nutpie_ess, "PyMC NUTS: wall s (incl. compile) per effective sample",
                            pymc_wall / pymc_ess, None, note, extra))
    return rows


def _study(objective: Any, executor: Executor, n_toys: int, seed: int) -> tuple[np.ndarray, float]:
    """Toy statistics and wall seconds of one goodness-of-fit toy study (executors of 2 workers),
    one fit per toy (``batched=False``: the executors' scaling on fits of milliseconds each; the
    batched fits are timed in ``toys_batched``)."""
    from bayesfit.inference.toys import toy_pvalue

    tick = time.perf_counter()
    result = toy_pvalue(objective, None, n_toys=n_toys, executor=executor, seed=seed, n_workers=N_WORKERS,
                        batched=False)
    return result.toys.statistics, time.perf_counter() - tick


def toys(sizes: Sequence[int]) -> list[Row]:
    """Toy fits per second of the HESE model: serial vs 2 processes vs a 2-worker dask cluster.

    ``n_toys`` are fitted per executor, in ``max(1, min(4, n_toys // 100))`` studies of equal size
    run in turn on every executor (the median seconds per toy over the studies is reported).
    """
    from bayesfit.inference.toys import TASKS_PER_WORKER, SerialExecutor

    objective = hese_analysis(HESE_GENERATED).objective
    pickled_megabytes = len(pickle.dumps(objective)) / 1e6  # sent with every task
    warm_up_toys = TASKS_PER_WORKER * N_WORKERS
    rows = []
    for n_toys in sizes:
        n_studies = max(1, min(4, n_toys // 100))
        per_study = max(1, n_toys // n_studies)
        with ExitStack() as stack:
            startup: dict[str, float] = {}
            executors: dict[str, Executor] = {"serial": SerialExecutor()}
            tick = time.perf_counter()
            executors["ProcessPoolExecutor(2)"] = stack.enter_context(ProcessPoolExecutor(max_workers=N_WORKERS))
            _study(objective, executors["ProcessPoolExecutor(2)"], warm_up_toys, seed=WARM_UP_SEED)
            startup["ProcessPoolExecutor(2)"] = time.perf_counter() - tick
            dask = _dask_client(stack)
            if dask is not None:
                tick = time.perf_counter()
                executors["dask LocalCluster(2 workers), Client (scatter)"] = dask
                _study(objective, dask, warm_up_toys, seed=WARM_UP_SEED)
                startup["dask LocalCluster(2 workers), Client (scatter)"] = time.perf_counter() - tick
                executors["dask LocalCluster(2 workers), get_executor()"] = dask.get_executor()
                startup["dask LocalCluster(2 workers), get_executor()"] = 0.0
            seconds: dict[str, list[float]] = {name: [] for name in executors}
            statistics: dict[str, list[np.ndarray]] = {name: [] for name in executors}
            for study in range(n_studies):
                for name, executor in executors.items():
                    values, wall = _study(objective, executor, per_study, seed=study)
                    seconds[name].append(wall / per_study)
                    statistics[name].append(values)
        serial = float(np.median(seconds["serial"]))
        reference = np.concatenate(statistics["serial"])
        note = f"{n_studies} x {per_study} toys" + ("" if dask is not None else "; dask.distributed not installed")
        for name in executors:
            if name == "serial":
                continue
            ours = float(np.median(seconds[name]))
            rows.append(Row("toys", n_toys, f"{name}: s per toy fit", ours, "serial: s per toy fit", serial,
                            _statistics_difference(np.concatenate(statistics[name]), reference),
                            f"{note}; start-up + warm-up {startup[name]:.1f} s (once)",
                            {"toys_per_s": 1.0 / ours, "serial_toys_per_s": 1.0 / serial,
                             "failed_toys": float(np.isnan(reference).sum()),
                             "pickled_objective_MB": pickled_megabytes}))
    return rows


def _statistics_difference(ours: np.ndarray, reference: np.ndarray) -> float:
    """Relative difference of toy statistics; infinite if different toys failed (NaN)."""
    failed = np.isnan(reference)
    if not np.array_equal(failed, np.isnan(ours)):
        return float("inf")
    return relative_difference([ours[~failed]], [reference[~failed]])


def _dask_client(stack: ExitStack) -> Any:
    """A client of a local 2-process cluster, or ``None`` without dask.distributed."""
    try:
        import distributed
    except ImportError:
        return None
    cluster = stack.enter_context(distributed.LocalCluster(
        n_workers=N_WORKERS, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR))
    return stack.enter_context(distributed.Client(cluster))
