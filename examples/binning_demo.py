"""Binning demo: the HESE binning, a weighted fill, a YAML round trip and projection plots.

Run: ``python examples/binning_demo.py [--out results/binning_demo/] [--events 200000]``.
Generates its own toy events with numpy (no reference data needed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bayesfit import Binning  # noqa: E402
from bayesfit.binning import Histogram, hese_binning  # noqa: E402


def toy_events(n_events: int, seed: int = 2) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Toy HESE-like events and per-event weights (expected events of an E^-2.5 flux).

    Energies (GeV) log-uniform over 30 TeV-30 PeV, so some fall outside the binning; zenith
    isotropic (radians); topology 0 (cascade) or 1 (track) with 70/30 odds.
    """
    rng = np.random.default_rng(seed)
    energy = 10 ** rng.uniform(np.log10(3.0e4), np.log10(3.0e7), n_events)
    events = {
        "energy": energy,
        "zenith": np.arccos(rng.uniform(-1.0, 1.0, n_events)),
        "topology": (rng.random(n_events) < 0.3).astype(np.float64),
    }
    weights = 100.0 / n_events * (energy / 1.0e5) ** -1.5  # log-uniform sampling * E^-2.5
    return events, weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/binning_demo"))
    parser.add_argument("--events", type=int, default=200_000)
    arguments = parser.parse_args()
    arguments.out.mkdir(parents=True, exist_ok=True)

    binning = hese_binning()
    print(f"binning: {binning.size} bins, dims {binning.dims}, shape {binning.shape}")
    events, weights = toy_events(arguments.events)
    histogram = binning.fill(events, weights)
    print(
        f"filled {arguments.events} events: {int(histogram.entries.sum())} inside, "
        f"{histogram.n_outside} outside; expected events inside = {histogram.sumw.sum():.3f} "
        f"(total weight {weights.sum():.3f})"
    )
    for topology, name in enumerate(("cascades", "tracks")):
        print(f"  {name}: {histogram.view()[topology].sum():.3f} expected events")

    binning_file = arguments.out / "hese-binning.yml"
    histogram_file = arguments.out / "hese-histogram.yml"
    binning.to_yaml(binning_file)
    histogram.to_yaml(histogram_file)
    same_binning = Binning.from_yaml(binning_file) == binning
    reread = Histogram.from_yaml(histogram_file)
    same_contents = np.array_equal(reread.sumw, histogram.sumw) and np.array_equal(reread.sumw2, histogram.sumw2)
    print(f"YAML round trip: binning identical {same_binning}, contents identical {same_contents}")

    figure, (energy_axes, map_axes) = plt.subplots(1, 2, figsize=(11, 4))
    histogram.plot("energy", ax=energy_axes)
    energy_axes.set_xscale("log")
    histogram.plot(["energy", "zenith"], ax=map_axes)
    map_axes.set_xscale("log")
    figure.tight_layout()
    plot_file = arguments.out / "hese-projections.png"
    figure.savefig(plot_file, dpi=100)
    print(f"wrote {binning_file}, {histogram_file}, {plot_file}")


if __name__ == "__main__":
    main()
