"""ReMU's toy neutrino experiment: signal models A and B, background, noise, detector universes, flux.

Events have true kinematics ``(true_x, true_y)``:

- signal model A: ``N([0.1, 0.2], identity)``; signal model B: ``N([0, 0], [[1, 0.5], [0.5, 1]])``;
  100 expected events per year of exposure each;
- background: ``N([0.5, 0.5], 0.5 * identity)``, 30 per year;
- noise: no truth, reconstructed at ``N([0, 0], 4 * identity)``, 20 per year.

The nominal detector reconstructs an event with probability ``0.9 * Phi(true_y)`` (``Phi`` the
standard normal cdf), keeps ``reco_y = true_y`` and smears ``x`` with a Gaussian of sigma 1 (signal)
or 2 (background). Detector universes vary the efficiency ``max_eff * Phi(slope * (y - offset))``
and the smearing width; they enter as per-event weights and per-event alternative ``reco_x``.

One unit of exposure is one year. The neutrino flux is ``E ~ N(8, 2)`` filled with weight 0.01
per sampled energy (1000 energies: 10 units of exposure) into :data:`FLUX_EDGES`. The cross-section
functions give the expected true events per unit of exposure in a flux bin, per truth bin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from bayesfit.errors import EventsError

__all__ = [
    "FLUX_EDGES",
    "EVENT_TYPES",
    "XsecToy",
    "DetectorUniverses",
    "generate_xsec_toy",
    "simulate_process",
    "sample_flux",
    "draw_detector_universes",
    "background_xsec",
    "model_a_xsec",
    "model_b_xsec",
    "cross_section_table",
]

FLUX_EDGES = np.array([0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 16.0, 20.0, np.inf])
"""Neutrino-energy bin edges of the flux, bins ``[low, high)``."""

EVENT_TYPES = {"noise": 0, "background": 1, "signal": 2}
"""Event-type codes of the toy: the index of the top-level truth bin (ReMU's own YAML bins event types
at -1, 0, 1 instead; see ``REMU_EVENT_TYPES`` in ``examples/xsec_inputs.py``)."""

YEARLY_RATES = {"model_A": 100.0, "model_B": 100.0, "background": 30.0, "noise": 20.0}
"""Expected true events per year of exposure (noise: reconstructed events)."""

TRUE_MEANS = {
    "model_A": np.array([0.1, 0.2]),
    "model_B": np.array([0.0, 0.0]),
    "background": np.array([0.5, 0.5]),
    "noise": np.array([0.0, 0.0]),
}
TRUE_COVARIANCES = {
    "model_A": np.eye(2),
    "model_B": np.array([[1.0, 0.5], [0.5, 1.0]]),
    "background": 0.5 * np.eye(2),
    "noise": 4.0 * np.eye(2),
}
SMEARING_SIGMAS = {"model_A": 1.0, "model_B": 1.0, "background": 2.0}
"""Nominal Gaussian smearing of reco_x around true_x."""
MAX_EFFICIENCY = 0.9

FLUX_MEAN, FLUX_SIGMA = 8.0, 2.0
FLUX_ENERGIES_PER_THROW = 1000
FLUX_WEIGHT = 0.01
DATA_YEARS = 10.0


@dataclass(frozen=True)
class DetectorUniverses:
    """Detector variations; efficiency ``max_eff * Phi(slope * (true_y - offset))``.

    Every attribute has shape ``(n_universes,)``. ``smear_scale`` multiplies the nominal
    smearing width of every process.
    """

    eff_slope: np.ndarray
    eff_offset: np.ndarray
    max_eff: np.ndarray
    smear_scale: np.ndarray


@dataclass(frozen=True)
class XsecToy:
    """The toy experiment.

    Attributes
    ----------
    simulation
        ``{"model_A", "model_B", "background", "noise"}`` -> columns, each with ``n`` rows:
        ``true_x``, ``true_y`` (NaN for noise), ``reco_x``, ``reco_y`` (NaN if not reconstructed),
        ``reconstructed`` (bool), ``event_type`` (int, :data:`EVENT_TYPES`), ``universe_weight``
        ``(n, n_universes)``: likelihood ratio of the event's outcome in each universe (efficiency
        ratio if reconstructed, inefficiency ratio if not; 1 for noise), ``universe_reco_x``
        ``(n, n_universes)`` (NaN if not reconstructed).
    data
        "Real" data: ``reco_x``, ``reco_y`` of 10 years of model B + background + noise.
    years_simulated
        Exposure of each simulated process, years.
    universes
        The detector variations.
    flux_edges
        Neutrino-energy bin edges, shape ``(n_flux + 1,)``.
    nominal_flux
        Exposure per flux bin, shape ``(n_flux,)``, total about 10.
    flux_throws
        Fluctuated fluxes, shape ``(n_universes, n_flux)``.
    """

    simulation: dict[str, dict[str, np.ndarray]]
    data: dict[str, np.ndarray]
    years_simulated: float
    universes: DetectorUniverses
    flux_edges: np.ndarray
    nominal_flux: np.ndarray
    flux_throws: np.ndarray


def generate_xsec_toy(
    seed: int = 20190601, years_simulated: float = 100.0, n_universes: int = 100
) -> XsecToy:
    """Simulate every process for ``years_simulated`` years, the real data, universes and fluxes."""
    if not years_simulated > 0:
        raise EventsError(f"generate_xsec_toy: years_simulated must be > 0, got {years_simulated}")
    if int(n_universes) != n_universes or n_universes < 1:
        raise EventsError(f"generate_xsec_toy: n_universes must be a positive integer, got {n_universes}")
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    universes = draw_detector_universes(int(n_universes), streams[0])
    processes = ("model_A", "model_B", "background", "noise")
    simulation = {
        process: simulate_process(process, years_simulated, universes, rng)
        for process, rng in zip(processes, streams[1:5])
    }
    data_parts = [
        simulate_process(process, DATA_YEARS, universes, streams[5])
        for process in ("model_B", "background", "noise")
    ]
    data = {
        name: np.concatenate([part[name][part["reconstructed"]] for part in data_parts])
        for name in ("reco_x", "reco_y")
    }
    return XsecToy(
        simulation=simulation,
        data=data,
        years_simulated=float(years_simulated),
        universes=universes,
        flux_edges=FLUX_EDGES.copy(),
        nominal_flux=sample_flux(1, streams[6])[0],
        flux_throws=sample_flux(int(n_universes), streams[7]),
    )


def draw_detector_universes(n_universes: int, rng: np.random.Generator) -> DetectorUniverses:
    """Draw detector variations around the nominal detector (slope 1, offset 0, 0.9, 1)."""
    return DetectorUniverses(
        eff_slope=np.abs(1.0 + 0.1 * rng.standard_normal(n_universes)),
        eff_offset=0.1 * rng.standard_normal(n_universes),
        max_eff=1.0 - np.abs(0.1 + 0.03 * rng.standard_normal(n_universes)),
        smear_scale=np.abs(1.0 + 0.1 * rng.standard_normal(n_universes)),
    )


def simulate_process(
    process: str, years: float, universes: DetectorUniverses, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Simulate a Poisson number of events of ``process`` for ``years`` of exposure.

    ``process`` is one of ``"model_A"``, ``"model_B"``, ``"background"``, ``"noise"``. Returns
    the columns described in :class:`XsecToy`.
    """
    if process not in YEARLY_RATES:
        raise EventsError(
            f"simulate_process: unknown process {process!r}, expected one of {list(YEARLY_RATES)}"
        )
    n_events = rng.poisson(YEARLY_RATES[process] * years)
    n_universes = universes.eff_slope.size
    sampled = rng.multivariate_normal(TRUE_MEANS[process], TRUE_COVARIANCES[process], size=n_events)
    if process == "noise":
        return {
            "true_x": np.full(n_events, np.nan),
            "true_y": np.full(n_events, np.nan),
            "reco_x": sampled[:, 0],
            "reco_y": sampled[:, 1],
            "reconstructed": np.ones(n_events, dtype=bool),
            "event_type": np.full(n_events, EVENT_TYPES["noise"]),
            "universe_weight": np.ones((n_events, n_universes)),
            "universe_reco_x": np.repeat(sampled[:, :1], n_universes, axis=1),
        }
    true_x, true_y = sampled[:, 0], sampled[:, 1]
    nominal_efficiency = MAX_EFFICIENCY * ndtr(true_y)
    reconstructed = rng.random(n_events) < nominal_efficiency
    smearing = SMEARING_SIGMAS[process] * rng.standard_normal(n_events)
    reco_x = np.where(reconstructed, true_x + smearing, np.nan)
    reco_y = np.where(reconstructed, true_y, np.nan)

    universe_efficiency = universes.max_eff * ndtr(
        universes.eff_slope * (true_y[:, None] - universes.eff_offset)
    )
    universe_weight = np.where(
        reconstructed[:, None],
        universe_efficiency / nominal_efficiency[:, None],
        (1.0 - universe_efficiency) / (1.0 - nominal_efficiency[:, None]),
    )
    universe_reco_x = np.where(
        reconstructed[:, None], true_x[:, None] + smearing[:, None] * universes.smear_scale, np.nan
    )
    event_type = EVENT_TYPES["background"] if process == "background" else EVENT_TYPES["signal"]
    return {
        "true_x": true_x,
        "true_y": true_y,
        "reco_x": reco_x,
        "reco_y": reco_y,
        "reconstructed": reconstructed,
        "event_type": np.full(n_events, event_type),
        "universe_weight": universe_weight,
        "universe_reco_x": universe_reco_x,
    }


