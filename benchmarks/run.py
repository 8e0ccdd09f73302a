"""bayesfit benchmark harness: each case side by side with its reference, in one process run.

Run: ``OPENBLAS_NUM_THREADS=1 python benchmarks/run.py [--quick | --tiny] [--cases a,b] [--out DIR]``

Writes ``RESULTS.md`` (markdown tables, with CPU count and library versions) and ``results.json``
into ``--out`` (default: this folder). Times are medians of repeated calls, the functions of a
row called in turn so that all see the same load of the shared machine; ratios are ours /
reference. ``--quick`` finishes in under 3 minutes with a warm PyTensor compile cache (1 min 37 s
measured on 2 cores; the first run compiles every graph and takes 5 min 27 s);
``--tiny`` only checks that every case still runs.

A case is a function ``(sizes) -> list[Row]`` registered with :func:`case`, with its sizes for
the three modes; the larger cases live in the sibling modules ``bench_*.py`` (fits, cross-section
chain, NUTS, toys, HistFactory). A case that cannot run here (e.g. pyhf missing) raises
:class:`~bench_common.SkipCase`: it is listed as skipped, with the reason, in both output files.
``SPEEDUPS.md`` (before/after rows of each speed-up, hand-written) and ``PROFILES.md`` (written by
``profile_hot_paths.py``), if present, are appended to ``RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # sibling benchmark modules (bench_*.py)

import bench_fits  # noqa: E402
import bench_histfactory  # noqa: E402
import bench_numba  # noqa: E402
import bench_patchset  # noqa: E402
import bench_run  # noqa: E402
import bench_sampling  # noqa: E402
import bench_toys  # noqa: E402
import bench_xsec  # noqa: E402
from bench_common import Row, SkipCase, interleaved_medians, relative_difference  # noqa: E402

MODES = ("tiny", "quick", "full")


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    function: Callable[[Sequence[int]], list[Row]]
    sizes: dict[str, tuple[int, ...]] = field(default_factory=dict)


REGISTRY: dict[str, Case] = {}


def case(name: str, title: str, *, tiny: tuple[int, ...], quick: tuple[int, ...], full: tuple[int, ...]):
    """Register a benchmark case and its sizes per mode (no sizes: not run in that mode)."""

    def register(function: Callable[[Sequence[int]], list[Row]]):
        REGISTRY[name] = Case(name, title, function, {"tiny": tiny, "quick": quick, "full": full})
        return function

    return register


# ---------------------------------------------------------------------------- HESE-like models
POINT = (1.05, 6.3, 2.85)  # atmo_norm, astro_norm, astro_gamma


def hese_events(n_events: int, n_bins: int, seed: int = 2026) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Synthetic HESE-like events (about 10% outside the binning) and Poisson counts."""
    rng = np.random.default_rng(seed)
    events = {
        "primaryEnergy": np.exp(rng.uniform(np.log(1e4), np.log(1e7), n_events)),
        "atmoWeight": rng.exponential(1e-3, n_events) * 400 / n_bins,
        "astroWeight": rng.exponential(1e-4, n_events) * 400 / n_bins,
    }
    bin_index = np.where(rng.uniform(size=n_events) < 0.1, -1, rng.integers(0, n_bins, n_events))
    inside = bin_index >= 0
    mu = np.bincount(bin_index[inside], (events["atmoWeight"] + 6 * events["astroWeight"])[inside], n_bins)
    counts = rng.poisson(mu * 1e5 / max(n_events, 1)).astype(float)
    return events, bin_index, counts


def compiled_logp(predictor, counts: np.ndarray) -> Callable[..., list[np.ndarray]]:
    """Poisson log likelihood (ln k! included) and its gradient, compiled with PyTensor."""
    import pytensor
    import pytensor.tensor as pt
    from scipy import special

    inputs = predictor.symbols()
    expected = predictor.expected(inputs)[0]
    logp = pt.sum(counts * pt.log(expected) - expected) - special.gammaln(counts + 1).sum()
    variables = [inputs[name] for name in predictor.parameter_names]
    return pytensor.function(variables, [logp, *pytensor.grad(logp, variables)])


