"""Inputs of small analysis files in ``models/``, simulated with numpy and written as files.

- ``models/inputs/unfolding/``: a response-matrix unfolding. True events in 4 bins of ``x`` in
  [0, 4) (400, 250, 120, 60 expected) are reconstructed with efficiency ``0.8`` and Gaussian
  smearing of sigma ``0.4`` into 8 reco bins; 20 detector universes vary the efficiency (by
  about 5%) and the smearing (by about 15%) through per-event weights and reco values, and the
  response matrix is filled from 200,000 simulated events (:meth:`ResponseMatrix.from_events`).
  ``response.npz`` holds ``matrices`` ``(20, 8, 4)`` and ``weights`` ``(20,)``; ``data.npz`` the
  ``observed`` counts ``(8,)`` (truth folded with universe 0, plus a flat background of 5 per
  reco bin, Poisson-fluctuated) and the ``background`` template ``(8,)``.
- ``models/inputs/template_fit/``: a bump hunt in a mass spectrum, 20 bins in [100, 150) GeV.
  ``signal.json``: a ``hist`` histogram (UHI JSON) of 2,000 simulated signal masses
  ``N(125, 3)`` weighted to 30 expected events; ``background.csv``: the expected background
  per bin (an exponential with slope 1/25 GeV, 600 events), column ``background``;
  ``observed.json``: a ``hist`` histogram of the pseudo-data (the background plus the signal,
  Poisson-fluctuated).
- ``models/inputs/combined/``: the two channels of ``models/combined.yaml``, which share the signal
  strength ``mu``. ``counting.json``: a pyhf workspace, one channel ``SR`` of 4 bins with a
  signal (normfactor ``mu``) on a background with a 10% normalisation uncertainty (normsys
  ``bkg_norm``) and the per-bin MC statistical uncertainties (staterror), observed counts
  Poisson-fluctuated at ``mu = 1``. ``simulation.csv``: 4,000 simulated events of ``energy``
  (log-uniform in [1, 1000] TeV, in GeV) with per-event weights ``signal_weight`` (an E^-2
  spectrum, 40 events) and ``background_weight`` (E^-2.7, 300 events); ``data.csv``: pseudo-data
  events drawn from them at ``mu = 1`` (Poisson count, events drawn by weight).
- ``models/inputs/hese/``: the HESE-like toy of ``models/hese_*.yaml``
  (:func:`bayesfit.datasets.generate_hese_toy` with its defaults, 100,000 generated neutrinos, seed
  20131122): ``simulation.npz`` holds the columns the models read (``atmoWeight``, ``astroWeight``,
  ``primaryEnergy``, ``energy``, ``zenith``, ``topology``; float64, as generated: the simulation
  rounded to 4 significant digits like the seed notebook's file), ``data.npz`` the toy data
  (``energy``, ``zenith``, ``topology``, full precision).

    python examples/model_inputs.py          # writes the folders under models/inputs/
"""

from __future__ import annotations

import json
from pathlib import Path

import hist
import hist.serialization
import numpy as np
import uhi.io.json
from scipy.special import ndtr

from bayesfit.datasets import generate_hese_toy
from bayesfit.predictors import ResponseMatrix

MODELS = Path(__file__).resolve().parents[1] / "models"
SEED = 20240611

TRUE_EDGES = np.arange(5.0)
RECO_EDGES = np.linspace(0.0, 4.0, 9)
TRUE_EVENTS = np.array([400.0, 250.0, 120.0, 60.0])
BACKGROUND_PER_BIN = 5.0
N_UNIVERSES = 20

MASS_EDGES = np.linspace(100.0, 150.0, 21)
SIGNAL_EVENTS, BACKGROUND_EVENTS, BACKGROUND_SLOPE = 30.0, 600.0, 25.0


def write_unfolding_inputs(folder: Path, seed: int = SEED) -> list[Path]:
    """Simulate the unfolding's response with universes and its data; write ``response.npz`` and ``data.npz``."""
    rng = np.random.default_rng(seed)
    n_events = 200_000
    true_x = rng.uniform(0.0, 4.0, n_events)
    efficiency_scale = 1.0 + 0.05 * rng.standard_normal(N_UNIVERSES)
    smearing_scale = np.abs(1.0 + 0.15 * rng.standard_normal(N_UNIVERSES))
    reconstructed = rng.random(n_events) < 0.8
    smearing = 0.4 * rng.standard_normal(n_events)
    # universe k: efficiency 0.8 * scale_k as a per-event likelihood ratio, smearing scaled by smearing_scale_k
    weights = np.where(reconstructed[:, None], efficiency_scale, (1.0 - 0.8 * efficiency_scale) / 0.2)
    reco_x = true_x[:, None] + smearing[:, None] * smearing_scale
    reco_index = np.searchsorted(RECO_EDGES, reco_x, side="right") - 1
    reco_index[~reconstructed[:, None] | (reco_index < 0) | (reco_index >= RECO_EDGES.size - 1)] = -1
    response = ResponseMatrix.from_events(
        np.searchsorted(TRUE_EDGES, true_x, side="right") - 1, None, n_truth=TRUE_EDGES.size - 1,
        n_reco=RECO_EDGES.size - 1, universe_weights=weights, universe_reco_index=reco_index,
    )
    background = np.full(RECO_EDGES.size - 1, BACKGROUND_PER_BIN)
    observed = rng.poisson(response.matrices[0] @ TRUE_EVENTS + background).astype(float)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / "response.npz", matrices=response.matrices, weights=response.weights)
    np.savez_compressed(folder / "data.npz", observed=observed, background=background)
    return [folder / "response.npz", folder / "data.npz"]


