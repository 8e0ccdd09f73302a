"""A HESE-like toy: simulated neutrino and muon events with weights, and Poisson-sampled data.

The toy follows the recipe of IceCube's high-energy starting-event (HESE) diffuse-flux exercise:
neutrinos of all flavours interact inside a detector, deposit part of their energy as a cascade
(topology 0) or a track (topology 1), and are weighted to an astrophysical power law and to a
conventional atmospheric flux; atmospheric muons that leak through the veto add tracks from above.

Conventions (those of the notebook): energies in GeV, zenith angles in radians (0 = down-going),
``astroWeight`` in expected events for the whole livetime at ``astro_norm = 1`` for an
``(E / 100 TeV)^-2.5`` flux, ``atmoWeight`` in expected events at ``atmo_norm = 1``. The expected
number of events of a simulated event at ``(atmo_norm, astro_norm, astro_gamma)`` is::

    atmo_norm * atmoWeight + astro_norm * astroWeight * (primaryEnergy / 100 TeV)^-(astro_gamma - 2.5)

The detector model is a toy (not IceCube's response); its constants are chosen so that about 117
events are expected above 60 TeV deposited energy at the notebook's best fit (1.0, 6.7, 3.0).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy.special import expit

from bayesfit.datasets.seed_json import round_significant, write_seed_json
from bayesfit.errors import EventsError

__all__ = [
    "HeseToy",
    "HeseExampleFiles",
    "SIMULATION_COLUMNS",
    "DATA_COLUMNS",
    "TRUTH",
    "PIVOT_ENERGY",
    "DATA_THRESHOLD",
    "generate_hese_toy",
    "simulate_hese_events",
    "hese_expected_weights",
    "sample_hese_data",
    "hese_example_files",
]

SIMULATION_COLUMNS = (
    "astroWeight",
    "atmoWeight",
    "energy",
    "primaryEnergy",
    "primaryZenith",
    "topology",
    "zenith",
)
DATA_COLUMNS = ("energy", "topology", "zenith")

TRUTH = (1.0, 6.7, 3.0)
"""(atmo_norm, astro_norm, astro_gamma) at which the toy data are sampled."""

PIVOT_ENERGY = 1.0e5
"""Pivot energy of the astrophysical power law, GeV."""
REFERENCE_GAMMA = 2.5
"""Spectral index the ``astroWeight`` column is computed for."""

NEUTRINO_ENERGY_RANGE = (1.0e4, 1.0e7)
"""Neutrino energies are generated log-uniformly in this range, GeV."""
MUON_ENERGY_RANGE = (1.0e5, 1.0e8)
"""Atmospheric-muon energies are generated log-uniformly in this range, GeV."""
MUONS_PER_NEUTRINO = 0.1
"""Atmospheric muons simulated per generated neutrino."""
SELECTION_THRESHOLD = 3.0e4
"""Simulated neutrinos are kept if their reconstructed deposited energy is at least this, GeV.