def sample_flux(n_throws: int, rng: np.random.Generator) -> np.ndarray:
    """Exposure per flux bin of ``n_throws`` sampled fluxes, shape ``(n_throws, n_flux)``.

    Each throw fills 1000 energies ``E ~ N(8, 2)`` with weight 0.01 into :data:`FLUX_EDGES`
    (energies below 0 fall outside the binning).
    """
    energies = rng.normal(FLUX_MEAN, FLUX_SIGMA, size=(n_throws, FLUX_ENERGIES_PER_THROW))
    n_flux = FLUX_EDGES.size - 1
    flux_bin = np.searchsorted(FLUX_EDGES, energies, side="right") - 1
    inside = (flux_bin >= 0) & (flux_bin < n_flux)
    flat_index = (np.arange(n_throws)[:, None] * n_flux + flux_bin)[inside]
    counts = np.bincount(flat_index, minlength=n_throws * n_flux)
    return FLUX_WEIGHT * counts.reshape(n_throws, n_flux).astype(float)


def background_xsec(E_min, E_max, x_min, x_max, y_min, y_max) -> np.ndarray:
    """Background true events per unit exposure in flux bin ``[E_min, E_max)``, truth bin ``[x, y)``.

    30 events per unit exposure; true x is the neutrino energy shifted and scaled,
    ``E = (x - 0.5) * 2 / sqrt(0.5) + 8``; true y is ``N(0.5, sqrt(0.5))`` independent of x. All
    arguments broadcast against each other.
    """
    scale = 2.0 / np.sqrt(0.5)
    energy_fraction, _, _ = _energy_overlap(E_min, E_max, x_min, x_max, shift=0.5, scale=scale)
    y_sigma = np.sqrt(0.5)
    y_fraction = ndtr((np.asarray(y_max) - 0.5) / y_sigma) - ndtr((np.asarray(y_min) - 0.5) / y_sigma)
    return 30.0 * energy_fraction * y_fraction


