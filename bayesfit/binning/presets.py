"""Ready-made binnings of the reference analyses."""

from __future__ import annotations

from bayesfit.binning.axes import CategoryAxis, CosAxis, Log10Axis
from bayesfit.binning.rectilinear import RectilinearBinning

__all__ = ["hese_binning"]


def hese_binning() -> RectilinearBinning:
    """The HESE diffuse-fit binning of the seed: topology x zenith x energy (energy fastest).

    Topology categories 0 (cascade) / 1 (track); 10 zenith bins uniform in cos over [0, pi]
    (radians); 20 energy bins uniform in log10 from 60 TeV to 10 PeV (GeV). 400 bins.
    """
    return RectilinearBinning(
        [
            CategoryAxis("topology", (0, 1)),
            CosAxis("zenith", 10),
            Log10Axis("energy", 60.0e3, 1.0e7, 20),
        ]
    )
