"""Binnings, histograms and their YAML: events in, counts per data bin out.

- axes over one variable: :class:`RegularAxis`, :class:`Log10Axis`, :class:`CosAxis`,
  :class:`VariableAxis`, :class:`CategoryAxis`;
- binnings sharing the :class:`Binning` interface (``size``, ``bin_index``, ``fill``,
  ``projection``, ``to_yaml``/``from_yaml``): :class:`RectilinearBinning` (product of axes),
  :class:`HierarchicalBinning` (sub-binnings), :class:`ProductBinning` (product of binnings);
- :class:`Histogram`: ``sumw``, ``sumw2``, ``entries``, ``n_outside``, projections, ``to_hist``, plots.

This layer uses numpy (and boost-histogram/hist only for export); it never imports PyTensor or PyMC.
"""

from __future__ import annotations

from bayesfit.binning.axes import (
    Axis,
    CategoryAxis,
    CosAxis,
    Log10Axis,
    RegularAxis,
    VariableAxis,
    axis_from_dict,
)
from bayesfit.binning.base import BinMapping, Binning
from bayesfit.binning.hierarchical import HierarchicalBinning
from bayesfit.binning.histogram import Histogram
from bayesfit.binning.presets import hese_binning
from bayesfit.binning.product import ProductBinning
from bayesfit.binning.rectilinear import RectilinearBinning

__all__ = [
    "Axis",
    "BinMapping",
    "Binning",
    "CategoryAxis",
    "CosAxis",
    "HierarchicalBinning",
    "Histogram",
    "Log10Axis",
    "ProductBinning",
    "RectilinearBinning",
    "RegularAxis",
    "VariableAxis",
    "axis_from_dict",
    "hese_binning",
]

