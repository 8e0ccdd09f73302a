"""bayesfit vs pyhf (numpy backend) on HistFactory workspaces: ML fit and asymptotic CLs.

Run with ``OPENBLAS_NUM_THREADS=1 python benchmarks/bench_histfactory.py [workspace.json]``; the
harness (``run.py``) runs :func:`histfactory_fit` and :func:`histfactory_cls` on the workspaces
of :data:`WORKSPACES`, keyed by their number of bins.

The workspace becomes a ``BinnedModel`` (``bayesfit.histfactory.build_model``) and is fitted and
tested with ``bayesfit.inference`` (``fit``, ``hypotest``). bayesfit's one-off model construction
and PyTensor compilation (the first fit, the first CLs) are reported separately from the fit and
CLs times. Both tools report ``-2 log L`` at their own best fit, and pyhf's ``-2 log L`` is also
evaluated at bayesfit's best fit, so that a difference in minima is attributed to the optimiser,
not the likelihood. The reference workspaces are read from ``shared/reference/pyhf`` beside the
checkout (or under ``$BAYESFIT_SHARED``).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from bench_common import Row, SkipCase, interleaved_medians

REFERENCE = Path(os.environ.get("BAYESFIT_SHARED") or Path(__file__).resolve().parents[2] / "shared") / "reference" / "pyhf"
DEFAULT_WORKSPACE = REFERENCE / "atlas-ttbar-ljets-xsec-inclusive-pruned.json"

#: Workspaces of the harness by number of bins, with the POI value tested by CLs: the counting
#: experiment at its nominal signal, the ATLAS cross section about 1.5 sigma above its best fit.
WORKSPACES = {
    3: (REFERENCE / "sr-ee-mm-em-counting.json", 1.0),
    37: (DEFAULT_WORKSPACE, 1.06),
}

#: A pyhf call slower than this (s) is timed once instead of repeated.
SLOW_CALL = 1.0


def _timed(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def _pyhf():
    try:
        import pyhf
    except ImportError:
        raise SkipCase("pyhf is not installed (pip install pyhf): no reference to compare with") from None
    pyhf.set_backend("numpy")
    return pyhf


def _median_seconds(function: Callable[[], Any], first_seconds: float) -> tuple[float, str]:
    """Median time of repeated calls, or the first call's time if that was slow."""
    if first_seconds > SLOW_CALL:
        return first_seconds, "one run"
    return interleaved_medians([function], min_repeats=3, budget=1.0, warmup=False)[0], "median"