def hese_predictors(events, bin_index, n_bins):
    from bayesfit.predictors.compressed import CompressedReweightedMCPredictor
    from bayesfit.predictors.reweight import Component, ReweightedMCPredictor
    from bayesfit.predictors.spectra import PowerLaw

    components = [
        Component("atmoWeight", norm="atmo_norm"),
        Component("astroWeight", norm="astro_norm",
                  spectrum=PowerLaw("primaryEnergy", index="astro_gamma", pivot=1e5, generated_index=2.5)),
    ]
    exact = ReweightedMCPredictor(events, bin_index, n_bins, components=components)
    compressed = CompressedReweightedMCPredictor(events, bin_index, n_bins, components=components)
    return exact, compressed


@case("hese_logp", "HESE logp + gradient (400 bins) vs number of MC events",
      tiny=(3_000,), quick=(10_000, 100_000, 1_000_000), full=(10_000, 100_000, 1_000_000, 10_000_000))
def hese_logp(sizes: Sequence[int]) -> list[Row]:
    from bench_predictors import numpy_reweight, seed_mask_logp

    rows = []
    n_bins = 400
    for n_events in sizes:
        events, bin_index, counts = hese_events(n_events, n_bins)
        exact, compressed = hese_predictors(events, bin_index, n_bins)
        functions = {
            "bayesfit exact": compiled_logp(exact, counts),
            "bayesfit compressed": compiled_logp(compressed, counts),
            "numpy bincount": numpy_reweight(events, bin_index, counts, n_bins),
        }
        run_seed = n_events <= 1_000_000  # 400 masks of 1e7 booleans: 4 GB
        if run_seed:
            functions["seed masks (value only)"] = seed_mask_logp(events, bin_index, counts, n_bins)
        reference = functions["numpy bincount"](*POINT)
        errors = {name: relative_difference(functions[name](*POINT), reference)
                  for name in ("bayesfit exact", "bayesfit compressed")}
        if run_seed:
            errors["seed masks (value only)"] = abs(functions["seed masks (value only)"](*POINT) - reference[0]) / abs(reference[0])
        budget = 1.0 if n_events < 1_000_000 else 3.0
        medians = dict(zip(functions, interleaved_medians(
            [lambda f=f: f(*POINT) for f in functions.values()], min_repeats=3, budget=budget)))
        slices = compressed.tables[0].slices
        note = f"compressed: {slices.n_slices} slices x {slices.order + 1} moments"
        for ours in ("bayesfit exact", "bayesfit compressed"):
            rows.append(Row("hese_logp", n_events, ours, medians[ours], "numpy bincount",
                            medians["numpy bincount"], errors[ours], note))
        if run_seed:
            for ours in ("numpy bincount", "bayesfit compressed"):
                rows.append(Row("hese_logp", n_events, ours, medians[ours], "seed masks (value only)",
                                medians["seed masks (value only)"], errors["seed masks (value only)"]))
    return rows


@case("scaling_bins", "HESE-like logp + gradient vs number of bins (1e5 events, at least 25 per bin)",
      tiny=(40, 400), quick=(40, 400, 4_000), full=(40, 400, 4_000, 40_000))
def scaling_bins(sizes: Sequence[int]) -> list[Row]:
    from bench_predictors import numpy_reweight

    rows = []
    for n_bins in sizes:
        events, bin_index, counts = hese_events(max(100_000, 25 * n_bins), n_bins)  # no empty bins
        exact, compressed = hese_predictors(events, bin_index, n_bins)
        functions = [compiled_logp(exact, counts), compiled_logp(compressed, counts),
                     numpy_reweight(events, bin_index, counts, n_bins)]
        reference = functions[2](*POINT)
        medians = interleaved_medians([lambda f=f: f(*POINT) for f in functions], min_repeats=3, budget=1.0)
        for name, function, median in zip(("bayesfit exact", "bayesfit compressed"), functions, medians):
            rows.append(Row("scaling_bins", n_bins, name, median, "numpy bincount", medians[2],
                            relative_difference(function(*POINT), reference), f"{len(events['atmoWeight']):.0e} events"))
    return rows