def model_a_xsec(E_min, E_max, x_min, x_max, y_min, y_max) -> np.ndarray:
    """Model A true events per unit exposure: 100 events, ``E = (x - 0.1) * 2 + 8``, y ~ N(0.2, 1)."""
    energy_fraction, _, _ = _energy_overlap(E_min, E_max, x_min, x_max, shift=0.1, scale=2.0)
    y_fraction = ndtr(np.asarray(y_max) - 0.2) - ndtr(np.asarray(y_min) - 0.2)
    return 100.0 * energy_fraction * y_fraction


def model_b_xsec(E_min, E_max, x_min, x_max, y_min, y_max) -> np.ndarray:
    """Model B true events per unit exposure: 100 events, ``E = x * 2 + 8``, y correlated with x.

    As in ReMU's example, y is ``N(0.5 * x_m, 0.75)`` with ``x_m`` the x of the middle of the
    overlap of the flux bin and the truth bin in energy (one unit inside a half-open overlap,
    0 for an unbounded one).
    """
    energy_fraction, lower, upper = _energy_overlap(E_min, E_max, x_min, x_max, shift=0.0, scale=2.0)
    finite_lower, finite_upper = np.isfinite(lower), np.isfinite(upper)
    with np.errstate(invalid="ignore"):
        middle_energy = np.select(
            [finite_lower & finite_upper, finite_lower, finite_upper],
            [(upper + lower) / 2.0, lower + 1.0, upper - 1.0],
            default=0.0,
        )
    x_middle = (middle_energy - 8.0) / 2.0
    y_sigma = 1.0 - 0.5**2
    y_fraction = ndtr((np.asarray(y_max) - 0.5 * x_middle) / y_sigma) - ndtr(
        (np.asarray(y_min) - 0.5 * x_middle) / y_sigma
    )
    return 100.0 * energy_fraction * y_fraction