def background_expectation() -> np.ndarray:
    """Expected background per mass bin: ``BACKGROUND_EVENTS`` of an exponential in [100, 150) GeV."""
    cdf = -np.expm1(-(MASS_EDGES - MASS_EDGES[0]) / BACKGROUND_SLOPE)
    return BACKGROUND_EVENTS * np.diff(cdf) / cdf[-1]


def write_template_fit_inputs(folder: Path, seed: int = SEED) -> list[Path]:
    """Write ``signal.json`` and ``observed.json`` (UHI JSON histograms) and ``background.csv``."""
    rng = np.random.default_rng(seed)
    masses = rng.normal(125.0, 3.0, 2000)
    axis = hist.axis.Variable(MASS_EDGES, name="mass", label="mass [GeV]")
    signal = hist.Hist(axis, storage=hist.storage.Weight()).fill(mass=masses, weight=np.full(masses.size, SIGNAL_EVENTS / masses.size))
    background = background_expectation()
    signal_expected = SIGNAL_EVENTS * np.diff(ndtr((MASS_EDGES - 125.0) / 3.0))
    observed = hist.Hist(axis, storage=hist.storage.Double())
    observed[...] = rng.poisson(background + signal_expected).astype(float)
    folder.mkdir(parents=True, exist_ok=True)
    for name, histogram in (("signal.json", signal), ("observed.json", observed)):
        serialised = hist.serialization.to_uhi(histogram)
        serialised.pop("writer_info")  # library versions: the file stays the same across versions
        (folder / name).write_text(json.dumps(serialised, default=uhi.io.json.default, indent=1) + "\n")
    lines = ["mass_low,mass_high,background"] + [
        f"{float(low)!r},{float(high)!r},{float(value)!r}" for low, high, value in zip(MASS_EDGES[:-1], MASS_EDGES[1:], background)
    ]
    (folder / "background.csv").write_text("\n".join(lines) + "\n")
    return [folder / "signal.json", folder / "observed.json", folder / "background.csv"]


COUNTING_SIGNAL = [4.0, 9.0, 7.0, 3.0]
COUNTING_BACKGROUND = [52.0, 41.0, 30.0, 18.0]
COUNTING_MC_ERROR = [2.5, 2.0, 1.8, 1.5]  # absolute MC statistical uncertainty of the background per bin
SPECTRUM_EVENTS, SPECTRUM_SIGNAL, SPECTRUM_BACKGROUND = 4000, 40.0, 300.0


def counting_workspace(observed: list[float]) -> dict:
    """The pyhf workspace of the combined model's counting channel with ``observed`` counts."""
    return {
        "version": "1.0.0",
        "channels": [{"name": "SR", "samples": [
            {"name": "signal", "data": COUNTING_SIGNAL, "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
            {"name": "background", "data": COUNTING_BACKGROUND, "modifiers": [
                {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
                {"name": "staterror_SR", "type": "staterror", "data": COUNTING_MC_ERROR},
            ]},
        ]}],
        "observations": [{"name": "SR", "data": observed}],
        "measurements": [{"name": "counting", "config": {"poi": "mu", "parameters": [
            {"name": "mu", "bounds": [[0.0, 10.0]], "inits": [1.0]},
        ]}}],
    }


def write_combined_inputs(folder: Path, seed: int = SEED) -> list[Path]:
    """Write ``counting.json`` (a pyhf workspace), ``simulation.csv`` and ``data.csv`` (events)."""
    rng = np.random.default_rng(seed)
    observed = rng.poisson(np.add(COUNTING_SIGNAL, COUNTING_BACKGROUND)).astype(float).tolist()
    energy = 10.0 ** rng.uniform(3.0, 6.0, SPECTRUM_EVENTS)
    signal = energy ** -1.0  # E^-2 over a log-uniform (E^-1) generation
    background = energy ** -1.7
    signal_weight = SPECTRUM_SIGNAL * signal / signal.sum()
    background_weight = SPECTRUM_BACKGROUND * background / background.sum()
    total = signal_weight + background_weight
    chosen = rng.choice(SPECTRUM_EVENTS, size=rng.poisson(total.sum()), p=total / total.sum())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "counting.json").write_text(json.dumps(counting_workspace(observed), indent=1) + "\n")
    rows = [f"{e!r},{s!r},{b!r}" for e, s, b in zip(energy.tolist(), signal_weight.tolist(), background_weight.tolist())]
    (folder / "simulation.csv").write_text("\n".join(["energy,signal_weight,background_weight", *rows]) + "\n")
    (folder / "data.csv").write_text("\n".join(["energy", *(repr(e) for e in energy[chosen].tolist())]) + "\n")
    return [folder / "counting.json", folder / "simulation.csv", folder / "data.csv"]


#: The simulation columns the HESE models read (``primaryZenith`` is not used).
HESE_SIMULATION_COLUMNS = ("atmoWeight", "astroWeight", "primaryEnergy", "energy", "zenith", "topology")


def write_hese_inputs(folder: Path) -> list[Path]:
    """Write the HESE-like toy's ``simulation.npz`` and ``data.npz`` (float64 columns)."""
    toy = generate_hese_toy()
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / "simulation.npz", **{name: toy.simulation[name] for name in HESE_SIMULATION_COLUMNS})
    np.savez_compressed(folder / "data.npz", **toy.data)
    return [folder / "simulation.npz", folder / "data.npz"]


def main() -> None:
    files = write_unfolding_inputs(MODELS / "inputs" / "unfolding")
    files += write_template_fit_inputs(MODELS / "inputs" / "template_fit")
    files += write_combined_inputs(MODELS / "inputs" / "combined")
    files += write_hese_inputs(MODELS / "inputs" / "hese")
    for path in files:
        print(f"wrote {path} ({path.stat().st_size / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
