"""The inputs of ReMU's example 06 (cross sections with flux and detector uncertainties) as files.

Writes, into a folder, what ``models/xsec_flux.yaml`` reads:

- ``response.npz``: the response matrix in ReMU's format (``matrices`` ``(K, 8, 169)`` of ``K``
  detector universes, ``truth_entries``, ``weights``), truth bins of ReMU's example 05: noise,
  background in 6 x 8 (true_x, true_y) bins, signal in 10 x 12;
- ``inputs.npz``: ``observed`` counts ``(8,)`` in reco_x, ``flux_throws`` ``(K, 9)`` (exposure
  per neutrino-energy bin, one unit = one year of beam; throw ``k`` pairs with detector universe
  ``k``), ``nominal_flux`` ``(9,)``, and the templates in truth bins: ``noise`` ``(169,)`` (200
  noise events, 20 per year for the data's 10 years) and the cross sections ``background``,
  ``model_A``, ``model_B`` ``(169, 9)`` (true events per unit of exposure in each flux bin).

At scale 1 every template is the toy's truth. Sources: the package's toy experiment
(:func:`bayesfit.datasets.generate_xsec_toy`: the response is filled from the simulated events
with their per-universe weights and reco values) or ReMU's own files (``--remu-dir``: truth
binning, response matrix and real data of example 05; the flux throws sampled as in ReMU).

    python examples/xsec_inputs.py                                 # into models/inputs/xsec_flux
    python examples/xsec_inputs.py --remu-dir DIR --out FOLDER      # ReMU's example files in DIR
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

import numpy as np

from bayesfit.binning import Binning, HierarchicalBinning, RectilinearBinning, VariableAxis
from bayesfit.datasets.xsec_toy import (
    DATA_YEARS,
    EVENT_TYPES,
    FLUX_EDGES,
    YEARLY_RATES,
    cross_section_table,
    generate_xsec_toy,
    sample_flux,
)
from bayesfit.events import load_events
from bayesfit.predictors import ResponseMatrix

#: Reco binning in ``reco_x`` (ReMU's ``01/reco-binning.yml``).
RECO_EDGES = (-np.inf, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, np.inf)
#: Truth sub-binnings of ReMU's example 05.
BACKGROUND_X_EDGES = (-np.inf, -0.5, 0.0, 0.5, 1.0, 1.5, np.inf)
BACKGROUND_Y_EDGES = (-np.inf, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5, np.inf)
SIGNAL_X_EDGES = (-np.inf, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, np.inf)
SIGNAL_Y_EDGES = (-np.inf, -1.5, -1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5, np.inf)
#: Top-level truth bin of each process (the toy's event-type codes are the top-level bin numbers).
PROCESS_TOP_BIN = {"background": EVENT_TYPES["background"], "model_A": EVENT_TYPES["signal"],
                   "model_B": EVENT_TYPES["signal"]}
#: ``event_type`` values of ReMU's truth binning (noise -1, background 0, signal 1), indexed by the toy's codes.
REMU_EVENT_TYPES = np.array([-1.0, 0.0, 1.0])
NOISE_EVENTS = YEARLY_RATES["noise"] * DATA_YEARS
DEFAULT_FOLDER = Path(__file__).resolve().parents[1] / "models" / "inputs" / "xsec_flux"


class XsecInputs(NamedTuple):
    """The arrays written by :func:`write_inputs` (shapes in the module docstring)."""

    truth_binning: HierarchicalBinning
    response: ResponseMatrix
    observed: np.ndarray
    flux_throws: np.ndarray
    nominal_flux: np.ndarray

    def templates(self) -> dict[str, np.ndarray]:
        """Noise events ``(n_truth,)`` and cross sections ``(n_truth, n_flux)`` on the truth binning."""
        truth = self.truth_binning
        noise = np.zeros(truth.size)
        noise[truth.data_slice(EVENT_TYPES["noise"])] = NOISE_EVENTS
        templates = {"noise": noise}
        for process, top_bin in PROCESS_TOP_BIN.items():
            subbinning = truth.subbinnings[top_bin]
            x_edges, y_edges = subbinning.axis("true_x").edges, subbinning.axis("true_y").edges
            table = cross_section_table(process, x_edges, y_edges, FLUX_EDGES)  # (n_x, n_y, n_flux)
            order = [subbinning.variables.index("true_x"), subbinning.variables.index("true_y"), 2]
            table = np.transpose(table, np.argsort(order))  # to the sub-binning's axis order
            values = np.zeros((truth.size, FLUX_EDGES.size - 1))
            values[truth.data_slice(top_bin)] = table.reshape(-1, FLUX_EDGES.size - 1)
            templates[process] = values
        return templates


def truth_binning() -> HierarchicalBinning:
    """ReMU's truth binning of example 05: event type {noise, background 6x8, signal 10x12}, 169 bins."""
    top = RectilinearBinning([VariableAxis("event_type", (-1.5, -0.5, 0.5, 1.5))])
    background = RectilinearBinning([VariableAxis("true_x", BACKGROUND_X_EDGES),
                                     VariableAxis("true_y", BACKGROUND_Y_EDGES)])
    signal = RectilinearBinning([VariableAxis("true_x", SIGNAL_X_EDGES), VariableAxis("true_y", SIGNAL_Y_EDGES)])
    return HierarchicalBinning(top, {EVENT_TYPES["background"]: background, EVENT_TYPES["signal"]: signal})


