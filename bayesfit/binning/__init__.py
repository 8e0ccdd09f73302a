"""Binnings, histograms and their YAML: events in, counts per data bin out.

- axes over one variable: :class:`RegularAxis`, :class:`Log10Axis`, :class:`CosAxis`,
  :class:`VariableAxis`, :class:`CategoryAxis`, also made in hist's argument order by
  :func:`Regular` (``transform="log"|"cos"``), :func:`Variable` and :func:`IntCategory`;
- binnings sharing the :class:`Binning` interface (``size``, ``bin_index``, ``fill``,
  ``projection``, ``to_yaml``/``from_yaml``): :class:`RectilinearBinning` (product of axes),
  :class:`HierarchicalBinning` (sub-binnings), :class:`ProductBinning` (product of binnings);
- :class:`Histogram`: ``sumw``, ``sumw2``, ``entries``, ``n_outside``, projections, plots, and
  ``to_hist``/``from_hist`` to and from :class:`hist.Hist`;
- :func:`as_counts`: arrays, bayesfit, hist or ROOT (uproot) histograms as per-bin arrays.

This layer uses numpy (and boost-histogram/hist only for conversions); it never imports PyTensor or
PyMC.
"""

from __future__ import annotations

from bayesfit.binning.axes import (
    Axis,
    CategoryAxis,
    CosAxis,
    IntCategory,
    Log10Axis,
    Regular,
    RegularAxis,
    Variable,
    VariableAxis,
    axis_from_dict,
    axis_from_hist,
)
from bayesfit.binning.base import BinMapping, Binning
from bayesfit.binning.hierarchical import HierarchicalBinning
from bayesfit.binning.histogram import Histogram, as_counts
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
    "IntCategory",
    "Log10Axis",
    "ProductBinning",
    "RectilinearBinning",
    "Regular",
    "RegularAxis",
    "Variable",
    "VariableAxis",
    "as_counts",
    "axis_from_dict",
    "axis_from_hist",
    "hese_binning",
]

