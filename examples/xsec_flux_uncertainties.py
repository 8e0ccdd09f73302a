"""Cross sections and flux uncertainties (ReMU's example 06), end to end with bayesfit.

``models/xsec_flux.yaml`` describes the analysis with generic template components: noise events
and cross sections per (truth bin x neutrino-energy bin) times 100 flux throws give true noise,
background and signal events; a response matrix with 100 detector universes folds them into 8
reco bins. The inputs are the files of ``examples/xsec_inputs.py``. Then:

1. maximum-likelihood fit of the 4 template scales, universes marginalised (exact gradients);
2. toy Monte Carlo p-values of "A only" and "B only" (ReMU's maximum-likelihood statistic) and
   Wilks p-value scans of each model's scale over 0.5..1.5;
3. NUTS posteriors of the scales, universes marginalised, and again with the flux as a continuous
   multivariate normal nuisance from the throws (``flux.treatment=nuisance``);
4. the Bayes factor of model A over model B (each with free background and noise), by SMC.

Scales are in units of the data set's expected events: 1 = the toy's truth (noise: 200 events).

    python examples/xsec_flux_uncertainties.py                         # the package's toy experiment
    python examples/xsec_flux_uncertainties.py --remu-dir DIR           # ReMU's example files in DIR
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import numpy as np

from bayesfit.analysis import Analysis
from bayesfit.output import ResultFolder
from bayesfit.plots import plot_corner, plot_counts, plot_pvalue_scan, plot_traces

MODEL = Path(__file__).resolve().parents[1] / "models" / "xsec_flux.yaml"
SCALES = ["noise", "background", "model_A", "model_B"]
HYPOTHESES = {"A only": {"model_B": 0.0}, "B only": {"model_A": 0.0}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--remu-dir", type=Path, help="folder with ReMU's examples (01/, 05/)")
    parser.add_argument("--out", type=Path, default=Path("results/xsec_flux"), help="folder for plots")
    parser.add_argument("--toys", type=int, default=1000, help="toy experiments per p-value")
    parser.add_argument("--draws", type=int, default=2000, help="posterior draws per chain")
    parser.add_argument("--smc-draws", type=int, default=1000, help="SMC particles per chain")
    parser.add_argument("--seed", type=int, default=20190601)
    parser.add_argument("--force", action="store_true", help="overwrite existing plots")
    arguments = parser.parse_args()
    folder = ResultFolder(arguments.out, force=arguments.force)  # checked now, written at the end
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        timings[step] = time.perf_counter() - clock
        clock = time.perf_counter()

    # 1. the analysis file, on the committed toy inputs or on ReMU's files written next to a copy of it
    model_file = MODEL
    if arguments.remu_dir is not None:
        from xsec_inputs import remu_inputs, write_inputs

        # staged with the results: the run's folder keeps the inputs it was made from
        write_inputs(remu_inputs(arguments.remu_dir, flux_seed=arguments.seed), folder.staging / "inputs" / "xsec_flux")
        model_file = Path(shutil.copy(MODEL, folder.staging / MODEL.name))
    analysis = Analysis.from_file(model_file)
    print(analysis)
    lap("inputs")

    # 2. maximum-likelihood fit with the universes marginalised
    best = analysis.fit()
    print("ML fit:", ", ".join(f"{name} {best.values[name]:.3f} +- {best.errors[name]:.3f}" for name in SCALES))
    print(f"  -ln L = {best.nll:.4f}; noise events = {best.values['noise'] * 200:.1f}")
    lap("fit")

    # 3. toy p-values of "A only" / "B only" and Wilks scans of each model's scale
    tests = {label: analysis.hypothesis_test(hypothesis, n_toys=arguments.toys, seed=arguments.seed,
                                             best_fit=best, statistic="max_likelihood").toys
             for label, hypothesis in HYPOTHESES.items()}
    for label, result in tests.items():
        print(f"toy p-value {label}: {result.p_value:.3f} +- {result.p_value_error:.3f} ({arguments.toys} toys)")
    lap("toys")
    grid = np.linspace(0.5, 1.5, 50)
    scans = {label: analysis.profile("model_A" if label == "A only" else "model_B", grid, fixed=hypothesis).p_values()
             for label, hypothesis in HYPOTHESES.items()}
    for label, p_values in scans.items():
        print(f"Wilks scan {label}: p-value {p_values.max():.3f} at scale {grid[p_values.argmax()]:.2f}")
    lap("wilks")

    # 4. NUTS posteriors: universes marginalised, then the flux as a continuous nuisance
    options = {"draws": arguments.draws, "seed": arguments.seed, "progressbar": False, "target_accept": 0.95}
    posterior = analysis.sample(predictive=True, **options)
    lap("nuts")
    posterior_flux = Analysis.from_file(model_file, ["flux.treatment=nuisance"]).sample(**options)
    lap("nuts_flux_nuisance")
    summaries = {name: _summary(idata) for name, idata in (("universes", posterior), ("flux nuisance", posterior_flux))}
    for name, summary in summaries.items():
        print(f"posterior ({name}):")
        print(summary.to_string())

    # 5. Bayes factor model A over model B, background and noise free in both (the file's priors)
    factor = analysis.bayes_factor(HYPOTHESES["A only"], HYPOTHESES["B only"], draws=arguments.smc_draws, chains=2,
                                   seed=arguments.seed)
    print(f"ln BF(A / B) = {factor.ln_bayes_factor:.3f} +- {factor.error:.3f}")
    lap("bayes_factor")

    # 8. plots and the summary: all or none
    with folder:
        _plot_all(folder, analysis, best, posterior, grid, scans)
        lap("plots")
        timings["total"] = sum(timings.values())
        print("timings [s]: " + ", ".join(f"{step} {seconds:.1f}" for step, seconds in timings.items()))
        folder.write_json("summary.json", {
            "model": str(model_file),
            "ml_fit": {"values": {name: float(best.values[name]) for name in SCALES},
                       "errors": {name: float(best.errors[name]) for name in SCALES}, "nll": best.nll},
            "toy_pvalues": {label: {"p_value": r.p_value, "error": r.p_value_error, "n_toys": arguments.toys}
                            for label, r in tests.items()},
            "posterior": {name: summary.to_dict(orient="index") for name, summary in summaries.items()},
            "ln_bayes_factor_A_over_B": {"value": factor.ln_bayes_factor, "error": factor.error},
            "timings_s": timings,
        })
    print(f"plots and summary.json in {arguments.out}")


def _summary(idata: Any) -> Any:
    import arviz as az

    return az.summary(idata, var_names=SCALES, kind="all")[["mean", "sd", "hdi_3%", "hdi_97%", "ess_bulk", "r_hat"]]


def _plot_all(folder: ResultFolder, analysis: Any, best: Any, posterior: Any, grid: np.ndarray,
              scans: dict[str, np.ndarray]) -> None:
    predictive = posterior.posterior_predictive["counts"].values.reshape(-1, analysis.binning.size)
    components = analysis.component_expected(best.values)
    ax = plot_counts(analysis.binning.axes[0].edges, analysis.observed, components,
                     expected=sum(components.values()), band=tuple(np.quantile(predictive, [0.16, 0.84], axis=0)),
                     xlabel="reco_x")
    folder.write_figure("reco_posterior_predictive.png", ax.figure)
    ax = plot_pvalue_scan(grid, {f"model {label[0]}": p for label, p in scans.items()}, xlabel="model scale (Wilks)")
    folder.write_figure("wilks_pvalues.png", ax.figure)
    folder.write_figure("corner.png", plot_corner(posterior, SCALES))
    folder.write_figure("traces.png", np.ravel(plot_traces(posterior, SCALES))[0].figure)


if __name__ == "__main__":
    main()
