"""A background-only pyhf workspace and a patchset of 75 signal hypotheses over two masses.

``models/inputs/patchset/background.json``: three channels, as a search for a heavy particle of
mass ``m_heavy`` decaying to a light invisible one of mass ``m_light``:

- ``SR_low`` and ``SR_high`` (4 bins each of an effective-mass-like variable): ``ttbar``
  (a free ``normfactor`` ``mu_ttbar``, ``lumi``, a ``normsys`` and a ``histosys`` of the jet
  energy scale, ``staterror``) and ``wjets`` (a ``normsys``, a ``shapesys`` of its data-driven
  shape, ``staterror``);
- ``CR`` (3 bins): ``ttbar`` (the same ``mu_ttbar``, ``lumi``, jet energy scale) and ``other``
  (a ``shapefactor`` per bin, constrained only by the control-region data).

Observed counts are the background expectation, Poisson-fluctuated with a fixed seed. The
measurement has the POI ``mu_SIG`` (bounds [0, 100]), which no background sample carries.

``models/inputs/patchset/patchset.json``: a pyhf patchset (schema 1.0.0; its ``sha256`` digest is
that of ``background.json``) with labels ``["m_heavy", "m_light"]`` over the triangle
``m_heavy`` = 300, 400, ..., 1200 GeV and ``m_light`` = 0, 100, ..., ``m_heavy - 200`` GeV
(65 points) plus the compressed diagonal ``m_light = m_heavy - 100`` (10 points): 75 patches.
Each adds a ``signal`` sample (``mu_SIG`` normfactor, ``lumi``, a theory ``normsys``, the jet
energy scale ``histosys``, ``staterror``) to the two signal regions. The signal yield is a cross
section falling exponentially with ``m_heavy`` times an acceptance rising with the mass
splitting; its shape over the four bins is a Gaussian whose mean moves up with ``m_heavy``,
and the split between ``SR_low`` and ``SR_high`` follows the splitting.

    python examples/patchset_inputs.py      # writes both files under models/inputs/patchset/
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from scipy.special import ndtr

FOLDER = Path(__file__).resolve().parents[1] / "models" / "inputs" / "patchset"
SEED = 20261201

#: Bin edges of the signal-region variable (TeV) and the signal-region background expectation.
EDGES = np.array([0.4, 0.7, 1.0, 1.4, 2.0])
TTBAR = {"SR_low": [60.0, 30.0, 12.0, 4.0], "SR_high": [25.0, 14.0, 6.0, 2.0], "CR": [400.0, 300.0, 180.0]}
WJETS = {"SR_low": [40.0, 18.0, 7.0, 2.5], "SR_high": [15.0, 8.0, 3.5, 1.2]}
OTHER = [150.0, 90.0, 40.0]
HEAVY = np.arange(300, 1201, 100)


def _round(values: np.ndarray | list[float]) -> list[float]:
    return [round(float(v), 4) for v in values]


def _jes(nominal: list[float], up: float, down: float) -> dict[str, list[float]]:
    """A jet-energy-scale shape variation: tilted towards high bins when up."""
    tilt = np.linspace(-1.0, 1.0, len(nominal))
    nominal_array = np.asarray(nominal)
    return {"hi_data": _round(nominal_array * (1.0 + up * tilt)), "lo_data": _round(nominal_array * (1.0 - down * tilt))}


def background_workspace(seed: int = SEED) -> dict:
    """The background-only workspace (a JSON document, observations fluctuated with ``seed``)."""
    rng = np.random.default_rng(seed)
    channels, observations = [], []
    for name in ("CR", "SR_high", "SR_low"):
        ttbar = TTBAR[name]
        samples = [{"name": "ttbar", "data": _round(ttbar), "modifiers": [
            {"name": "mu_ttbar", "type": "normfactor", "data": None},
            {"name": "lumi", "type": "lumi", "data": None},
            {"name": "ttbar_xsec", "type": "normsys", "data": {"hi": 1.06, "lo": 0.95}},
            {"name": "jes", "type": "histosys", "data": _jes(ttbar, 0.06, 0.05)},
            {"name": f"staterror_{name}", "type": "staterror", "data": _round(0.05 * np.asarray(ttbar))},
        ]}]
        if name == "CR":
            samples.append({"name": "other", "data": _round(OTHER), "modifiers": [
                {"name": "other_shape", "type": "shapefactor", "data": None},
            ]})
        else:
            wjets = np.asarray(WJETS[name])
            samples.append({"name": "wjets", "data": _round(wjets), "modifiers": [
                {"name": "wjets_norm", "type": "normsys", "data": {"hi": 1.15, "lo": 0.87}},
                {"name": f"wjets_shape_{name}", "type": "shapesys", "data": _round(0.1 * wjets + 0.2)},
                {"name": f"staterror_{name}", "type": "staterror", "data": _round(0.08 * wjets)},
            ]})
        expected = np.sum([sample["data"] for sample in samples], axis=0)
        channels.append({"name": name, "samples": samples})
        observations.append({"name": name, "data": [float(n) for n in rng.poisson(expected)]})
    measurement = {"name": "search", "config": {"poi": "mu_SIG", "parameters": [
        {"name": "mu_SIG", "bounds": [[0.0, 100.0]], "inits": [1.0]},
        {"name": "lumi", "auxdata": [1.0], "sigmas": [0.017], "bounds": [[0.9, 1.1]], "inits": [1.0]},
        {"name": "mu_ttbar", "bounds": [[0.0, 5.0]], "inits": [1.0]},
    ]}}
    return {"version": "1.0.0", "channels": channels, "observations": observations, "measurements": [measurement]}


def grid() -> list[tuple[int, int]]:
    """The ``(m_heavy, m_light)`` points in GeV: the triangle below ``m_heavy - 200`` and the diagonal."""
    points = [(int(heavy), int(light)) for heavy in HEAVY for light in range(0, int(heavy) - 199, 100)]
    return points + [(int(heavy), int(heavy) - 100) for heavy in HEAVY]


def signal_yields(heavy: float, light: float) -> dict[str, np.ndarray]:
    """Expected signal events per bin of ``SR_low`` and ``SR_high`` at one mass point."""
    splitting = heavy - light
    total = 400.0 * np.exp(-(heavy - 300.0) / 180.0) * (1.0 - np.exp(-splitting / 250.0))
    mean, width = 0.25 + 0.9 * heavy / 1000.0, 0.15 + 0.2 * heavy / 1000.0  # TeV
    shape = np.diff(ndtr((EDGES - mean) / width))
    shape = (shape + 1e-3) / (shape + 1e-3).sum()
    high_fraction = splitting / (splitting + 400.0)
    return {"SR_high": total * high_fraction * shape, "SR_low": total * (1.0 - high_fraction) * shape}


def signal_patch(background: dict, heavy: int, light: int) -> dict:
    """The patchset entry of one mass point: a ``signal`` sample added to both signal regions."""
    index = {channel["name"]: i for i, channel in enumerate(background["channels"])}
    operations = []
    for name, counts in signal_yields(heavy, light).items():
        nominal = _round(np.maximum(counts, 1e-4))
        operations.append({"op": "add", "path": f"/channels/{index[name]}/samples/-", "value": {
            "name": "signal", "data": nominal, "modifiers": [
                {"name": "mu_SIG", "type": "normfactor", "data": None},
                {"name": "lumi", "type": "lumi", "data": None},
                {"name": "signal_theory", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
                {"name": "jes", "type": "histosys", "data": _jes(nominal, 0.04, 0.04)},
                {"name": f"staterror_{name}", "type": "staterror", "data": _round(0.1 * np.asarray(nominal))},
            ]}})
    return {"metadata": {"name": f"signal_{heavy}_{light}", "values": [heavy, light]}, "patch": operations}


def digest(document: dict) -> str:
    """pyhf's digest of a JSON document: sha256 of its JSON with sorted keys."""
    return hashlib.sha256(json.dumps(document, sort_keys=True, ensure_ascii=False).encode("utf8")).hexdigest()


def patchset(background: dict) -> dict:
    """The patchset of every point of :func:`grid` for ``background``."""
    return {
        "version": "1.0.0",
        "metadata": {
            "name": "heavy_to_light_grid",
            "description": "signal hypotheses over (m_heavy, m_light) for the bayesfit example search",
            "digests": {"sha256": digest(background)},
            "labels": ["m_heavy", "m_light"],
            "references": {"hepdata": "ins0000000"},
        },
        "patches": [signal_patch(background, heavy, light) for heavy, light in grid()],
    }


def write_inputs(folder: Path = FOLDER) -> list[Path]:
    """Write ``background.json`` and ``patchset.json`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    background = background_workspace()
    paths = [folder / "background.json", folder / "patchset.json"]
    paths[0].write_text(json.dumps(background, indent=1) + "\n")
    paths[1].write_text(json.dumps(patchset(background), indent=1) + "\n")
    return paths


if __name__ == "__main__":
    for path in write_inputs():
        print(f"wrote {path}")
