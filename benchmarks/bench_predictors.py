"""Cost of logp + gradient of the reweighted-MC and response-matrix predictors vs ideal numpy.

Run: ``OPENBLAS_NUM_THREADS=1 python benchmarks/bench_predictors.py [--quick]``

1. Reweighted MC (HESE-like, synthetic events, 400 bins): Poisson log-likelihood of
   ``atmo_norm * atmoWeight + astro_norm * astroWeight * (E / 1e5) ** -(gamma - 2.5)`` summed per
   bin, and its gradient in the three parameters, compiled with PyTensor. The ideal numpy
   version does one ``np.bincount`` of the reweighted weights, the Poisson sum, and the analytic
   gradient (per-event gather of ``n / mu - 1``).
2. Response-matrix chain: ``(K, 8, 169)`` matrices ``@ truth``, Poisson per universe,
   log-mean-exp over universes, gradient in the 169 truth values; numpy: one matrix product, the
   Poisson sums, a max-shifted log-sum-exp and the analytic gradient.

Printed: medians over repeats (microseconds), the ratio bayesfit / numpy, and the cost per
event (per universe) to show linear scaling.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pytensor
import pytensor.tensor as pt
from scipy import special

from bayesfit.backend import configure_blas
from bayesfit.predictors.response import ResponseMatrix
from bayesfit.predictors.reweight import Component, ReweightedMCPredictor
from bayesfit.predictors.spectra import PowerLaw

N_BINS = 400
POINT = (1.05, 6.3, 2.85)  # atmo_norm, astro_norm, astro_gamma


def paired_medians(
    ours: Callable[[], object], reference: Callable[[], object], *, min_repeats: int = 9, budget: float = 2.0
) -> tuple[float, float]:
    """Median wall times of ``ours()`` and ``reference()``, called alternately so that both see
    the same load of the (shared) machine: at least ``min_repeats`` pairs, about ``budget`` s."""
    ours(), reference()  # warm-up
    times: list[tuple[float, float]] = []
    start = time.perf_counter()
    while len(times) < min_repeats or (time.perf_counter() - start < budget and len(times) < 2000):
        pair = []
        for function in (ours, reference):
            tick = time.perf_counter()
            function()
            pair.append(time.perf_counter() - tick)
        times.append((pair[0], pair[1]))
    medians = np.median(np.array(times), axis=0)
    return float(medians[0]), float(medians[1])


def synthetic_events(n_events: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """HESE-like columns and a flat bin index in ``[-1, 400)`` (about 10% outside)."""
    events = {
        "primaryEnergy": np.exp(rng.uniform(np.log(1e4), np.log(1e7), n_events)),
        "atmoWeight": rng.exponential(1e-3, n_events),
        "astroWeight": rng.exponential(1e-4, n_events),
    }
    bin_index = np.where(rng.uniform(size=n_events) < 0.1, -1, rng.integers(0, N_BINS, n_events))
    return events, bin_index


def bayesfit_reweight(events: dict[str, np.ndarray], bin_index: np.ndarray, data: np.ndarray):
    predictor = ReweightedMCPredictor(
        events,
        bin_index,
        N_BINS,
        components=[
            Component("atmoWeight", norm="atmo_norm"),
            Component("astroWeight", norm="astro_norm",
                      spectrum=PowerLaw("primaryEnergy", index="astro_gamma", pivot=1e5, generated_index=2.5)),
        ],
    )
    inputs = predictor.symbols()
    expected = predictor.expected(inputs)[0]
    logp = pt.sum(data * pt.log(expected) - expected) - special.gammaln(data + 1).sum()
    variables = [inputs[name] for name in predictor.parameter_names]
    return pytensor.function(variables, [logp, *pytensor.grad(logp, variables)])


def numpy_reweight(
    events: dict[str, np.ndarray], bin_index: np.ndarray, data: np.ndarray, n_bins: int = N_BINS,
    *, gradient: bool = True,
):
    """Ideal numpy: one bincount of the reweighted weights, Poisson sum, analytic gradient.

    Returns ``f(atmo_norm, astro_norm, gamma)`` giving ``(ln L, d/d atmo_norm, d/d astro_norm,
    d/d gamma)``, or only ``ln L`` (``gradient=False``, for finite-difference minimisers). Bins
    that no simulated event reaches (``mu = 0``) must have ``data = 0`` there and add nothing.
    """
    inside = bin_index >= 0
    index = bin_index[inside]
    atmo, astro = events["atmoWeight"][inside], events["astroWeight"][inside]
    log_ratio = np.log(events["primaryEnergy"][inside] / 1e5)
    constant = special.gammaln(data + 1).sum()
    reachable = np.bincount(index, minlength=n_bins) > 0
    all_reachable = bool(reachable.all())
    observed = data if all_reachable else data[reachable]

    def logp_and_grad(atmo_norm: float, astro_norm: float, gamma: float):
        astro_factor = astro * np.exp(-(gamma - 2.5) * log_ratio)
        mu = np.bincount(index, atmo_norm * atmo + astro_norm * astro_factor, minlength=n_bins)
        observed_mu = mu if all_reachable else mu[reachable]
        logp = np.sum(observed * np.log(observed_mu) - observed_mu) - constant
        if not gradient:
            return logp
        ratio = data / mu if all_reachable else np.divide(data, mu, out=np.zeros(n_bins), where=reachable)
        residual = (ratio - 1.0)[index]
        astro_term = residual @ astro_factor
        return logp, residual @ atmo, astro_term, -astro_norm * (residual * log_ratio) @ astro_factor

    return logp_and_grad


def seed_mask_logp(events: dict[str, np.ndarray], bin_index: np.ndarray, counts: np.ndarray, n_bins: int):
    """The seed notebook's way: one boolean mask per bin, value only; ``f(atmo, astro, gamma) -> ln L``.

    As in the notebook, bins with neither data nor simulated events add 0.
    """
    masks = [bin_index == b for b in range(n_bins)]
    energy, atmo, astro = events["primaryEnergy"], events["atmoWeight"], events["astroWeight"]
    constant = special.loggamma(counts + 1)
    empty = counts == 0

    def logp(atmo_norm: float, astro_norm: float, gamma: float) -> float:
        weights = atmo * atmo_norm + astro * astro_norm * pow(energy / 1e5, -(gamma - 2.5))
        expected = np.array([np.sum(weights[mask]) for mask in masks])
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = counts * np.log(expected) - expected - constant
        terms[empty & (expected == 0)] = 0.0
        return float(np.sum(terms))

    return logp


def bench_reweight(n_events: int, rng: np.random.Generator) -> tuple[float, float, float]:
    events, bin_index = synthetic_events(n_events, rng)
    inside = bin_index >= 0
    mu = np.bincount(bin_index[inside], (events["atmoWeight"] + 6 * events["astroWeight"])[inside], N_BINS)
    data = rng.poisson(mu).astype(float)
    numpy_function = numpy_reweight(events, bin_index, data)
    compiled = bayesfit_reweight(events, bin_index, data)
    ours, reference = compiled(*POINT), numpy_function(*POINT)
    error = float(np.max(np.abs(np.array(ours) - np.array(reference)) / np.abs(np.array(reference))))
    return (*paired_medians(lambda: compiled(*POINT), lambda: numpy_function(*POINT)), error)


def synthetic_response(n_universes: int, rng: np.random.Generator) -> np.ndarray:
    matrices = rng.uniform(0.0, 1.0, (n_universes, 8, 169))
    return matrices / matrices.sum(axis=1, keepdims=True) * rng.uniform(0.3, 0.9, (n_universes, 1, 169))


def bench_response(matrices: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float]:
    n_universes = matrices.shape[0]
    truth = rng.uniform(5.0, 50.0, matrices.shape[2])
    data = rng.poisson(matrices[0] @ truth).astype(float)
    constant = special.gammaln(data + 1).sum()

    predictor = ResponseMatrix(matrices=matrices, weights=np.ones(n_universes)).predictor()
    inputs = predictor.symbols()
    counts = predictor.expected(inputs)
    per_universe = pt.sum(data * pt.log(counts) - counts, axis=1) - constant
    logp = pt.logsumexp(per_universe) - np.log(n_universes)
    compiled = pytensor.function([inputs["truth"]], [logp, pytensor.grad(logp, inputs["truth"])])

    flat = matrices.reshape(-1, matrices.shape[2])  # (K * 8, 169)

    def numpy_function(values: np.ndarray):
        mu = (flat @ values).reshape(n_universes, -1)
        per_universe = np.sum(data * np.log(mu) - mu, axis=1) - constant
        largest = per_universe.max()
        shifted = np.exp(per_universe - largest)
        total = largest + np.log(shifted.sum())
        posterior = shifted / shifted.sum()
        gradient = ((posterior[:, None] * (data / mu - 1.0)).reshape(-1)) @ flat
        return total - np.log(n_universes), gradient

    ours, reference = compiled(truth), numpy_function(truth)
    error = max(abs(ours[0] - reference[0]) / abs(reference[0]),
                float(np.max(np.abs(ours[1] - reference[1])) / np.max(np.abs(reference[1]))))
    return (*paired_medians(lambda: compiled(truth), lambda: numpy_function(truth)), error)


def report(label: str, size: int, ours: float, reference: float, error: float, unit: str) -> None:
    print(
        f"{label:>18} {size:>9,d}  bayesfit {ours * 1e6:10.1f} us  numpy {reference * 1e6:10.1f} us  "
        f"ratio {ours / reference:5.2f}  bayesfit per {unit} {ours / size * 1e9:8.1f} ns  "
        f"max rel diff {error:.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip 1e6 events and 1000 universes")
    arguments = parser.parse_args()
    configure_blas()  # the graphs are compiled here, not through a bayesfit model
    rng = np.random.default_rng(2026)
    print("logp + gradient, median wall time of repeated calls (one core)")
    for n_events in (10_000, 100_000) + (() if arguments.quick else (1_000_000,)):
        report("reweighted MC", n_events, *bench_reweight(n_events, rng), "event")
    for n_universes in (10, 100) + (() if arguments.quick else (1000,)):
        report("response K x 8x169", n_universes, *bench_response(synthetic_response(n_universes, rng), rng), "universe")


if __name__ == "__main__":
    main()
