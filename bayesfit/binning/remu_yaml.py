"""Read ReMU's tagged binning YAML into bayesfit binnings.

Supported tags: ``!LinearBinning`` (one variable, ``bin_edges``), ``!RectilinearBinning``
(``variables``, a list of ``bin_edges``; flat order row-major over the variables as listed),
``!CartesianProductBinning`` (``binnings``) and ``!PhaseSpace`` (a list of variable names, only
checked to contain the binning's variables). Any of them may carry ``subbinnings`` (bin index ->
binning), which makes a :class:`~bayesfit.binning.hierarchical.HierarchicalBinning`.
ReMU's ``include_upper: true`` means every bin is ``(low, high]``; ``dummy`` and stored contents
(``value_array``, ...) are ignored. Any other tag is a :class:`BinningError` naming it and its line.
"""

from __future__ import annotations

from typing import Any

import yaml

from bayesfit.binning.axes import VariableAxis
from bayesfit.binning.base import Binning
from bayesfit.binning.hierarchical import HierarchicalBinning, bin_number
from bayesfit.binning.product import ProductBinning
from bayesfit.binning.rectilinear import RectilinearBinning
from bayesfit.errors import BinningError
from bayesfit.yaml_loader import SafeLoader

__all__ = ["RemuLoader"]

_IGNORED_KEYS = {"dummy", "value_array", "entries_array", "sumw2_array"}
_BINNING_KEYS = {"include_upper", "phasespace", "subbinnings"}


class _PhaseSpace(frozenset):
    """ReMU's ``!PhaseSpace``: the set of variables a binning lives on."""


class RemuLoader(SafeLoader):
    """bayesfit's safe YAML loader (YAML 1.2 floats) that also understands ReMU's binning tags."""


def _where(node: yaml.Node) -> str:
    return f"line {node.start_mark.line + 1}"


def _mapping(
    loader: RemuLoader, node: yaml.Node, tag: str, required: set[str], optional: set[str]
) -> dict[str, Any]:
    if not isinstance(node, yaml.MappingNode):
        raise BinningError(f"{tag} at {_where(node)} must be a mapping")
    spec = loader.construct_mapping(node, deep=True)
    missing = sorted(required - set(spec))
    unknown = sorted(set(spec) - required - optional - _IGNORED_KEYS)
    if missing or unknown:
        raise BinningError(f"{tag} at {_where(node)}: missing keys {missing}, unknown keys {unknown}")
    return spec


def _finish(binning: Binning, spec: dict, tag: str, node: yaml.Node) -> Binning:
    """Check the phase space and attach sub-binnings."""
    phasespace = spec.get("phasespace")
    if phasespace is not None and not set(binning.variables) <= set(phasespace):
        raise BinningError(
            f"{tag} at {_where(node)}: variables {list(binning.variables)} are not all in its "
            f"phase space {sorted(phasespace)}"
        )
    subbinnings = spec.get("subbinnings") or {}
    if not subbinnings:
        return binning
    if not isinstance(subbinnings, dict):
        raise BinningError(f"{tag} at {_where(node)}: 'subbinnings' must map bin numbers to binnings")
    return HierarchicalBinning(binning, {bin_number(key): value for key, value in subbinnings.items()})


def _linear(loader: RemuLoader, node: yaml.Node) -> Binning:
    tag = "!LinearBinning"
    spec = _mapping(loader, node, tag, {"variable", "bin_edges"}, _BINNING_KEYS)
    right_closed = bool(spec.get("include_upper"))
    axis = VariableAxis(spec["variable"], spec["bin_edges"], right_closed=right_closed)
    return _finish(RectilinearBinning([axis]), spec, tag, node)


def _rectilinear(loader: RemuLoader, node: yaml.Node) -> Binning:
    tag = "!RectilinearBinning"
    spec = _mapping(loader, node, tag, {"variables", "bin_edges"}, _BINNING_KEYS)
    variables, edges = spec["variables"], spec["bin_edges"]
    if not (isinstance(variables, list) and isinstance(edges, list)):
        raise BinningError(f"{tag} at {_where(node)}: 'variables' and 'bin_edges' must be lists")
    if len(variables) != len(edges):
        raise BinningError(
            f"{tag} at {_where(node)}: {len(variables)} variables but {len(edges)} lists of bin_edges"
        )
    right_closed = bool(spec.get("include_upper"))
    axes = [
        VariableAxis(name, edge_list, right_closed=right_closed)
        for name, edge_list in zip(variables, edges)
    ]
    return _finish(RectilinearBinning(axes), spec, tag, node)


def _cartesian(loader: RemuLoader, node: yaml.Node) -> Binning:
    tag = "!CartesianProductBinning"
    spec = _mapping(loader, node, tag, {"binnings"}, {"phasespace", "subbinnings"})
    if not isinstance(spec["binnings"], list):
        raise BinningError(f"{tag} at {_where(node)}: 'binnings' must be a list of binnings")
    return _finish(ProductBinning(spec["binnings"]), spec, tag, node)


def _phasespace(loader: RemuLoader, node: yaml.Node) -> _PhaseSpace:
    if not isinstance(node, yaml.SequenceNode):
        raise BinningError(f"!PhaseSpace at {_where(node)} must be a list of variable names")
    return _PhaseSpace(loader.construct_sequence(node))


def _unknown(loader: RemuLoader, tag_suffix: str, node: yaml.Node) -> Any:
    raise BinningError(
        f"unknown YAML tag '!{tag_suffix}' at {_where(node)}; bayesfit reads !LinearBinning, "
        "!RectilinearBinning, !CartesianProductBinning and !PhaseSpace"
    )


RemuLoader.add_constructor("!LinearBinning", _linear)
RemuLoader.add_constructor("!RectilinearBinning", _rectilinear)
RemuLoader.add_constructor("!CartesianProductBinning", _cartesian)
RemuLoader.add_constructor("!PhaseSpace", _phasespace)
RemuLoader.add_multi_constructor("!", _unknown)