Leaking muons are simulated as an already selected sample and all kept."""
DATA_THRESHOLD = 6.0e4
"""Toy data contain events with reconstructed deposited energy at least this, GeV."""

# Interaction and detector model.
CHARGED_CURRENT_FRACTION = 0.72
INELASTICITY_POWER = 2.5  # y = U^2.5
MUON_TRACK_DEPOSIT = 0.2  # fraction of the outgoing muon energy deposited inside the detector
TAU_DECAY_DEPOSIT = 0.6  # fraction of the tau energy seen in its decay cascade
CASCADE_ENERGY_RESOLUTION = 0.10  # sigma of ln(E_reco / E_deposited)
TRACK_ENERGY_RESOLUTION = 0.25
CASCADE_ANGULAR_RESOLUTION = np.radians(15.0)  # sigma per axis of the direction error
TRACK_ANGULAR_RESOLUTION = np.radians(1.5)
TURN_ON_ENERGY = 6.0e4  # deposited energy of 50 % trigger and veto efficiency, GeV
TURN_ON_WIDTH = 0.12  # width of the turn-on in log10(E_deposited)
EFFECTIVE_AREA_INDEX = 0.85  # effective area grows like E^0.85
EARTH_OPACITY_1PEV = 2.7  # optical depth of the Earth's diameter at 1 PeV, divided by 2
EARTH_OPACITY_INDEX = 0.4  # the neutrino cross section grows like E^0.4
VETO_ENERGY = 5.0e4  # energy scale of the atmospheric self-veto for vertical neutrinos, GeV

# Expected events per unit ln(E) and unit cos(zenith) at 100 TeV, before detector efficiency.
ASTRO_RATE = 11.3
ATMO_RATE = 21.0
MUON_RATE = 31.8
ATMO_FLAVOUR_FRACTIONS = np.array([0.05, 1.0, 0.0])  # nu_e, nu_mu, nu_tau relative to nu_mu
MUON_SPECTRAL_INDEX = 2.7

DEFAULT_N_GENERATED = 100_000
DEFAULT_SEED = 20131122


class HeseToy(NamedTuple):
    """A HESE-like toy.

    Attributes
    ----------
    simulation
        Columns of :data:`SIMULATION_COLUMNS`, each of shape ``(n_simulated,)``, rounded to 4
        significant digits like the notebook's simulation file.
    data
        Columns of :data:`DATA_COLUMNS`, each of shape ``(n_observed,)``, at full precision.
    """

    simulation: dict[str, np.ndarray]
    data: dict[str, np.ndarray]


class HeseExampleFiles(NamedTuple):
    """Paths of the example files written by :func:`hese_example_files`."""

    data_path: Path
    simulation_path: Path


def generate_hese_toy(
    n_generated: int = DEFAULT_N_GENERATED,
    seed: int = DEFAULT_SEED,
    truth: tuple[float, float, float] = TRUTH,
) -> HeseToy:
    """Generate a HESE-like simulation and toy data sampled from an independent simulation.

    Parameters
    ----------
    n_generated
        Number of generated neutrinos of the simulation; about 70 % pass the selection, and
        ``0.1 * n_generated`` leaking muons are added, so the simulation has about
        ``0.8 * n_generated`` rows. The independent simulation the data are drawn from has the
        same size.
    seed
        Seed of the whole toy: the same seed gives the same simulation and data.
    truth
        ``(atmo_norm, astro_norm, astro_gamma)`` at which the data are sampled.
    """
    simulation_seed, data_simulation_seed, sampling_seed = np.random.SeedSequence(seed).spawn(3)
    simulation = simulate_hese_events(n_generated, np.random.default_rng(simulation_seed))
    data_simulation = simulate_hese_events(n_generated, np.random.default_rng(data_simulation_seed))
    data = sample_hese_data(data_simulation, truth, np.random.default_rng(sampling_seed))
    rounded = {name: round_significant(values) for name, values in simulation.items()}
    return HeseToy(simulation=rounded, data=data)


def simulate_hese_events(n_generated: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Simulate ``n_generated`` events and return the selected ones at full precision.

    Returns columns of :data:`SIMULATION_COLUMNS`, each of shape ``(n_selected,)``; neutrinos come
    first, then muons.
    """
    if int(n_generated) != n_generated or n_generated < 10:
        raise EventsError(f"simulate_hese_events: n_generated must be an integer >= 10, got {n_generated}")
    neutrinos = _simulate_neutrinos(int(n_generated), rng)
    selected = neutrinos["energy"] >= SELECTION_THRESHOLD
    muons = _simulate_muons(int(round(MUONS_PER_NEUTRINO * n_generated)), rng)
    return {name: np.concatenate([neutrinos[name][selected], muons[name]]) for name in SIMULATION_COLUMNS}


def hese_expected_weights(
    simulation: Mapping[str, np.ndarray], atmo_norm: float, astro_norm: float, astro_gamma: float
) -> np.ndarray:
    """Expected events per simulated event at the given physics parameters, shape ``(n_events,)``."""
    spectral_ratio = (np.asarray(simulation["primaryEnergy"]) / PIVOT_ENERGY) ** -(
        astro_gamma - REFERENCE_GAMMA
    )
    return atmo_norm * simulation["atmoWeight"] + astro_norm * simulation["astroWeight"] * spectral_ratio


def sample_hese_data(
    simulation: Mapping[str, np.ndarray],
    truth: tuple[float, float, float],
    rng: np.random.Generator,
    threshold: float = DATA_THRESHOLD,
) -> dict[str, np.ndarray]:
    """Draw observed events from a simulation: a Poisson count, then events by weight.

    Only events with ``energy >= threshold`` (GeV) can be observed. Returns columns of
    :data:`DATA_COLUMNS`, each of shape ``(n_observed,)``.
    """
    weights = np.where(simulation["energy"] >= threshold, hese_expected_weights(simulation, *truth), 0.0)
    total = weights.sum()
    if not np.isfinite(total) or total <= 0 or np.any(weights < 0):
        raise EventsError(
            f"sample_hese_data: weights at {truth} must be finite and non-negative with a positive "
            f"sum above {threshold:g} GeV, got sum {total}"
        )
    n_observed = rng.poisson(total)
    chosen = rng.choice(weights.size, size=n_observed, replace=True, p=weights / total)
    return {name: np.asarray(simulation[name])[chosen] for name in DATA_COLUMNS}