class Setup:
    """A workspace loaded by both tools, bayesfit's model compiled by a first fit."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from bayesfit.histfactory import build_model
        from bayesfit.inference import fit

        pyhf = _pyhf()
        self.model, self.build_seconds = _timed(build_model, spec)
        _, self.compile_seconds = _timed(fit, self.model)  # compiles the likelihood, gradient and Hessian
        self.n_parameters = sum(v.size for v in self.model.parameters)
        workspace = pyhf.Workspace(spec)
        self.theirs = workspace.model()
        self.data = workspace.data(self.theirs)

    def in_pyhf_order(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """bayesfit's variable values as pyhf's parameter vector."""
        result = np.zeros(self.theirs.config.npars)
        for variable in self.model.parameters:
            result[self.theirs.config.par_slice(variable.name)] = np.ravel(values[variable.name])
        return result


def measure_fit(setup: Setup) -> dict[str, Any]:
    """ML fit of both tools: times, ``-2 log L`` at both optima, POI values; pyhf with its default
    optimiser (``"pyhf"``) and with iminuit (``"minuit"``, ``None`` without iminuit)."""
    from bayesfit.inference import fit

    ours, _ = _timed(fit, setup.model)
    ours_seconds = interleaved_medians([lambda: fit(setup.model)], min_repeats=3, budget=1.0, warmup=False)[0]
    pyhf_at_ours = -2.0 * float(setup.theirs.logpdf(setup.in_pyhf_order(ours.values), setup.data)[0])
    return {"ours": ours, "ours_seconds": ours_seconds, "pyhf_at_ours": pyhf_at_ours, "pyhf": _pyhf_fit(setup),
            "minuit": _minuit_fit(setup)}


def _pyhf_fit(setup: Setup) -> dict[str, Any]:
    """pyhf's ML fit with the backend's current optimiser: seconds, how they were timed, ``-2 log L``, POI."""
    pyhf = _pyhf()
    fit_theirs = lambda: pyhf.infer.mle.fit(setup.data, setup.theirs, return_fitted_val=True)  # noqa: E731
    (values, twice_nll), first = _timed(fit_theirs)
    seconds, how = _median_seconds(fit_theirs, first)
    return {"seconds": seconds, "timing": how, "twice_nll": float(twice_nll),
            "poi": float(values[setup.theirs.config.poi_index])}


def _minuit_fit(setup: Setup) -> dict[str, Any] | None:
    """pyhf's fit with iminuit (strategy 1, tolerance 1e-3: the settings that reach bayesfit's minimum
    on the ATLAS workspace, where the default scipy SLSQP stops short); ``None`` without iminuit."""
    pyhf = _pyhf()
    try:
        optimizer = pyhf.optimize.minuit_optimizer(strategy=1, tolerance=1e-3)
    except pyhf.exceptions.ImportBackendError:  # iminuit is not installed
        return None
    pyhf.set_backend("numpy", optimizer)
    try:
        return _pyhf_fit(setup)
    finally:
        pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer())


def measure_cls(setup: Setup, poi: float) -> dict[str, Any]:
    """Asymptotic q~ CLs at ``poi`` with the expected band: times and values of both tools."""
    from bayesfit.inference import hypotest

    pyhf = _pyhf()
    ours, first_cls_seconds = _timed(hypotest, setup.model, poi)  # compiles what the Asimov fits need
    ours_seconds = interleaved_medians([lambda: hypotest(setup.model, poi)], min_repeats=3, budget=1.0,
                                       warmup=False)[0]
    cls_theirs = lambda: pyhf.infer.hypotest(  # noqa: E731
        poi, setup.data, setup.theirs, test_stat="qtilde", return_expected_set=True)
    (their_cls, their_expected), first = _timed(cls_theirs)
    their_seconds, how = _median_seconds(cls_theirs, first)
    return {"ours": ours, "ours_seconds": ours_seconds, "first_cls_seconds": first_cls_seconds,
            "their_seconds": their_seconds, "pyhf_timing": how, "their_cls": float(their_cls),
            "their_expected": np.ravel(their_expected).astype(float)}


@functools.cache
def _setup(n_bins: int) -> tuple[Setup, float, str]:
    """The workspace with ``n_bins`` bins (built once for the fit and the CLs case), its POI, its name."""
    if n_bins not in WORKSPACES:
        raise ValueError(f"no workspace with {n_bins} bins; known: {sorted(WORKSPACES)}")
    path, poi = WORKSPACES[n_bins]
    return Setup(json.loads(path.read_text())), poi, path.name


def _poi(setup: Setup, result: Any) -> tuple[float, float]:
    """Value and error of the POI in a bayesfit fit."""
    return result.value(setup.model.poi), float(result.errors[setup.model.poi])


def histfactory_fit(sizes: Sequence[int]) -> list[Row]:
    """ML fit, bayesfit vs pyhf (numpy backend + scipy), per workspace (keyed by bins)."""
    rows = []
    for n_bins in sizes:
        setup, _, name = _setup(n_bins)
        result = measure_fit(setup)
        ours = result["ours"]
        poi, poi_error = _poi(setup, ours)
        note = (f"{name}: {setup.n_parameters} parameters; bayesfit build {setup.build_seconds:.2f} s, "
                f"first fit incl. compile {setup.compile_seconds:.1f} s; pyhf: {result['pyhf']['timing']}")
        extra = {"twice_nll_bayesfit": 2 * ours.nll, "twice_nll_pyhf": result["pyhf"]["twice_nll"],
                 "pyhf_twice_nll_at_bayesfit_optimum": result["pyhf_at_ours"],
                 "poi_bayesfit": poi, "poi_pyhf": result["pyhf"]["poi"], "poi_error_bayesfit": poi_error}
        difference = abs(2 * ours.nll - result["pyhf_at_ours"]) / abs(result["pyhf_at_ours"])
        rows.append(Row("histfactory_fit", n_bins, "bayesfit fit (build_model)", result["ours_seconds"],
                        "pyhf.infer.mle.fit (numpy)", result["pyhf"]["seconds"], difference, note, extra))
        minuit = result["minuit"]
        if minuit is not None:
            minuit_extra = {"twice_nll_bayesfit": 2 * ours.nll, "twice_nll_pyhf": minuit["twice_nll"],
                            "poi_bayesfit": poi, "poi_pyhf": minuit["poi"]}
            rows.append(Row("histfactory_fit", n_bins, "bayesfit fit (build_model)", result["ours_seconds"],
                            "pyhf.infer.mle.fit (numpy, iminuit strategy 1, tol 1e-3)", minuit["seconds"],
                            abs(2 * ours.nll - minuit["twice_nll"]) / abs(minuit["twice_nll"]),
                            f"{name}; pyhf: {minuit['timing']}; max rel diff: -2 log L at the two optima",
                            minuit_extra))
    return rows


def histfactory_cls(sizes: Sequence[int]) -> list[Row]:
    """Asymptotic CLs (q~) with expected band, bayesfit vs pyhf, per workspace (keyed by bins).

    ``max rel diff`` is left empty: CLs values are compared in the note (``extra``), since pyhf's
    own fits may stop short of the minimum on large workspaces.
    """
    rows = []
    for n_bins in sizes:
        setup, poi, name = _setup(n_bins)
        result = measure_cls(setup, poi)
        ours = result["ours"]
        extra = {"cls_bayesfit": ours.cls, "cls_pyhf": result["their_cls"],
                 "cls_expected_median_bayesfit": float(ours.cls_expected[2]),
                 "cls_expected_median_pyhf": float(result["their_expected"][2])}
        note = (f"{name}, POI {poi:g}; bayesfit first CLs incl. compile {result['first_cls_seconds']:.1f} s; "
                f"pyhf: {result['pyhf_timing']}")
        rows.append(Row("histfactory_cls", n_bins, "bayesfit.inference.hypotest (q~, asymptotic)", result["ours_seconds"],
                        "pyhf.infer.hypotest (numpy)", result["their_seconds"], None, note, extra))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", nargs="?", type=Path, default=DEFAULT_WORKSPACE)
    parser.add_argument("--poi", type=float, default=1.0, help="POI value tested by CLs")
    parser.add_argument("--skip-pyhf-cls", action="store_true", help="pyhf's CLs takes minutes")
    args = parser.parse_args()
    setup = Setup(json.loads(args.workspace.read_text()))
    fitted = measure_fit(setup)
    ours = fitted["ours"]
    poi, poi_error = _poi(setup, ours)
    print(f"workspace: {args.workspace.name}: {setup.model.predictor.n_out} bins, {setup.n_parameters} parameters")
    print(f"bayesfit model build {setup.build_seconds:.2f} s, "
          f"first fit incl. compilation {setup.compile_seconds:.2f} s")
    theirs = fitted["pyhf"]
    print(f"{'':24s}{'bayesfit':>16s}{'pyhf':>16s}")
    print(f"{'ML fit time [s]':24s}{fitted['ours_seconds']:16.3f}{theirs['seconds']:16.3f}   "
          f"speed-up {theirs['seconds'] / fitted['ours_seconds']:.0f}x")
    print(f"{'POI':24s}{poi:16.6f}{theirs['poi']:16.6f}")
    print(f"{'-2 log L at best fit':24s}{2 * ours.nll:16.6f}{theirs['twice_nll']:16.6f}")
    if fitted["minuit"] is not None:
        minuit = fitted["minuit"]
        print(f"{'pyhf with iminuit:':24s}{'':16s}{minuit['seconds']:16.3f} s, POI {minuit['poi']:.6f}, "
              f"-2 log L {minuit['twice_nll']:.6f}")
    print(f"{'pyhf -2 log L at ours':24s}{fitted['pyhf_at_ours']:16.6f}")
    print(f"{'POI error (Hessian)':24s}{poi_error:16.6f}")
    if args.skip_pyhf_cls:
        from bayesfit.inference import hypotest

        ours_cls, cls_time = _timed(hypotest, setup.model, args.poi)
        print(f"CLs({args.poi:g}) bayesfit {ours_cls.cls:.6f} in {cls_time:.2f} s; expected {ours_cls.cls_expected}")
        return
    cls = measure_cls(setup, args.poi)
    print(f"{'CLs time [s]':24s}{cls['ours_seconds']:16.3f}{cls['their_seconds']:16.3f}   "
          f"speed-up {cls['their_seconds'] / cls['ours_seconds']:.0f}x")
    print(f"{'CLs observed':24s}{cls['ours'].cls:16.6f}{cls['their_cls']:16.6f}")
    for sigma, a, b in zip((-2, -1, 0, 1, 2), cls["ours"].cls_expected, cls["their_expected"]):
        print(f"{f'CLs expected {sigma:+d} sigma':24s}{a:16.6f}{b:16.6f}")


if __name__ == "__main__":
    main()
