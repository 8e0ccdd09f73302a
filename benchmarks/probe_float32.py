"""float32 vs float64 for the exact per-event HESE-like graph: speed and precision.

Run: ``OPENBLAS_NUM_THREADS=1 python benchmarks/probe_float32.py``. One PyTensor graph, a
power-law reweighting of 1e6 events scattered into 400 bins and a Poisson log likelihood with
its gradient in the spectral index, is compiled in both precisions and timed (median of 30 calls
after one warm-up call). The result is quoted in ``SPEEDUPS.md`` ("considered, not adopted").
"""

from __future__ import annotations

import time

import numpy as np
import pytensor
import pytensor.tensor as pt

N_EVENTS = 1_000_000
N_BINS = 400
INDEX = 2.9  # spectral index where the graph is evaluated
REPEATS = 30


def compiled(dtype: str, log_ratio: np.ndarray, weights: np.ndarray, bins: np.ndarray, counts: np.ndarray):
    """``index -> (ln L, d ln L / d index)`` with every array in ``dtype``."""
    index = pt.scalar("index", dtype=dtype)
    reweighted = pt.constant(weights.astype(dtype)) * pt.exp(-(index - 2.5) * pt.constant(log_ratio.astype(dtype)))
    expected = pt.zeros(N_BINS, dtype=dtype)[pt.constant(bins)].inc(reweighted)
    log_likelihood = pt.sum(pt.constant(counts.astype(dtype)) * pt.log(expected) - expected)
    return pytensor.function([index], [log_likelihood, pytensor.grad(log_likelihood, index)])


def main() -> None:
    rng = np.random.default_rng(1)
    log_ratio = rng.uniform(-3.0, 4.0, N_EVENTS)  # ln(E / pivot)
    weights = rng.exponential(1e-3, N_EVENTS)
    bins = rng.integers(0, N_BINS, N_EVENTS)
    counts = rng.poisson(np.bincount(bins, weights * np.exp(-0.4 * log_ratio), minlength=N_BINS))
    results = {}
    for dtype in ("float64", "float32"):
        function = compiled(dtype, log_ratio, weights, bins, counts)
        point = np.asarray(INDEX, dtype=dtype)
        function(point)
        seconds = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            outputs = function(point)
            seconds.append(time.perf_counter() - start)
        results[dtype] = (float(np.median(seconds)), [float(output) for output in outputs])
        print(f"{dtype}: {results[dtype][0] * 1e3:.2f} ms per logp + gradient")
    (value64, gradient64), (value32, gradient32) = results["float64"][1], results["float32"][1]
    print(f"float32 / float64 time: {results['float32'][0] / results['float64'][0]:.2f}; relative error of "
          f"float32: logp {abs(value32 - value64) / abs(value64):.1e}, gradient "
          f"{abs(gradient32 - gradient64) / abs(gradient64):.1e}")


if __name__ == "__main__":
    main()
