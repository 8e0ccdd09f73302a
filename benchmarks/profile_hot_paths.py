"""Where the time of the hot paths goes: py-spy on the HESE fit and the cross-section logp + gradient.

Run: ``OPENBLAS_NUM_THREADS=1 python benchmarks/profile_hot_paths.py [--seconds 15] [--out PROFILES.md]``
(needs ``pip install py-spy``). Writes ``PROFILES.md`` next to this file, which ``run.py`` appends
to ``RESULTS.md``.

Two views per workload, both after compilation (only the repeated part is profiled):

1. py-spy samples the Python stacks of a loop of the workload (``--workload NAME``, run in a child
   process); each sample is attributed to the innermost matching category: the compiled PyTensor
   function (C thunks and PyTensor's call wrapper), scipy's L-BFGS-B, numpy, bayesfit's own Python.
2. PyTensor's profiler (``pytensor.config.profile``) splits the compiled function's time into
   its operations and the Python overhead of ``Function.__call__`` (it uses the slower Python VM,
   so its absolute times are larger than without profiling; the shares are what matter).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any


HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

#: Frame of the profiled loop: only samples below it count (set-up and compilation are excluded).
LOOP_FRAME = "profiled_loop"

#: Categories by frame. A sample below a ``hessian`` or a PyTensor frame belongs to that call
#: (whatever its innermost frame); otherwise to the category of its innermost frame.
HESSIAN = "Hessian for the uncertainties (compiled PyTensor function, a Scan over gradient rows)"
COMPILED = "compiled logp + gradient (PyTensor call + C thunks)"
LEAF_CATEGORIES = (
    ("scipy L-BFGS-B (Python wrapper + Fortran)", "scipy/optimize/"),
    ("numpy (array glue)", "numpy/"),
    ("bayesfit Python (packing, checks, result)", "bayesfit/"),
)


def hese_fit_workload() -> Callable[[], Any]:
    """One-start ML fit of ``models/hese_diffuse.yaml`` (80k simulated events), compiled."""
    from bench_fits import hese_analysis

    from bayesfit.inference.fit import fit

    objective = hese_analysis(100_000).objective
    fit(objective)  # compiles the Hessian
    return lambda: fit(objective, n_random_starts=0)


def xsec_logp_workload() -> Callable[[], Any]:
    """``Objective.value_and_grad`` of the cross-section template model, 100 universes."""
    from bench_xsec import POINT, xsec_setup

    setup = xsec_setup(100)
    x = setup.objective.pack(POINT)
    counts = setup.model.observed
    data = setup.objective.data(counts)
    return lambda: setup.objective.value_and_grad(x, data)


WORKLOADS = {"hese_fit": ("HESE ML fit, exact per-event graph, one start", hese_fit_workload),
             "xsec_logp": ("cross-section logp + gradient, 100 universes (Objective.value_and_grad)",
                           xsec_logp_workload)}


def profiled_loop(function: Callable[[], Any], seconds: float) -> int:
    """Call ``function`` for ``seconds``; returns the number of calls."""
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        function()
        calls += 1
    return calls


def py_spy_shares(name: str, seconds: float, rate: int) -> tuple[dict[str, float], int]:
    """Shares of the samples per category (inside the profiled loop) and the number of samples."""
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / f"{name}.txt"
        command = ["py-spy", "record", "--format", "raw", "--rate", str(rate), "--nonblocking", "-o", str(raw),
                   "--", sys.executable, str(Path(__file__).resolve()), "--workload", name, "--seconds", str(seconds)]
        subprocess.run(command, check=True, capture_output=True, text=True)
        counts: Counter[str] = Counter()
        for line in raw.read_text().splitlines():
            stack, _, number = line.rpartition(" ")
            frames = stack.split(";")
            loop = [i for i, frame in enumerate(frames) if frame.startswith(LOOP_FRAME + " ")]
            if loop:
                counts[_category(frames[loop[0] + 1:])] += int(number)
    total = sum(counts.values())
    return {label: count / total for label, count in counts.most_common()}, total


def _category(frames: list[str]) -> str:
    """Category of one sample, ``frames`` from the loop frame (exclusive) to the innermost one."""
    if any(frame.startswith("Objective.hessian ") for frame in frames):
        return HESSIAN
    if any("pytensor/" in frame for frame in frames):
        return COMPILED
    for frame in reversed(frames):
        for label, file_part in LEAF_CATEGORIES:
            if file_part in frame:
                return label
    return "other Python"


def op_profile(name: str, calls: int) -> tuple[float, float, list[tuple[str, float]]]:
    """PyTensor's profile of the compiled logp + gradient: (share of Function.__call__ spent in
    thunks, mean call time in s, [(operation, share of thunk time)] for the 5 largest)."""
    import pytensor

    pytensor.config.profile = True
    try:
        function = WORKLOADS[name][1]()
        for _ in range(calls):
            function()
    finally:
        pytensor.config.profile = False
    if name == "hese_fit":
        from bench_fits import hese_analysis

        compiled = hese_analysis(100_000).objective._value_and_grad
    else:
        from bench_xsec import xsec_setup

        compiled = xsec_setup(100).objective._value_and_grad
    profile = compiled.profile
    thunk_time = sum(profile.apply_time.values())
    per_op: Counter[str] = Counter()
    for (_, node), seconds in profile.apply_time.items():
        per_op[str(node.op)] += seconds
    top = [(op, seconds / thunk_time) for op, seconds in per_op.most_common(5)]
    return thunk_time / profile.fct_call_time, profile.fct_call_time / profile.fct_callcount, top


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=list(WORKLOADS), help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=15.0, help="profiled seconds per workload")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--out", type=Path, default=HERE / "PROFILES.md")
    options = parser.parse_args()
    if options.workload:
        function = WORKLOADS[options.workload][1]()
        calls = profiled_loop(function, options.seconds)
        print(f"{calls} calls, {options.seconds / calls * 1e3:.3f} ms per call")
        return
    version = subprocess.run(["py-spy", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    lines = ["## Profiles", "",
             f"Generated by `python benchmarks/profile_hot_paths.py` ({version}, {options.rate} samples/s, "
             f"{options.seconds:g} s per workload after compilation; PyTensor's op profiler for the compiled "
             "function). py-spy attributes each sample to the innermost of: Hessian, compiled logp + gradient "
             "(PyTensor's call wrapper and its C thunks), scipy, numpy, bayesfit Python. In PyTensor's op names, "
             "`Composite{...}` is a fused elementwise loop (per-event reweighting, Poisson terms and their "
             "derivatives), `AdvancedIncSubtensor1` the scatter-add of event weights into their bins, "
             "`AdvancedSubtensor1` the per-event gather of the bin residual for the gradient, `CGemv` a BLAS "
             "matrix-vector product.", ""]
    for name, (title, _) in WORKLOADS.items():
        shares, samples = py_spy_shares(name, options.seconds, options.rate)
        thunk_share, call_seconds, top = op_profile(name, 300 if name == "hese_fit" else 20_000)
        compiled, hessian = shares.get(COMPILED, 0.0), shares.get(HESSIAN, 0.0)
        largest_op, largest_share = top[0]
        hessian_clause = f"{100 * hessian:.0f}% in the Hessian; " if hessian else ""
        lines += [f"### {title}", "",
                  f"Where the time goes: {100 * compiled:.0f}% in the compiled logp + gradient, of which "
                  f"{100 * (1 - thunk_share):.0f}% is PyTensor's per-call Python overhead and the rest its "
                  f"operations (largest: `{largest_op[:40]}`, {100 * largest_share:.0f}% of operation time); "
                  f"{hessian_clause}{100 * (1 - compiled - hessian):.0f}% in Python around them "
                  "(scipy, numpy, bayesfit).", "", f"py-spy, {samples} samples:", ""]
        lines += [f"- {label}: {100 * share:.0f}%" for label, share in shares.items()]
        lines += ["", f"PyTensor profile of the compiled logp + gradient: {100 * thunk_share:.0f}% of "
                  f"`Function.__call__` ({call_seconds * 1e6:.0f} us per call with profiling) is spent in the "
                  f"operations, {100 * (1 - thunk_share):.0f}% in PyTensor's Python call overhead; largest "
                  "operations (share of operation time):", ""]
        lines += [f"- `{op}`: {100 * share:.0f}%" for op, share in top]
        lines.append("")
    options.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
