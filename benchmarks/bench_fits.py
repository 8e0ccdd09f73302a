"""Maximum-likelihood fits: bayesfit ``fit`` (exact gradients) vs scipy L-BFGS-B with finite differences.

The references minimise a plain numpy ``-ln L`` with ``scipy.optimize.minimize(method="L-BFGS-B")``
and no gradient, so scipy differentiates by finite differences (2-point, step 1e-8): what the
seed notebook (HESE) and ReMU (cross section) do. Same start point and bounds as bayesfit.

bayesfit's time is :func:`bayesfit.inference.fit` with one start (``n_random_starts=0``; the
reference has one start too), including the Hessian it evaluates for the uncertainties; the
default three-start fit is reported in the note. Compilation (objective, then the Hessian on
the first fit) is done once before the repeats and reported in the note.

Each row also reports the ``-ln L`` of both optima evaluated with the numpy likelihood
(``nll_difference = nll(bayesfit optimum) - nll(scipy optimum)``; negative: bayesfit went lower),
and as ``max rel diff`` the agreement of bayesfit's and numpy's ``-ln L`` at bayesfit's optimum.
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from bench_common import Row, interleaved_medians
from bench_predictors import numpy_reweight, seed_mask_logp
from bench_xsec import numpy_linear, xsec_setup
from scipy.optimize import OptimizeResult, minimize

HESE_FILE = Path(__file__).resolve().parents[1] / "models" / "hese_diffuse.yaml"
HESE_PARAMETERS = ("atmo_norm", "astro_norm", "astro_gamma")
#: The seed of the file's committed toy (models/inputs/hese, written by examples/model_inputs.py).
HESE_SEED = 20131122
#: The file's prompt-like component held at 0: the seed notebook's three-parameter fit.
HESE_NOTEBOOK = ("parameters.prompt_norm.fixed=true", "parameters.prompt_norm.start=0.0", "poi=null",
                 "inference.hypotests={}", "inference.upper_limit={}")

#: The seed notebook's mask likelihood costs about 20 ms per call at 1e5 events (400 masks):
#: its fits are timed only up to this many generated events.
SEED_MASKS_MAX_GENERATED = 100_000


@functools.cache
def hese_analysis(n_generated: int) -> Any:
    """``models/hese_diffuse.yaml`` as the notebook's fit with ``n_generated`` simulated events (the
    data stay the file's)."""
    from bayesfit.analysis import Analysis, read_analysis
    from bayesfit.datasets import generate_hese_toy

    toy = generate_hese_toy(n_generated=n_generated, seed=HESE_SEED)
    simulation = Path(tempfile.mkdtemp(prefix="bayesfit-bench-")) / f"simulation_{n_generated}.npz"
    np.savez(simulation, **toy.simulation)
    return Analysis(read_analysis(HESE_FILE, [f"simulation.path={simulation}", *HESE_NOTEBOOK]))


def scipy_fd_fit(negative_log_likelihood: Callable[[np.ndarray], float], x0: np.ndarray,
                 bounds: Sequence[tuple[float | None, float | None]]) -> OptimizeResult:
    """L-BFGS-B with scipy's finite-difference gradient (the references' way)."""
    return minimize(negative_log_likelihood, x0, method="L-BFGS-B", bounds=bounds)


def timed_once(function: Callable[[], Any]) -> tuple[Any, float]:
    tick = time.perf_counter()
    result = function()
    return result, time.perf_counter() - tick


def fit_rows(case: str, size: int, objective: Any, label: str, references: dict[str, Callable[[np.ndarray], float]],
             *, note: str, min_repeats: int = 3) -> list[Row]:
    """Time ``fit(objective)`` (one start) against a finite-difference scipy fit of every reference.

    ``references`` map a label to ``-ln L`` of the packed vector ``x`` (numpy); compilation must
    already be done (the caller's first fit).
    """
    from bayesfit.inference.fit import fit

    x0 = objective.pack(objective.model.start_point())
    bounds = [(None if np.isinf(low) else low, None if np.isinf(high) else high)
              for low, high in zip(objective.lower, objective.upper)]
    ours = fit(objective, n_random_starts=0)
    default_seconds = interleaved_medians([lambda: fit(objective)], min_repeats=3, budget=0.5, warmup=False)[0]
    rows = []
    for reference_label, negative_log_likelihood in references.items():
        theirs = scipy_fd_fit(negative_log_likelihood, x0, bounds)
        medians = interleaved_medians(
            [lambda: fit(objective, n_random_starts=0), lambda: scipy_fd_fit(negative_log_likelihood, x0, bounds)],
            min_repeats=min_repeats, budget=1.0, warmup=False)
        at_ours = negative_log_likelihood(ours.x)
        extra = {"nll_difference": at_ours - negative_log_likelihood(theirs.x),
                 "reference_evaluations": float(theirs.nfev),
                 "default_fit_3_starts_s": default_seconds}
        rows.append(Row(case, size, label, medians[0], f"scipy L-BFGS-B, finite differences, {reference_label}",
                        medians[1], abs(ours.nll - at_ours) / abs(at_ours), note, extra))
    return rows