_XSEC_FUNCTIONS = {"background": background_xsec, "model_A": model_a_xsec, "model_B": model_b_xsec}


def cross_section_table(
    process: str, x_edges: np.ndarray, y_edges: np.ndarray, flux_edges: np.ndarray = FLUX_EDGES
) -> np.ndarray:
    """Cross section of ``process`` for every (x bin, y bin, flux bin), shape ``(n_x, n_y, n_flux)``.

    ``process`` is ``"background"``, ``"model_A"`` or ``"model_B"``. Reshape to
    ``(n_x * n_y, n_flux)`` for truth bins in row-major (x slow, y fast) order.
    """
    if process not in _XSEC_FUNCTIONS:
        raise EventsError(
            f"cross_section_table: unknown process {process!r}, "
            f"expected one of {list(_XSEC_FUNCTIONS)}"
        )
    edges = {"x_edges": np.asarray(x_edges, float), "y_edges": np.asarray(y_edges, float),
             "flux_edges": np.asarray(flux_edges, float)}
    for name, values in edges.items():
        if values.ndim != 1 or values.size < 2 or np.any(np.diff(values) <= 0):
            raise EventsError(f"cross_section_table: {name} must be increasing 1-D edges, got {values}")
    x, y, energy = edges["x_edges"], edges["y_edges"], edges["flux_edges"]
    return _XSEC_FUNCTIONS[process](
        energy[None, None, :-1], energy[None, None, 1:],
        x[:-1, None, None], x[1:, None, None],
        y[None, :-1, None], y[None, 1:, None],
    )


def _energy_overlap(E_min, E_max, x_min, x_max, *, shift: float, scale: float):
    """Probability that the flux bin's energy maps into ``[x_min, x_max)``, ``E = (x - shift) * scale + 8``.

    Within a finite flux bin the energy is uniform; in ``[E_min, inf)`` it is ``E_min`` plus a unit
    exponential, in ``(-inf, E_max)`` ``E_max`` minus one. Returns the probability and the
    overlap's lower and upper energy (the probability is 0 where they do not overlap).
    """
    E_min, E_max = np.asarray(E_min, float), np.asarray(E_max, float)
    lower = np.maximum(E_min, (np.asarray(x_min, float) - shift) * scale + 8.0)
    upper = np.minimum(E_max, (np.asarray(x_max, float) - shift) * scale + 8.0)
    probability = _energy_cdf(upper, E_min, E_max) - _energy_cdf(lower, E_min, E_max)
    return np.where(upper >= lower, probability, 0.0), lower, upper


def _energy_cdf(energy, E_min, E_max):
    """Cdf of the assumed energy distribution inside the flux bin ``[E_min, E_max)``."""
    finite_min, finite_max = np.isfinite(E_min), np.isfinite(E_max)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        uniform = np.clip((energy - E_min) / (E_max - E_min), 0.0, 1.0)
        above = -np.expm1(-np.clip(energy - E_min, 0.0, None))
        below = np.exp(np.clip(energy - E_max, None, 0.0))
    return np.where(finite_min & finite_max, uniform, np.where(finite_min, above, below))
