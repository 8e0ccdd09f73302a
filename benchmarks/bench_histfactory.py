"""bayesfit vs pyhf (numpy backend) on the ATLAS top-pair workspace: ML fit and asymptotic CLs.

Run with ``OPENBLAS_NUM_THREADS=1 python benchmarks/bench_histfactory.py [workspace.json]``.
bayesfit's one-off model construction and PyTensor compilation are reported separately from the
fit and CLs times (a warm compile cache makes them about a second). Both tools report ``-2 log L``
at their own best fit, and pyhf's ``-2 log L`` is also evaluated at bayesfit's best fit, so that a
difference in minima is attributed to the optimiser, not the likelihood.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

DEFAULT_WORKSPACE = Path("/work/shared/reference/pyhf/atlas-ttbar-ljets-xsec-inclusive-pruned.json")


def _timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", nargs="?", type=Path, default=DEFAULT_WORKSPACE)
    parser.add_argument("--poi", type=float, default=1.0, help="POI value tested by CLs")
    parser.add_argument("--skip-pyhf-cls", action="store_true", help="pyhf's CLs takes minutes")
    args = parser.parse_args()
    spec = json.loads(args.workspace.read_text())

    from bayesfit.histfactory import HistFactoryModel
    from bayesfit.histfactory.fit import fit, hypotest

    model, build_time = _timed(HistFactoryModel, spec)
    _, compile_time = _timed(fit, model)  # first fit compiles the likelihood, gradient and Hessian
    ours, fit_time = _timed(fit, model)
    ours_cls, cls_time = _timed(hypotest, model, args.poi)

    import pyhf

    pyhf.set_backend("numpy")
    workspace = pyhf.Workspace(spec)
    theirs = workspace.model()
    data = workspace.data(theirs)
    (their_values, their_twice_nll), their_fit_time = _timed(
        pyhf.infer.mle.fit, data, theirs, return_fitted_val=True
    )
    ours_in_pyhf = np.zeros(theirs.config.npars)
    for parameter in model.parameter_sets:
        ours_in_pyhf[theirs.config.par_slice(parameter.name)] = ours.values[parameter.slice]
    pyhf_at_ours = -2.0 * float(theirs.logpdf(ours_in_pyhf, data)[0])

    poi = theirs.config.poi_index
    print(f"workspace: {args.workspace.name}: {model.n_bins} bins, {model.n_parameters} parameters")
    print(f"bayesfit model build {build_time:.2f} s, first fit incl. compilation {compile_time:.2f} s")
    print(f"{'':24s}{'bayesfit':>16s}{'pyhf':>16s}")
    print(f"{'ML fit time [s]':24s}{fit_time:16.3f}{their_fit_time:16.3f}   speed-up {their_fit_time / fit_time:.0f}x")
    print(f"{'POI':24s}{ours.poi:16.6f}{float(their_values[poi]):16.6f}")
    print(f"{'-2 log L at best fit':24s}{ours.twice_nll:16.6f}{float(their_twice_nll):16.6f}")
    print(f"{'pyhf -2 log L at ours':24s}{pyhf_at_ours:16.6f}")
    print(f"{'POI error (Hessian)':24s}{ours.poi_error:16.6f}")
    if args.skip_pyhf_cls:
        print(f"CLs({args.poi:g}) bayesfit {ours_cls.cls:.6f} in {cls_time:.2f} s; expected {ours_cls.cls_expected}")
        return
    (their_cls, their_expected), their_cls_time = _timed(
        pyhf.infer.hypotest, args.poi, data, theirs, test_stat="qtilde", return_expected_set=True
    )
    print(f"{'CLs time [s]':24s}{cls_time:16.3f}{their_cls_time:16.3f}   speed-up {their_cls_time / cls_time:.0f}x")
    print(f"{'CLs observed':24s}{ours_cls.cls:16.6f}{float(their_cls):16.6f}")
    for sigma, a, b in zip((-2, -1, 0, 1, 2), ours_cls.cls_expected, np.ravel(their_expected)):
        print(f"{f'CLs expected {sigma:+d} sigma':24s}{a:16.6f}{float(b):16.6f}")


if __name__ == "__main__":
    main()