# ---------------------------------------------------------------------------- response matrix
def response_case(n_universes: int, seed: int = 7):
    """Compiled bayesfit and numpy logp + gradient of ``K x 8 x 169`` response matrices."""
    import pytensor
    import pytensor.tensor as pt
    from scipy import special

    from bayesfit.predictors.response import ResponseMatrix

    rng = np.random.default_rng(seed)
    matrices = rng.uniform(0.0, 1.0, (n_universes, 8, 169))
    matrices = matrices / matrices.sum(axis=1, keepdims=True) * rng.uniform(0.3, 0.9, (n_universes, 1, 169))
    truth = rng.uniform(5.0, 50.0, 169)
    counts = rng.poisson(matrices[0] @ truth).astype(float)
    constant = special.gammaln(counts + 1).sum()
    predictor = ResponseMatrix(matrices=matrices, weights=np.ones(n_universes)).predictor()
    inputs = predictor.symbols()
    expected = predictor.expected(inputs)
    per_universe = pt.sum(counts * pt.log(expected) - expected, axis=1) - constant
    logp = pt.logsumexp(per_universe) - np.log(n_universes)
    compiled = pytensor.function([inputs["truth"]], [logp, pytensor.grad(logp, inputs["truth"])])
    flat = matrices.reshape(-1, 169)

    def numpy_function(values: np.ndarray):
        mu = (flat @ values).reshape(n_universes, -1)
        per = np.sum(counts * np.log(mu) - mu, axis=1) - constant
        shifted = np.exp(per - per.max())
        posterior = shifted / shifted.sum()
        gradient = (posterior[:, None] * (counts / mu - 1.0)).reshape(-1) @ flat
        return [per.max() + np.log(shifted.sum()) - np.log(n_universes), gradient]

    return compiled, numpy_function, truth


@case("scaling_universes", "response-matrix logp + gradient vs universes (K x 8 x 169)",
      tiny=(1, 10), quick=(1, 10, 100), full=(1, 10, 100, 1_000))
def scaling_universes(sizes: Sequence[int]) -> list[Row]:
    rows = []
    for n_universes in sizes:
        compiled, numpy_function, truth = response_case(n_universes)
        medians = interleaved_medians([lambda: compiled(truth), lambda: numpy_function(truth)], budget=1.0)
        error = relative_difference(compiled(truth), numpy_function(truth))
        rows.append(Row("scaling_universes", n_universes, "bayesfit", medians[0], "numpy", medians[1], error))
    return rows


# ---------------------------------------------------------------------------- filling
@case("fill", "binning fill into the 2x10x20 HESE binning vs number of events",
      tiny=(20_000,), quick=(1_000_000,), full=(1_000_000,))
def fill(sizes: Sequence[int]) -> list[Row]:
    from bench_fill import loop_fill, make_events

    from bayesfit.binning import hese_binning

    binning = hese_binning()
    rows = []
    for n_events in sizes:
        events = make_events(n_events)
        columns = {name: events[name] for name in ("topology", "zenith", "energy")}
        weights = events["weight"]
        edges = [np.array([-0.5, 0.5, 1.5]), binning.axes[1].edges, binning.axes[2].edges]
        sample = np.column_stack([events["topology"], events["zenith"], events["energy"]])
        ours = binning.fill(columns, weights).sumw
        reference, _ = np.histogramdd(sample, bins=edges, weights=weights)
        error = relative_difference([ours], [reference.ravel()])
        medians = interleaved_medians(
            [lambda: binning.fill(columns, weights), lambda: np.histogramdd(sample, bins=edges, weights=weights)],
            min_repeats=3, budget=1.0)
        n_loop = min(n_events, 20_000)
        subsample = {name: values[:n_loop] for name, values in events.items()}
        tick = time.perf_counter()
        loop_fill(subsample, edges, binning.size)
        loop_seconds = (time.perf_counter() - tick) * n_events / n_loop
        rows.append(Row("fill", n_events, "bayesfit fill (sumw, sumw2, n)", medians[0],
                        "np.histogramdd (sumw)", medians[1], error))
        rows.append(Row("fill", n_events, "bayesfit fill (sumw, sumw2, n)", medians[0],
                        "per-event Python loop", loop_seconds, None, f"loop timed on {n_loop} events, scaled"))
    return rows


# ---------------------------------------------------------------------------- BLAS
def blas_probe(n_universes: int, n_events: int, numba: bool) -> dict[str, float]:
    """In a child process: medians of the response and HESE logp + gradient (see :func:`blas`)."""
    import pytensor

    from bayesfit.backend import configure_blas

    status = configure_blas()
    if numba:
        pytensor.config.mode = "NUMBA"
    compiled, _, truth = response_case(n_universes)
    events, bin_index, counts = hese_events(n_events, 400)
    exact, compressed = hese_predictors(events, bin_index, 400)
    exact_function, compressed_function = compiled_logp(exact, counts), compiled_logp(compressed, counts)
    medians = interleaved_medians(
        [lambda: compiled(truth), lambda: exact_function(*POINT), lambda: compressed_function(*POINT)], budget=1.5)
    return {"response": medians[0], "hese exact": medians[1], "hese compressed": medians[2],
            "ldflags": pytensor.config.blas__ldflags[:60], "configured": status.configured}


