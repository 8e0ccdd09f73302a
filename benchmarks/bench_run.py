"""``bayesfit run models/hese_diffuse.yaml`` phase by phase, warm and cold, against the previous path.

Each run is a fresh process calling :func:`bayesfit.analysis.run.run_analysis_file` (the API of
``bayesfit run``) into a temporary folder, which ends as the command does
(:func:`bayesfit.cli.end_process`: without the interpreter's teardown, 0.8-1.3 s). Inside it,
:class:`PhaseClock` attributes wall time to the innermost phase being run (exclusive times, which
add up to the run's total):

- ``import``: bayesfit's analysis, inference and plotting modules, PyMC, ArviZ and matplotlib;
- ``compile cache``: PyTensor's first look at its compile cache (it reads the index of every
  module compiled before: the cost grows with the cache, and is nil when the cache is empty);
- ``build``: events, binning, predictor and model;
- ``compile``: every PyTensor function bayesfit compiles (objective and gradient, predictor
  evaluations, per-draw post-processing; Hessians are differences of the compiled gradient);
- ``sampler compile``: the sampler's compilation (PyTensor's C function of the MAP objective or
  of the PyMC model for nutpie, nutpie's numba function, or PyMC's ``logp_dlogp_function``);
- ``fit``, ``profile + tests + limit``, ``sample`` (NUTS, posterior predictive, credible limit):
  what these calls spend outside compilation;
- ``plots + output``: the rest of the run (figures, summary, NetCDF).

Ours is the file as it is (compressed simulation, ``sampler: auto``); the reference is the path
before (``simulation.compress=false``, ``inference.sampler=pymc``). Each path has its own
PyTensor compile directory and numba cache (``PYTENSOR_FLAGS=compiledir=...``,
``NUMBA_CACHE_DIR``), empty for its cold run, then reused by its warm runs: the caches of a new
machine after its first run. (A compile directory grown by many other models costs more at the
first compilation of a process, about 3 s for 2600 modules here: PyTensor reads the key of every
module.) The maximum-likelihood fit of ours must equal the reference's (``max rel diff``, over
the fitted values).

The child mode (``python bench_run.py --child OUT [overrides...]``) runs one analysis and
writes its phase times and fitted values to ``OUT`` as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench_common import Row

START = time.perf_counter()
HESE_FILE = Path(__file__).resolve().parents[1] / "models" / "hese_diffuse.yaml"
#: The analysis path before: per-event simulation sums and PyMC's NUTS.
PREVIOUS = ("simulation.compress=false", "inference.sampler=pymc")
PHASES = ("import", "compile cache", "build", "compile", "sampler compile", "fit", "profile + tests + limit", "sample",
          "plots + output")
#: Warm runs of each path (after its cold run, which fills its cache).
WARM_REPEATS = 2


class PhaseClock:
    """Wall time per phase, each moment attributed to the innermost phase running."""

    def __init__(self, first: str) -> None:
        self.seconds: dict[str, float] = {}
        self._stack = [first]
        self._since = time.perf_counter()

    def _switch(self) -> None:
        now = time.perf_counter()
        phase = self._stack[-1]
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self._since
        self._since = now

    def enter(self, phase: str) -> None:
        self._switch()
        self._stack.append(phase)

    def leave(self) -> None:
        self._switch()
        self._stack.pop()

    def wrap(self, owner: Any, attribute: str, phase: str) -> None:
        """Time every call of ``owner.attribute`` as ``phase``."""
        original = getattr(owner, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            self.enter(phase)
            try:
                return original(*args, **kwargs)
            finally:
                self.leave()

        setattr(owner, attribute, timed)

    def stop(self) -> dict[str, float]:
        self._switch()
        return dict(self.seconds)


def child(out: Path, overrides: Sequence[str]) -> None:
    """One run of the HESE file with ``overrides``, its phases and fit written to ``out``."""
    clock = PhaseClock("import")
    clock.seconds["import"] = time.perf_counter() - START  # the interpreter and this module
    import arviz  # noqa: F401
    import matplotlib  # noqa: F401
    import pymc
    import pytensor.link.c.basic as c_basic

    import bayesfit.inference  # noqa: F401
    import bayesfit.plots  # noqa: F401
    from bayesfit.analysis.build import Analysis, ReweightedMCAnalysis
    from bayesfit.analysis.run import RunOptions, run_analysis_file
    from bayesfit.cli import end_process
    from bayesfit.inference import nutpie_pytensor, objective, posterior
    from bayesfit.model import BinnedModel
    from bayesfit.predictors.base import Predictor

    clock.leave()
    clock._stack.append("plots + output")  # whatever the phases below do not claim
    clock.wrap(c_basic, "get_module_cache", "compile cache")
    clock.wrap(ReweightedMCAnalysis, "__init__", "build")
    clock.wrap(BinnedModel, "__init__", "build")
    clock.wrap(objective.Objective, "_compile", "compile")
    clock.wrap(Predictor, "_compiled", "compile")
    clock.wrap(posterior, "_pointwise_function", "compile")
    clock.wrap(pymc.Model, "logp_dlogp_function", "sampler compile")
    clock.wrap(nutpie_pytensor, "pytensor_nutpie_model", "sampler compile")
    clock.wrap(nutpie_pytensor, "objective_nutpie_model", "sampler compile")
    try:
        import nutpie

        clock.wrap(nutpie, "compile_pymc_model", "sampler compile")
    except ImportError:
        pass
    clock.wrap(Analysis, "fit", "fit")
    for name in ("profile", "hypothesis_test", "hypotest", "upper_limit"):
        clock.wrap(Analysis, name, "profile + tests + limit")
    clock.wrap(Analysis, "sample", "sample")
    chosen: list[str] = []
    resolve_sampler = posterior.resolve_sampler

    def recorded(*args: Any, **kwargs: Any) -> str:
        chosen.append(resolve_sampler(*args, **kwargs))
        return chosen[-1]

    posterior.resolve_sampler = recorded
    with tempfile.TemporaryDirectory() as folder:
        result = run_analysis_file(HESE_FILE, RunOptions(out=Path(folder) / "run", overrides=tuple(overrides),
                                                         progress=False))
    seconds = clock.stop()
    fit = {name: entry["value"] for name, entry in result.summary["fit"]["parameters"].items()}
    out.write_text(json.dumps({"seconds": seconds, "fit": fit, "sampler": chosen[-1] if chosen else None}))
    end_process(0)  # as the bayesfit command ends


def _run_child(overrides: Sequence[str], caches: Path) -> dict[str, Any]:
    """A child process's phases and its wall time (``total``, interpreter start-up included),
    with the PyTensor compile directory and numba cache in ``caches``."""
    with tempfile.TemporaryDirectory() as scratch:
        environment = dict(os.environ)
        flags = environment.get("PYTENSOR_FLAGS", "")
        environment["PYTENSOR_FLAGS"] = ",".join(filter(None, [flags, f"compiledir={caches}/pytensor"]))
        environment["NUMBA_CACHE_DIR"] = f"{caches}/numba"
        out = Path(scratch) / "phases.json"
        tick = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--child", str(out), *overrides], env=environment, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return {**json.loads(out.read_text()), "total": time.perf_counter() - tick}


def _fit_difference(ours: dict[str, float], reference: dict[str, float]) -> float:
    return max(abs(ours[name] - value) / max(abs(value), 1e-300) for name, value in reference.items())


def _median(runs: list[dict[str, Any]], key: Callable[[dict[str, Any]], float]) -> float:
    values = sorted(key(run) for run in runs)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else 0.5 * (values[middle - 1] + values[middle])


def run_hese(sizes: Sequence[int]) -> list[Row]:
    """The HESE run per phase, ours vs the previous path, cold then warm; ``sizes`` are draws per
    chain (1000: the file's own setting)."""
    rows = []
    for draws in sizes:
        draws_override = () if draws == 1000 else (f"inference.draws={draws}", f"inference.tune={draws}")
        paths = {"ours": draws_override, "reference": (*draws_override, *PREVIOUS)}
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        with tempfile.TemporaryDirectory() as scratch:
            caches = {path: Path(scratch) / path for path in paths}
            for path, overrides in paths.items():
                runs["cold", path] = [_run_child(overrides, caches[path])]
            for _ in range(WARM_REPEATS):  # interleaved: both paths see the same load
                for path, overrides in paths.items():
                    runs.setdefault(("warm", path), []).append(_run_child(overrides, caches[path]))
        difference = max(_fit_difference(run["fit"], runs["warm", "reference"][0]["fit"])
                         for key, values in runs.items() for run in values)
        sampler = runs["warm", "ours"][0]["sampler"]
        for cache in ("warm", "cold"):
            ours, reference = runs[cache, "ours"], runs[cache, "reference"]
            note = (f"{cache} compile cache; 4 chains x {draws} draws (+{draws} tune); median of {len(ours)} run(s); "
                    f"ours: compressed simulation, sampler {sampler}; reference: per-event simulation, pymc")
            for phase in PHASES:
                rows.append(Row("run_hese", draws, f"{cache}: {phase}", _median(ours, lambda r: r["seconds"].get(phase, 0.0)),
                                f"{cache}: {phase}", _median(reference, lambda r: r["seconds"].get(phase, 0.0)),
                                None, note))
            rows.append(Row("run_hese", draws, f"{cache}: total (process start to end)", _median(ours, lambda r: r["total"]),
                            f"{cache}: total (process start to end)", _median(reference, lambda r: r["total"]),
                            difference, note))
    return rows


if __name__ == "__main__" and len(sys.argv) > 2 and sys.argv[1] == "--child":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    child(Path(sys.argv[2]), sys.argv[3:])
