"""The IceCube HESE diffuse-flux fit, step by step, with the bayesfit Python API.

This walks the seed notebook ("Diffuse Fit Solutions"): load weighted simulation and data in the
seed's JSON layout, bin them (20 log-energy x 10 cos-zenith x 2 topology bins), reweight the
astrophysical component with a power law, fit (atmo_norm, astro_norm, astro_gamma) by maximum
likelihood from the notebook's start (1, 8, 2.5), then sample the posterior with NUTS and plot.

    python examples/hese_diffuse_fit.py                      # the package's own HESE-like toy
    python examples/hese_diffuse_fit.py --data D.json --simulation S.json --out results/mine
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np

import bayesfit
from bayesfit.analysis.figures import CountsToPlot, projection_figures
from bayesfit.binning import CategoryAxis, CosAxis, Log10Axis
from bayesfit.datasets import hese_example_files
from bayesfit.inference import fit, profile_likelihood, sample_posterior
from bayesfit.inference import objective_for
from bayesfit.output import ResultFolder
from bayesfit.plots import plot_corner, plot_profile
from bayesfit.predictors import Component, PowerLaw, ReweightedMCPredictor

PARAMETERS = ("atmo_norm", "astro_norm", "astro_gamma")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="data events (seed JSON layout); default: the toy")
    parser.add_argument("--simulation", type=Path, help="simulated events (seed JSON layout)")
    parser.add_argument("--out", type=Path, default=Path("results/hese_example"), help="folder for the plots")
    parser.add_argument("--draws", type=int, default=1000, help="posterior draws per chain")
    parser.add_argument("--force", action="store_true", help="overwrite existing plots")
    arguments = parser.parse_args()
    folder = ResultFolder(arguments.out, force=arguments.force)  # checked now, written at the end

    # Load the simulation and the data
    if arguments.data is None or arguments.simulation is None:
        files = hese_example_files()
        data_file, simulation_file = files.data_path, files.simulation_path
    else:
        data_file, simulation_file = arguments.data, arguments.simulation
    simulation = bayesfit.load_events(simulation_file)
    data = bayesfit.load_events(data_file)
    print(f"simulation: {simulation.n_events} events with {sorted(simulation.variables)}")
    print(f"data:       {data.n_events} events with {sorted(data.variables)}")

    # Define the binning: topology x zenith (uniform in cos) x energy (uniform in log10), energy fastest
    binning = bayesfit.Binning(
        [CategoryAxis("topology", (0, 1)), CosAxis("zenith", 10), Log10Axis("energy", 60.0e3, 1.0e7, 20)]
    )
    # Bin once: one flat bin index per event (-1 outside), no masks
    simulation_bins = binning.bin_index(simulation)
    data_histogram = binning.fill(data)
    counts = data_histogram.entries
    print(f"binned data: {int(counts.sum())} events in {binning.size} bins ({data_histogram.n_outside} outside)")
    print(counts)

    # Event weighting: atmospheric scaled, astrophysical reweighted from E^-2.5 to E^-gamma (pivot 100 TeV)
    predictor = ReweightedMCPredictor(
        simulation,
        simulation_bins,
        binning.size,
        components=[
            Component("atmoWeight", norm="atmo_norm"),
            Component(
                "astroWeight",
                norm="astro_norm",
                spectrum=PowerLaw("primaryEnergy", index="astro_gamma", pivot=1e5, generated_index=2.5),
            ),
        ],
        name="hese",
    )
    model = bayesfit.BinnedModel(
        predictor,
        counts,
        priors={
            "atmo_norm": {"HalfNormal": {"sigma": 3}},
            "astro_norm": {"HalfNormal": {"sigma": 20}},
            "astro_gamma": {"Uniform": {"lower": 1.5, "upper": 4.5}},
        },
        starts={"atmo_norm": 1.0, "astro_norm": 8.0, "astro_gamma": 2.5},
    )

    # The likelihood at the notebook's test point
    objective = objective_for(model)  # compiled once, reused by every fit, scan and test of the model
    print("-ln L(1.0, 6.0, 2.9) =", objective(objective.pack({"atmo_norm": 1.0, "astro_norm": 6.0, "astro_gamma": 2.9})))

    # Minimise the negative log likelihood from (1, 8, 2.5): exact gradients, bounds norm >= 0
    start = time.perf_counter()
    result = fit(objective)
    print(f"maximum-likelihood fit ({time.perf_counter() - start:.2f} s, converged: {result.converged}):")
    print(f"  -ln L = {result.nll:.6f}")
    print("  Atmospheric Normalization  =", float(result.values["atmo_norm"]), "+-", float(result.errors["atmo_norm"]))
    print("  Astrophysical Normalization =", float(result.values["astro_norm"]), "+-", float(result.errors["astro_norm"]))
    print("  Astrophysical Gamma         =", float(result.values["astro_gamma"]), "+-", float(result.errors["astro_gamma"]))

    # Profile likelihood of the spectral index
    scan = profile_likelihood(objective, "astro_gamma", np.linspace(2.0, 4.2, 23), best_fit=result)
    lower, upper = scan.interval()
    print(f"  astro_gamma 68% profile-likelihood interval: [{lower:.3f}, {upper:.3f}]")

    # The posterior with NUTS
    start = time.perf_counter()
    idata = sample_posterior(model, draws=arguments.draws, tune=1000, chains=4, seed=1, sampler="pymc", predictive=True)
    print(f"NUTS posterior ({time.perf_counter() - start:.1f} s):")
    import arviz as az

    print(az.summary(idata, var_names=list(PARAMETERS)))

    # Plots: counts per energy and cos(zenith) by topology, corner plot, profile
    components = {
        "atmospheric": predictor.evaluate(atmo_norm=result.values["atmo_norm"], astro_norm=0.0, astro_gamma=2.5)[0],
        "astrophysical": predictor.evaluate(
            atmo_norm=0.0, astro_norm=result.values["astro_norm"], astro_gamma=result.values["astro_gamma"]
        )[0],
    }
    predictive = idata.posterior_predictive["counts"].values.reshape(-1, binning.size)
    with folder:  # all plots or none
        for name, figure in projection_figures(binning, CountsToPlot(counts, components, predictive)).items():
            folder.write_figure(f"{name}.png", figure)
        folder.write_figure("corner.png", plot_corner(idata, PARAMETERS))
        profile = plot_profile(scan.values, scan.twice_delta_nll, parameter="astro_gamma",
                               best_fit=float(result.values["astro_gamma"]))
        folder.write_figure("profile_astro_gamma.png", profile.figure)
    print(f"plots in {folder.path}/")


if __name__ == "__main__":
    main()