def _probe_in_child(setting: str, n_universes: int, n_events: int) -> dict:
    environment = dict(os.environ, BAYESFIT_BLAS="0" if setting == "no BLAS (pip default)" else "1")
    command = [sys.executable, str(Path(__file__).resolve()), "--blas-probe",
               json.dumps([n_universes, n_events, setting == "numba"])]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


@case("blas", "BLAS: default pip PyTensor vs bayesfit.backend (SciPy's OpenBLAS) vs numba",
      tiny=(10,), quick=(100,), full=(100,))
def blas(sizes: Sequence[int]) -> list[Row]:
    rows = []
    for n_universes in sizes:
        n_events = 100_000 if n_universes >= 100 else 5_000
        settings = ["no BLAS (pip default)", "bayesfit.backend BLAS"] + (["numba"] if n_universes >= 100 else [])
        probes = {setting: _probe_in_child(setting, n_universes, n_events) for setting in settings}
        baseline = probes["no BLAS (pip default)"]
        for setting in settings[1:]:
            for key, label in (("response", f"response {n_universes}x8x169"),
                               ("hese exact", f"HESE 400 bins exact, {n_events:.0e} events"),
                               ("hese compressed", "HESE 400 bins compressed")):
                rows.append(Row("blas", n_universes, f"{setting}: {label}", probes[setting][key],
                                f"no BLAS: {label}", baseline[key], None, probes[setting]["ldflags"]))
    return rows


# ---------------------------------------------------------------------------- sibling modules
case("xsec_chain", "cross-section example: logp + gradient with K universes marginalised (template model)",
     tiny=(10,), quick=(100,), full=(10, 100))(bench_xsec.xsec_chain)
case("fit_hese", "HESE ML fit (models/hese_diffuse.yaml) vs generated simulation events: bayesfit fit vs "
     "scipy L-BFGS-B with finite differences",
     tiny=(20_000,), quick=(100_000,), full=(100_000, 1_000_000))(bench_fits.fit_hese)
case("fit_xsec", "cross-section 4-template ML fit (K universes marginalised): bayesfit fit vs scipy L-BFGS-B "
     "with finite differences", tiny=(10,), quick=(100,), full=(100,))(bench_fits.fit_xsec)
case("nuts", "NUTS on the HESE posterior (4 chains): nutpie vs PyMC, seconds per effective sample "
     "(bulk ESS, smallest over parameters) vs draws per chain",
     tiny=(20,), quick=(100,), full=(1_000,))(bench_sampling.nuts)
case("sampler_by_size", "NUTS by model size (free entries: HESE 4, counting workspace 13, ATLAS workspace 131): "
     "nutpie vs PyMC, wall seconds (compilation included) per effective sample; size is the free entries "
     "(PyMC on the ATLAS workspace takes many minutes: full mode only)",
     tiny=(), quick=(), full=(200,))(bench_sampling.sampler_by_size)
case("toys", "HESE toy fits (goodness of fit, one fit per toy): 2 processes and a 2-worker dask cluster vs "
     "serial, seconds per toy vs number of toys", tiny=(20,), quick=(100,), full=(1_000, 10_000))(bench_sampling.toys)
case("toys_batched", "HESE goodness-of-fit toys: batched fits (compilation included) vs one fit per toy (a subset, "
     "scaled), serial and 2 processes", tiny=(100,), quick=(2_000,), full=(10_000,))(bench_toys.toys_batched)
case("toys_cls_atlas", "ATLAS workspace toy CLs (q~, n + n toys): batched fits (compilation included), serial and "
     "2 processes, vs one fit per toy (a subset, scaled), with pyhf's asymptotic CLs", tiny=(), quick=(),
     full=(1_000,))(bench_toys.toys_cls_atlas)
case("run_hese", "bayesfit run models/hese_diffuse.yaml per phase, warm and cold compile cache: compressed "
     "simulation and sampler auto vs the previous path (per-event simulation, PyMC), seconds; size: draws per chain "
     "(6 runs of the whole file, each path with its own compile cache, empty for its first run: full mode only)",
     tiny=(), quick=(), full=(1_000,))(bench_run.run_hese)