def hese_example_files(
    directory: str | os.PathLike[str] | None = None,
    n_generated: int = DEFAULT_N_GENERATED,
    seed: int = DEFAULT_SEED,
) -> HeseExampleFiles:
    """Return the example's data and simulation files, generating them on first use.

    Parameters
    ----------
    directory
        Folder for ``hese_toy_data.json`` and ``hese_toy_simulation.json``. By default a folder
        in the user cache (``$XDG_CACHE_HOME/bayesfit`` or ``~/.cache/bayesfit``) named after the
        toy's size and seed. Existing files are reused, never overwritten.
    """
    if directory is None:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        directory = cache / "bayesfit" / f"hese-toy-n{n_generated}-seed{seed}"
    directory = Path(directory)
    files = HeseExampleFiles(
        data_path=directory / "hese_toy_data.json",
        simulation_path=directory / "hese_toy_simulation.json",
    )
    if not (files.data_path.exists() and files.simulation_path.exists()):
        toy = generate_hese_toy(n_generated=n_generated, seed=seed)
        # The simulation goes last: its presence marks a complete pair.
        write_seed_json(toy.data, files.data_path, overwrite=True)
        write_seed_json(toy.simulation, files.simulation_path, overwrite=True)
    return files


def _simulate_neutrinos(n_generated: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Neutrino interactions: all ``n_generated`` events, before the selection."""
    log_min, log_max = np.log(NEUTRINO_ENERGY_RANGE)
    energy = np.exp(rng.uniform(log_min, log_max, n_generated))
    cos_zenith = rng.uniform(-1.0, 1.0, n_generated)
    flavour = rng.integers(0, 3, n_generated)  # 0 nu_e, 1 nu_mu, 2 nu_tau
    charged_current = rng.random(n_generated) < CHARGED_CURRENT_FRACTION
    inelasticity = rng.random(n_generated) ** INELASTICITY_POWER

    is_track = charged_current & (flavour == 1)
    deposited = energy * _deposited_fraction(flavour, charged_current, inelasticity)
    energy_reco, zenith_reco = _reconstruct(deposited, np.arccos(cos_zenith), is_track, rng)

    # Weight = expected events per unit ln(E) and cos(zenith) / generated events per unit of both.
    per_event = (log_max - log_min) * 2.0 / n_generated
    acceptance = (
        (energy / PIVOT_ENERGY) ** EFFECTIVE_AREA_INDEX
        * _earth_transmission(energy, cos_zenith)
        * _turn_on(energy_reco)
    )
    astro = ASTRO_RATE * (energy / PIVOT_ENERGY) ** (1.0 - REFERENCE_GAMMA) * acceptance * per_event
    atmo = (
        ATMO_RATE
        * 3.0
        * ATMO_FLAVOUR_FRACTIONS[flavour]
        * _conventional_flux_shape(energy, cos_zenith)
        * _self_veto_passing(energy, cos_zenith)
        * acceptance
        * per_event
    )
    return {
        "astroWeight": astro,
        "atmoWeight": atmo,
        "energy": energy_reco,
        "primaryEnergy": energy,
        "primaryZenith": np.arccos(cos_zenith),
        "topology": is_track.astype(float),
        "zenith": zenith_reco,
    }


def _simulate_muons(n_generated: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Atmospheric muons leaking through the veto: down-going tracks, before the selection."""
    log_min, log_max = np.log(MUON_ENERGY_RANGE)
    energy = np.exp(rng.uniform(log_min, log_max, n_generated))
    cos_zenith = rng.uniform(0.0, 1.0, n_generated)
    # A leaking muon deposits a log-uniform fraction 0.18-0.6 of its energy inside the detector.
    deposited = energy * np.exp(rng.uniform(np.log(0.18), np.log(0.6), n_generated))
    is_track = np.ones(n_generated, dtype=bool)
    energy_reco, zenith_reco = _reconstruct(deposited, np.arccos(cos_zenith), is_track, rng)

    per_event = (log_max - log_min) * 1.0 / max(n_generated, 1)
    atmo = (
        MUON_RATE
        * (energy / PIVOT_ENERGY) ** (1.0 - MUON_SPECTRAL_INDEX)
        * 2.0
        * cos_zenith
        * _turn_on(energy_reco)
        * per_event
    )
    return {
        "astroWeight": np.zeros(n_generated),
        "atmoWeight": atmo,
        "energy": energy_reco,
        "primaryEnergy": energy,
        "primaryZenith": np.arccos(cos_zenith),
        "topology": np.ones(n_generated),
        "zenith": zenith_reco,
    }


def _deposited_fraction(
    flavour: np.ndarray, charged_current: np.ndarray, inelasticity: np.ndarray
) -> np.ndarray:
    """Fraction of the neutrino energy deposited in the detector, by interaction channel."""
    lepton = 1.0 - inelasticity
    lepton_deposit = np.select(
        [flavour == 0, flavour == 1, flavour == 2],
        [lepton, MUON_TRACK_DEPOSIT * lepton, TAU_DECAY_DEPOSIT * lepton],
    )
    return inelasticity + np.where(charged_current, lepton_deposit, 0.0)


def _reconstruct(
    deposited: np.ndarray, zenith: np.ndarray, is_track: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Log-normal energy resolution and a Gaussian direction error on the sphere."""
    energy_sigma = np.where(is_track, TRACK_ENERGY_RESOLUTION, CASCADE_ENERGY_RESOLUTION)
    energy_reco = deposited * np.exp(energy_sigma * rng.standard_normal(deposited.size))
    angular_sigma = np.where(is_track, TRACK_ANGULAR_RESOLUTION, CASCADE_ANGULAR_RESOLUTION)
    # The opening angle of a 2-D Gaussian error is Rayleigh distributed, its azimuth uniform.
    opening = angular_sigma * np.sqrt(-2.0 * np.log1p(-rng.random(deposited.size)))
    azimuth = rng.uniform(0.0, 2.0 * np.pi, deposited.size)
    cos_reco = np.cos(zenith) * np.cos(opening) + np.sin(zenith) * np.sin(opening) * np.cos(azimuth)
    return energy_reco, np.arccos(np.clip(cos_reco, -1.0, 1.0))


def _turn_on(energy_reco: np.ndarray) -> np.ndarray:
    """Trigger and veto efficiency versus reconstructed deposited energy (logistic in log10 E)."""
    return expit((np.log10(energy_reco) - np.log10(TURN_ON_ENERGY)) / TURN_ON_WIDTH)


def _earth_transmission(energy: np.ndarray, cos_zenith: np.ndarray) -> np.ndarray:
    """Survival probability through the Earth; the chord length is proportional to -cos(zenith)."""
    opacity = EARTH_OPACITY_1PEV * (energy / 1.0e6) ** EARTH_OPACITY_INDEX
    return np.exp(-opacity * np.clip(-cos_zenith, 0.0, None))


def _conventional_flux_shape(energy: np.ndarray, cos_zenith: np.ndarray) -> np.ndarray:
    """Gaisser-like conventional flux per unit ln(E), relative to its vertical value at 100 TeV.

    Pion and kaon terms ``E^-2.7 / (1 + 1.1 E cos(theta*) / epsilon)`` with critical energies 115
    and 850 GeV; ``cos(theta*)`` is the cosine at the production height (Chirkin's curved-Earth
    parametrisation), which keeps the flux finite at the horizon.
    """
    cos_star = _production_cos_zenith(np.abs(cos_zenith))

    def flux(energy_: np.ndarray, cos_: np.ndarray) -> np.ndarray:
        pion = 1.0 / (1.0 + 1.1 * energy_ * cos_ / 115.0)
        kaon = 0.054 / (1.0 + 1.1 * energy_ * cos_ / 850.0)
        return energy_ ** (1.0 - 2.7) * (pion + kaon)

    return flux(energy, cos_star) / flux(np.array(PIVOT_ENERGY), np.array(1.0))


def _production_cos_zenith(cos_zenith: np.ndarray) -> np.ndarray:
    """Cosine of the zenith angle at the height where the atmospheric neutrinos are produced."""
    p1, p2, p3, p4, p5 = 0.102573, -0.068287, 0.958633, 0.0407253, 0.817285
    numerator = cos_zenith**2 + p1**2 + p2 * cos_zenith**p3 + p4 * cos_zenith**p5
    return np.sqrt(numerator / (1.0 + p1**2 + p2 + p4))


def _self_veto_passing(energy: np.ndarray, cos_zenith: np.ndarray) -> np.ndarray:
    """Probability that a down-going atmospheric neutrino arrives without accompanying muons."""
    return np.exp(-np.clip(cos_zenith, 0.0, None) * energy / VETO_ENERGY)