def reco_binning() -> RectilinearBinning:
    return RectilinearBinning([VariableAxis("reco_x", RECO_EDGES)])


def toy_inputs(seed: int = 20190601, *, years_simulated: float = 100.0, n_universes: int = 100) -> XsecInputs:
    """The toy experiment: response filled from the simulated noise, background and signal (model A
    and B) events with their per-universe weights and reco values; the noise column normalised to 1."""
    toy = generate_xsec_toy(seed, years_simulated, n_universes)
    truth, reco = truth_binning(), reco_binning()
    processes = ("noise", "background", "model_A", "model_B")
    columns = {name: np.concatenate([toy.simulation[p][name] for p in processes])
               for name in ("event_type", "true_x", "true_y", "universe_weight", "universe_reco_x")}
    truth_index = truth.bin_index({
        "event_type": REMU_EVENT_TYPES[columns["event_type"].astype(np.int64)],
        "true_x": columns["true_x"],
        "true_y": columns["true_y"],
    })
    reco_x = columns["universe_reco_x"]
    reco_index = np.full(reco_x.shape, -1, dtype=np.int64)  # -1: not reconstructed
    reconstructed = np.isfinite(reco_x)
    reco_index[reconstructed] = reco.bin_index({"reco_x": reco_x[reconstructed]})
    response = ResponseMatrix.from_events(
        truth_index, None, n_truth=truth.size, n_reco=reco.size, universe_weights=columns["universe_weight"],
        universe_reco_index=reco_index, noise_bins=(truth.data_slice(EVENT_TYPES["noise"]).start,),
    )
    observed = reco.fill({"reco_x": toy.data["reco_x"]}).sumw
    return XsecInputs(truth, response, observed, toy.flux_throws, toy.nominal_flux)


def remu_inputs(remu_dir: Path, *, flux_seed: int = 20190601) -> XsecInputs:
    """ReMU's files (``remu_dir`` holds ``01/``, ``05/``): truth binning, response matrix, real data
    binned in reco_x; as in ReMU's example the flux throws are sampled (``E ~ N(8, 2)``)."""
    truth = Binning.from_yaml(remu_dir / "05" / "truth-binning.yml")
    reco = Binning.from_yaml(remu_dir / "01" / "reco-binning.yml")
    response = ResponseMatrix.from_remu_npz(remu_dir / "05" / "response_matrix.npz")
    observed = reco.fill(load_events(remu_dir / "05" / "real_data.txt")).sumw
    rng = np.random.default_rng(flux_seed)
    throws = sample_flux(response.n_variations, rng)
    return XsecInputs(truth, response, observed, throws, sample_flux(1, rng)[0])


def write_inputs(inputs: XsecInputs, folder: Path) -> list[Path]:
    """Write ``response.npz`` and ``inputs.npz`` into ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    response, inputs_file = folder / "response.npz", folder / "inputs.npz"
    np.savez_compressed(response, matrices=inputs.response.matrices, truth_entries=inputs.response.truth_entries,
                        weights=inputs.response.weights)
    np.savez_compressed(inputs_file, observed=inputs.observed, flux_throws=inputs.flux_throws,
                        nominal_flux=inputs.nominal_flux, **inputs.templates())
    return [response, inputs_file]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--remu-dir", type=Path, help="folder with ReMU's examples (01/, 05/)")
    parser.add_argument("--out", type=Path, default=DEFAULT_FOLDER, help="folder for the input files")
    parser.add_argument("--seed", type=int, default=20190601, help="toy simulation and flux throws")
    arguments = parser.parse_args()
    if arguments.remu_dir is None:
        inputs = toy_inputs(arguments.seed)
    else:
        inputs = remu_inputs(arguments.remu_dir, flux_seed=arguments.seed)
    for path in write_inputs(inputs, arguments.out):
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