def fit_hese(sizes: Sequence[int]) -> list[Row]:
    """HESE ML fit (``models/hese_diffuse.yaml``) vs number of generated simulation events."""
    from bayesfit.inference import Objective, fit
    from bayesfit.model import BinnedModel
    from bayesfit.predictors import CompressedReweightedMCPredictor, Component, PowerLaw

    rows = []
    for n_generated in sizes:
        analysis = hese_analysis(n_generated)
        events = {name: np.asarray(analysis.simulation[name])
                  for name in ("primaryEnergy", "atmoWeight", "astroWeight")}
        bin_index = analysis.binning.bin_index(analysis.simulation)
        counts, n_bins = analysis.observed, analysis.binning.size
        objective, compile_seconds = timed_once(lambda: analysis.objective)
        _, first_fit_seconds = timed_once(lambda: fit(objective))  # compiles the Hessian-vector product
        model = analysis.model
        compressed = BinnedModel(
            CompressedReweightedMCPredictor(events, bin_index, n_bins, components=[
                Component("atmoWeight", norm="atmo_norm"),
                Component("astroWeight", norm="astro_norm", spectrum=PowerLaw(
                    "primaryEnergy", index="astro_gamma", pivot=1e5, generated_index=2.5))]),
            counts, starts={p.name: p.start for p in model.parameters},
            bounds={p.name: (p.lower, p.upper) for p in model.parameters})
        compressed_objective, compressed_compile = timed_once(lambda: Objective(compressed, "ml"))
        fit(compressed_objective)  # compiles its Hessian-vector product
        if objective.labels() != list(HESE_PARAMETERS) or compressed_objective.labels() != list(HESE_PARAMETERS):
            raise RuntimeError(f"unexpected parameter order {objective.labels()}")
        bincount = numpy_reweight(events, bin_index, counts, n_bins, gradient=False)
        references = {"numpy bincount": lambda x: -bincount(*x)}
        if n_generated <= SEED_MASKS_MAX_GENERATED:
            masks = seed_mask_logp(events, bin_index, counts, n_bins)
            references["seed notebook masks"] = lambda x: -masks(*x)
        n_events = len(events["atmoWeight"])
        note = (f"{n_events:,} MC events; compile: objective {compile_seconds:.1f} s, "
                f"first fit (Hessian) {first_fit_seconds:.1f} s")
        rows += fit_rows("fit_hese", n_generated, objective, "bayesfit fit, exact per-event graph", references,
                         note=note)
        rows += fit_rows("fit_hese", n_generated, compressed_objective, "bayesfit fit, compressed predictor",
                         {"numpy bincount": references["numpy bincount"]},
                         note=f"{n_events:,} MC events; compile {compressed_compile:.1f} s")
    return rows


def fit_xsec(sizes: Sequence[int]) -> list[Row]:
    """Cross-section 4-template ML fit, universes marginalised, vs number of universes."""
    from bayesfit.inference.fit import fit

    rows = []
    for n_universes in sizes:
        setup = xsec_setup(n_universes)
        _, first_fit_seconds = timed_once(lambda: fit(setup.objective))  # compiles the Hessian
        linear = numpy_linear(setup, setup.model.observed, gradient=False)
        note = (f"compile: objective {setup.compile_seconds:.1f} s, first fit (Hessian) {first_fit_seconds:.1f} s")
        rows += fit_rows("fit_xsec", n_universes, setup.objective, "bayesfit fit (4 weights, exact gradients)",
                         {f"numpy {n_universes}x8x4 log-mean-exp": lambda x: -linear(x)}, note=note)
    return rows