case("histfactory_fit", "HistFactory ML fit (build_model + bayesfit.inference.fit) vs pyhf (numpy backend), by "
     "workspace bins (3: counting, 37: ATLAS top-pair; pyhf's fits of it take minutes: full mode only)",
     tiny=(3,), quick=(3,), full=(3, 37))(bench_histfactory.histfactory_fit)
case("histfactory_cls", "HistFactory asymptotic CLs (bayesfit.inference.hypotest, q~, expected band) vs pyhf "
     "(numpy backend), by workspace bins",
     tiny=(3,), quick=(3,), full=(3, 37))(bench_histfactory.histfactory_cls)
case("patchset_limits", "limits of the example patchset (models/inputs/patchset, asymptotic CLs): 2 processes and "
     "a 2-worker dask cluster vs serial, seconds per patch vs number of patches",
     tiny=(1,), quick=(4,), full=(16,))(bench_patchset.patchset_limits)
case("numba", "PyTensor numba backend vs default C backend, same model, calls interleaved (size: HESE generated "
     "events or xsec universes; first numba compile about a minute per model: full mode only)",
     tiny=(), quick=(), full=(100_000,))(bench_numba.numba_fits)


# ---------------------------------------------------------------------------- output
def environment() -> dict[str, str]:
    import numpy
    import pytensor
    import scipy

    versions = {"python": platform.python_version(), "numpy": numpy.__version__, "scipy": scipy.__version__,
                "pytensor": pytensor.__version__}
    try:
        import pymc

        versions["pymc"] = pymc.__version__
    except ImportError:
        pass
    from bayesfit.backend import blas_status

    return {"cpu_count": str(os.cpu_count()), "machine": platform.machine(), "system": platform.system(),
            "load average (1 min, at the end)": f"{os.getloadavg()[0]:.1f}",
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", ""),
            "blas": blas_status().reason, **versions}


def markdown(rows: list[Row], info: dict[str, str], mode: str, seconds: float, durations: dict[str, float],
             skipped: dict[str, str]) -> str:
    """``RESULTS.md``: one table per case, skipped cases with their reason, the numba note, and
    ``SPEEDUPS.md`` and ``PROFILES.md`` when present."""
    lines = ["# bayesfit benchmarks", "",
             f"Generated by `python benchmarks/run.py{'' if mode == 'full' else ' --' + mode}` in {seconds:.0f} s. "
             "Medians of repeated calls, the functions of a row called in turn; ratio = ours / reference "
             "(below 1: ours is faster). The machine is shared: single timings vary by 2-3x with its load.", "",
             "Machine: " + ", ".join(f"{key} {value}" for key, value in info.items()), ""]
    groups = _grouped(rows)
    for name in durations:
        lines += [f"## {REGISTRY[name].title}", ""]
        if name in skipped:
            lines += [f"Skipped: {skipped[name]}", ""]
            continue
        lines += [f"Case run time {durations[name]:.0f} s.", "",
                  "| size | ours | ours [ms] | reference | reference [ms] | ratio | speed-up | max rel diff | note |",
                  "|---:|---|---:|---|---:|---:|---:|---:|---|"]
        for row in groups.get(name, []):
            difference = "" if row.max_relative_difference is None else f"{row.max_relative_difference:.1e}"
            note = "; ".join([row.note] * bool(row.note) + [f"{key} {value:.4g}" for key, value in row.extra.items()])
            lines.append(f"| {row.size:,} | {row.ours} | {row.ours_seconds * 1e3:.3f} | {row.reference} | "
                         f"{row.reference_seconds * 1e3:.3f} | {row.ratio:.3f} | {_speedup(row.ratio)} | "
                         f"{difference} | {note} |")
        lines.append("")
    lines += numba_note(rows)
    for hand_written in ("SPEEDUPS.md", "PROFILES.md"):
        if (HERE / hand_written).exists():
            lines += [(HERE / hand_written).read_text().rstrip(), ""]
    return "\n".join(lines)


