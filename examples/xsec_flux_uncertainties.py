"""Cross sections and flux uncertainties (ReMU's example 06), end to end with bayesfit.

Cross sections per (truth bin x neutrino-energy bin) times 100 flux throws give true noise,
background and signal events; a response matrix with 100 detector universes folds them into 8
reco bins. Templates for noise, background, signal model A and model B are collapsed exactly into
one (100, 8, 4) matrix, then:

1. maximum-likelihood fit of the 4 template weights, universes marginalised (exact gradients);
2. toy Monte Carlo p-values of "A only" and "B only" (ReMU's maximum-likelihood statistic,
   toys fitted in parallel) and Wilks p-value scans of each model's weight over 0.5..1.5;
3. NUTS posteriors of the weights, universes marginalised, and again with the flux as a continuous
   multivariate normal nuisance from the throws;
4. the Bayes factor of model A over model B (each with free background and noise), by SMC.

Weights are in units of the data set's expected events: 1 = the toy's truth (noise: 200 events).

    python examples/xsec_flux_uncertainties.py                         # the package's toy experiment
    python examples/xsec_flux_uncertainties.py --remu-dir DIR           # ReMU's example files in DIR
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import numpy as np

from bayesfit.inference import fit, sample_posterior
from bayesfit.inference.bayes_factor import bayes_factor
from bayesfit.inference import objective_for
from bayesfit.inference.pvalues import wilks_pvalue
from bayesfit.inference.toys import toy_pvalue
from bayesfit.output import ResultFolder
from bayesfit.plots import plot_corner, plot_counts, plot_pvalue_scan, plot_traces
from bayesfit.workflows import xsec
from bayesfit.workflows.xsec_figures import cross_section_figure, flux_figure, truth_check_figure

PRIORS = {"weights": {"Uniform": {"lower": 0.0, "upper": 3.0}}}
"""Proper priors for the Bayesian parts: every template weight uniform in [0, 3] (1 = truth)."""

HYPOTHESES = {"A only": ("noise", "background", "model_A"), "B only": ("noise", "background", "model_B")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--remu-dir", type=Path, help="folder with ReMU's examples (00/, 01/, 05/, 06/)")
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

    # 1-2. binnings, simulation or ReMU files, response matrix with 100 detector universes
    if arguments.remu_dir is None:
        inputs = xsec.toy_inputs(arguments.seed)
    else:
        inputs = xsec.remu_inputs(arguments.remu_dir, flux_seed=arguments.seed)
    print(f"inputs from {inputs.source}: {inputs.observed.sum():.0f} events in {inputs.reco_binning.size} reco bins, "
          f"{inputs.truth_binning.size} truth bins, {inputs.response.n_variations} universes")
    lap("inputs")

    # 3. einsum with flux throws, noise pass-through, concatenation, response, templates, linearise
    chain = xsec.build_chain(inputs)
    n_parameters = chain.templates.parameter_binning.size
    print(f"chain: {len(chain.templates.names)} templates -> {n_parameters} cross-section parameters -> "
          f"{chain.event_predictor.n_out} truth bins -> {chain.linearised.n_out} reco bins, "
          f"K = {chain.linearised.n_variations}")
    lap("chain")

    # 4. maximum-likelihood fit with the universes marginalised
    full = xsec.template_model(inputs, chain)
    best = fit(full)
    print("ML fit (weights noise, background, A, B):", _format(best.values["weights"], best.errors["weights"]))
    print(f"  -ln L = {best.nll:.4f}; noise events = {best.values['weights'][0] * inputs.noise_events:.1f}")
    lap("fit")

    # 5. toy p-values of "A only" / "B only" and Wilks scans of each model's weight
    objective = objective_for(full)
    toy_results = {
        label: toy_pvalue(objective, {f"weights[{index}]": 0.0}, statistic="max_likelihood",
                          n_toys=arguments.toys, seed=arguments.seed)
        for label, index in (("A only", 3), ("B only", 2))
    }
    for label, result in toy_results.items():
        print(f"toy p-value {label}: {result.p_value:.3f} +- {result.p_value_error:.3f} "
              f"({arguments.toys} toys, {result.toys.n_failed} failed)")
    lap("toys")
    weights_scan = np.linspace(0.5, 1.5, 50)
    scans = {}
    for label, templates in HYPOTHESES.items():
        hypothesis = objective_for(xsec.template_model(inputs, chain, templates=templates))
        hypothesis_best = fit(hypothesis)
        scans[label] = np.array([
            wilks_pvalue(hypothesis, {"weights[2]": weight}, best_fit=hypothesis_best).p_value
            for weight in weights_scan
        ])
    for label, p_values in scans.items():
        print(f"Wilks scan {label}: p-value {p_values.max():.3f} at weight {weights_scan[p_values.argmax()]:.2f}")
    lap("wilks")

    # 6. NUTS posteriors: universes marginalised, then the flux as a continuous nuisance
    posterior = sample_posterior(xsec.template_model(inputs, chain, priors=PRIORS), draws=arguments.draws,
                                 seed=arguments.seed, predictive=True, progressbar=False, target_accept=0.95)
    lap("nuts")
    posterior_flux = sample_posterior(xsec.template_model(inputs, chain, priors=PRIORS, flux="nuisance"),
                                      draws=arguments.draws, seed=arguments.seed, progressbar=False, target_accept=0.95)
    lap("nuts_flux_nuisance")
    summaries = {name: _summary(idata) for name, idata in (("universes", posterior), ("flux nuisance", posterior_flux))}
    diagnostics = {name: _diagnostics(idata) for name, idata in (("universes", posterior), ("flux nuisance", posterior_flux))}
    for name, summary in summaries.items():
        print(f"posterior ({name}): max r-hat {diagnostics[name]['max_rhat']:.4f}, "
              f"{diagnostics[name]['divergences']} divergences")
        print(summary.to_string())

    # 7. Bayes factor model A over model B, background and noise free in both
    models = {label: xsec.template_model(inputs, chain, templates=templates, priors=PRIORS)
              for label, templates in HYPOTHESES.items()}
    factor = bayes_factor(models["A only"], models["B only"], draws=arguments.smc_draws, chains=2,
                          seed=arguments.seed)
    print(f"ln BF(A / B) = {factor.ln_bayes_factor:.3f} +- {factor.error:.3f}")
    lap("bayes_factor")

    # 8. plots and the summary: all or none
    with folder:
        _plot_all(folder, inputs, chain, best, posterior, weights_scan, scans)
        lap("plots")
        timings["total"] = sum(timings.values())
        print("timings [s]: " + ", ".join(f"{step} {seconds:.1f}" for step, seconds in timings.items()))
        folder.write_json("summary.json", {
            "source": inputs.source,
            "ml_fit": {"weights": best.values["weights"].tolist(), "errors": best.errors["weights"].tolist(),
                       "nll": best.nll, "converged": best.converged},
            "toy_pvalues": {label: {"p_value": r.p_value, "error": r.p_value_error, "n_toys": arguments.toys}
                            for label, r in toy_results.items()},
            "posterior": {name: {"summary": summary.to_dict(orient="index"), **diagnostics[name]}
                          for name, summary in summaries.items()},
            "ln_bayes_factor_A_over_B": {"value": factor.ln_bayes_factor, "error": factor.error},
            "timings_s": timings,
        })
    print(f"plots and summary.json in {arguments.out}")


def _format(values: np.ndarray, errors: np.ndarray) -> str:
    return ", ".join(f"{v:.3f} +- {e:.3f}" for v, e in zip(values, errors))


def _diagnostics(idata: Any) -> dict[str, float]:
    import arviz as az

    return {"max_rhat": float(az.rhat(idata, var_names=["weights"])["weights"].max()),
            "divergences": int(idata.sample_stats["diverging"].sum())}


def _summary(idata: Any) -> Any:
    import arviz as az

    return az.summary(idata, var_names=["weights"], kind="all")[["mean", "sd", "hdi_3%", "hdi_97%", "ess_bulk", "r_hat"]]


def _plot_all(folder: ResultFolder, inputs: xsec.XsecInputs, chain: xsec.XsecChain, best: Any,
              posterior: Any, weights_scan: np.ndarray, scans: dict[str, np.ndarray]) -> None:
    folder.write_figure("flux.png", flux_figure(inputs))
    folder.write_figure("xsec_templates.png", cross_section_figure(inputs, chain.templates))
    folder.write_figure("truth_check.png", truth_check_figure(inputs, chain.templates))

    predictive = posterior.posterior_predictive["counts"].values.reshape(-1, inputs.reco_binning.size)
    band = tuple(np.quantile(predictive, [0.16, 0.84], axis=0))
    expected = chain.linearised.evaluate(weights=best.values["weights"])  # (K, n_reco)
    weights = chain.linearised.variation_weights / chain.linearised.variation_weights.sum()
    components = {name: weights @ (chain.linearised.matrix[:, :, column] * best.values["weights"][column])
                  for column, name in enumerate(chain.templates.names)}
    ax = plot_counts(inputs.reco_binning.axes[0].edges, inputs.observed, components, expected=weights @ expected,
                     band=band, xlabel="reco_x")
    folder.write_figure("reco_posterior_predictive.png", ax.figure)

    ax = plot_pvalue_scan(weights_scan, {f"model {label[0]}": p for label, p in scans.items()},
                          xlabel="model weight (Wilks)")
    folder.write_figure("wilks_pvalues.png", ax.figure)
    axes = plot_corner(posterior, ["weights"])
    folder.write_figure("corner.png", np.ravel(axes)[0].figure)
    axes = plot_traces(posterior, ["weights"])
    folder.write_figure("traces.png", np.ravel(axes)[0].figure)


if __name__ == "__main__":
    main()
