"""The figures of ``docs/figures.md``: one of each figure ``bayesfit run`` writes, from three runs.

- ``models/hese_diffuse.yaml`` (reweighted simulation): counts per deposited energy and per
  cos(zenith) for each topology with the ratio panel, correlation matrix, CLs scan with the Brazil
  band, corner plot, posterior against prior, profile likelihood;
- ``models/unfolding.yaml`` (a response matrix): counts per reconstructed x;
- a small two-channel HistFactory workspace written here (signal region with a signal sample, a
  control region; normfactor, normsys, lumi and staterror modifiers): pre-/post-fit per channel,
  pulls and constraints, the ranking of the nuisance parameters.

Each run goes through :func:`bayesfit.analysis.run.run_analysis` with a short posterior (2 chains of
500 draws), and the chosen PNG files are scaled to about 90 dpi into ``docs/images/``::

    python examples/figure_gallery.py            # rewrites docs/images/*.png of docs/figures.md
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from PIL import Image

from bayesfit.analysis import read_analysis
from bayesfit.analysis.run import RunOptions, run_analysis

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
#: ``bayesfit run`` saves PNG files at 110 dpi; the gallery shows them at 90.
SCALE = 90 / 110
SAMPLING = {"draws": 500, "tune": 500, "chains": 2, "seed": 7, "progress": False, "force": True}

#: A counting experiment in two channels: a signal region of 4 mass bins and a 3-bin control region.
WORKSPACE = {
    "channels": [
        {"name": "SR", "samples": [
            {"name": "signal", "data": [2.0, 9.0, 6.0, 1.5],
             "modifiers": [{"name": "mu", "type": "normfactor", "data": None},
                           {"name": "lumi", "type": "lumi", "data": None}]},
            {"name": "ttbar", "data": [30.0, 24.0, 16.0, 10.0],
             "modifiers": [{"name": "ttbar_xsec", "type": "normsys", "data": {"hi": 1.08, "lo": 0.93}},
                           {"name": "jes", "type": "normsys", "data": {"hi": 1.05, "lo": 0.96}},
                           {"name": "lumi", "type": "lumi", "data": None},
                           {"name": "stat_SR", "type": "staterror", "data": [2.0, 1.8, 1.5, 1.2]}]},
            {"name": "W+jets", "data": [12.0, 8.0, 5.0, 3.0],
             "modifiers": [{"name": "wjets_norm", "type": "normsys", "data": {"hi": 1.2, "lo": 0.8}},
                           {"name": "lumi", "type": "lumi", "data": None}]},
        ]},
        {"name": "CR_ttbar", "samples": [
            {"name": "ttbar", "data": [80.0, 60.0, 35.0],
             "modifiers": [{"name": "ttbar_xsec", "type": "normsys", "data": {"hi": 1.08, "lo": 0.93}},
                           {"name": "jes", "type": "normsys", "data": {"hi": 1.03, "lo": 0.98}},
                           {"name": "lumi", "type": "lumi", "data": None}]},
            {"name": "W+jets", "data": [10.0, 6.0, 3.0],
             "modifiers": [{"name": "wjets_norm", "type": "normsys", "data": {"hi": 1.2, "lo": 0.8}},
                           {"name": "lumi", "type": "lumi", "data": None}]},
        ]},
    ],
    "observations": [{"name": "SR", "data": [47.0, 43.0, 30.0, 12.0]},
                     {"name": "CR_ttbar", "data": [93.0, 61.0, 41.0]}],
    "measurements": [{"name": "signal_strength", "config": {"poi": "mu", "parameters": [
        {"name": "lumi", "auxdata": [1.0], "sigmas": [0.02], "bounds": [[0.9, 1.1]], "inits": [1.0]},
        {"name": "mu", "bounds": [[0.0, 10.0]], "inits": [1.0]}]}}],
    "version": "1.0.0",
}

#: ``{run: {written file: gallery file}}``.
GALLERY = {
    "hese": {
        "counts_energy.png": "hese_counts_energy.png",
        "counts_zenith.png": "hese_counts_zenith.png",
        "correlation.png": "hese_correlation.png",
        "cls_scan.png": "hese_cls_scan.png",
        "corner.png": "hese_corner.png",
        "posterior_prior.png": "hese_posterior_prior.png",
        "profile_astro_gamma.png": "hese_profile_astro_gamma.png",
    },
    "unfolding": {"counts_reco_x.png": "unfolding_counts_reco_x.png"},
    "workspace": {
        "channel_SR.png": "workspace_channel_SR.png",
        "pulls.png": "workspace_pulls.png",
        "ranking.png": "workspace_ranking.png",
    },
}


def _specs(folder: Path) -> dict[str, object]:
    workspace = folder / "two_channels.json"
    workspace.write_text(json.dumps(WORKSPACE))
    return {
        "hese": read_analysis(ROOT / "models" / "hese_diffuse.yaml"),
        "unfolding": read_analysis(ROOT / "models" / "unfolding.yaml"),
        "workspace": read_analysis(workspace, ("inference.ranking=true",)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=IMAGES, help="folder of the gallery's PNG files")
    arguments = parser.parse_args()
    arguments.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as temporary:
        for run, spec in _specs(Path(temporary)).items():
            result = run_analysis(spec, RunOptions(out=Path(temporary) / run, **SAMPLING))
            for written, shown in GALLERY[run].items():
                with Image.open(result.folder / written) as image:
                    size = (round(image.width * SCALE), round(image.height * SCALE))
                    image.convert("RGB").resize(size, Image.LANCZOS).save(arguments.out / shown, optimize=True)
    total = sum(path.stat().st_size for path in arguments.out.glob("*.png"))
    print(f"{sum(len(files) for files in GALLERY.values())} figures in {arguments.out}/ ({total / 1e6:.2f} MB in all)")


if __name__ == "__main__":
    main()