def numba_note(rows: list[Row]) -> list[str]:
    """How to switch PyTensor to its numba backend, with the differences measured by the blas
    and numba cases."""
    numba = {row.ours.removeprefix("numba: "): row for row in rows
             if row.case == "blas" and row.ours.startswith("numba: ")}
    blas = {row.ours.removeprefix("bayesfit.backend BLAS: "): row for row in rows
            if row.case == "blas" and row.ours.startswith("bayesfit.backend BLAS: ")}
    common = [label for label in numba if label in blas]
    direct = [row for row in rows if row.case == "numba"]
    if not common and not direct:
        return []
    lines = ["## Numba backend (option)", "",
             "bayesfit compiles with PyTensor's default mode (C, with SciPy's OpenBLAS linked by `bayesfit.backend`). "
             "PyTensor's numba backend is an option that needs no code change: set it before anything is compiled, "
             "`PYTENSOR_FLAGS=mode=NUMBA python ...` or `import pytensor; pytensor.config.mode = \"NUMBA\"` "
             "(nutpie always compiles with numba). Its first compilation of a model costs about a minute here "
             "(cached on disk afterwards, then seconds).", ""]
    if direct:
        lines += ["Measured in one process, calls interleaved (numba case above):", "",
                  "| workload | C [ms] | numba [ms] | numba / C |", "|---|---:|---:|---:|"]
        lines += [f"| {row.ours.removeprefix('numba: ')} | {row.reference_seconds * 1e3:.3f} | "
                  f"{row.ours_seconds * 1e3:.3f} | {row.ratio:.2f} |" for row in direct]
        lines.append("")
    if common:
        lines += ["Measured in separate child processes one after the other (blas case above; the machine's load "
                  "may differ between them), logp + gradient per call:", "",
                  "| graph | C + BLAS [ms] | numba [ms] | numba / C |", "|---|---:|---:|---:|"]
        lines += [f"| {label} | {blas[label].ours_seconds * 1e3:.3f} | {numba[label].ours_seconds * 1e3:.3f} | "
                  f"{numba[label].ours_seconds / blas[label].ours_seconds:.2f} |" for label in common]
        lines.append("")
    return lines


def _grouped(rows: list[Row]) -> dict[str, list[Row]]:
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.case, []).append(row)
    return groups


def main(arguments: Sequence[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes, under 3 minutes")
    size.add_argument("--tiny", action="store_true", help="tiny sizes: checks that every case runs")
    parser.add_argument("--cases", default=",".join(REGISTRY), help=f"comma-separated, from {list(REGISTRY)}")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for RESULTS.md and results.json")
    parser.add_argument("--blas-probe", help=argparse.SUPPRESS)
    options = parser.parse_args(arguments)
    if options.blas_probe:
        print(json.dumps(blas_probe(*json.loads(options.blas_probe))))
        return []
    from bayesfit.backend import configure_blas

    configure_blas()  # several cases compile their own graphs first
    mode = "tiny" if options.tiny else "quick" if options.quick else "full"
    names = [name.strip() for name in options.cases.split(",") if name.strip()]
    unknown = sorted(set(names) - set(REGISTRY))
    if unknown:
        parser.error(f"unknown case(s) {unknown}; known: {list(REGISTRY)}")
    start = time.perf_counter()
    rows: list[Row] = []
    durations: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for name in names:
        registered = REGISTRY[name]
        tick = time.perf_counter()
        try:
            if not registered.sizes[mode]:
                raise SkipCase(f"not run in {mode} mode")
            new_rows = registered.function(registered.sizes[mode])
        except SkipCase as reason:
            skipped[name] = str(reason)
            new_rows = []
            print(f"  ({name}: skipped: {reason})", flush=True)
        durations[name] = time.perf_counter() - tick
        rows += new_rows
        for row in new_rows:
            print(f"{row.case:>17} {row.size:>10,}  {row.ours:<45} {row.ours_seconds * 1e3:9.3f} ms  "
                  f"vs {row.reference:<40} {row.reference_seconds * 1e3:9.3f} ms  ratio {row.ratio:7.3f}", flush=True)
        print(f"  ({name}: {durations[name]:.0f} s)", flush=True)
    seconds = time.perf_counter() - start
    info = environment()
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "RESULTS.md").write_text(markdown(rows, info, mode, seconds, durations, skipped))
    records = [{**asdict(row), "ratio": row.ratio} for row in rows]
    (options.out / "results.json").write_text(json.dumps(
        {"mode": mode, "seconds": seconds, "case_seconds": durations, "skipped": skipped, "environment": info,
         "rows": records}, indent=1, default=float))
    return rows


def _speedup(ratio: float) -> str:
    """``1 / ratio`` as a speed-up; a phase that ours does not have (ratio 0) has none."""
    return f"{1 / ratio:.1f}x" if ratio > 0 else "-"


if __name__ == "__main__":
    main()
