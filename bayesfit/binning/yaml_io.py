"""bayesfit's own binning YAML: plain mappings, readable and exact (floats written by ``repr``).

Layout::

    kind: rectilinear
    axes:
    - {variable: topology, categories: [0, 1]}
    - {variable: zenith, cos: {bins: 10, cos_min: -1.0, cos_max: 1.0}}
    - {variable: energy, log10: {start: 60000.0, stop: 10000000.0, bins: 20}}

    kind: hierarchical          kind: product
    top: {kind: ..., ...}       binnings: [{kind: ...}, ...]
    subbinnings: {1: {...}}

A histogram file holds ``binning:`` (as above) and ``contents:`` (``sumw``, ``sumw2``, ``entries``,
``n_outside``). :func:`load_binning` also reads ReMU's tagged YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from bayesfit.binning.axes import axis_from_dict
from bayesfit.binning.base import Binning
from bayesfit.binning.hierarchical import HierarchicalBinning, bin_number
from bayesfit.binning.product import ProductBinning
from bayesfit.binning.rectilinear import RectilinearBinning
from bayesfit.binning.remu_yaml import RemuLoader
from bayesfit.errors import BinningError, describe_undecodable
from bayesfit.output import atomic_write

__all__ = ["binning_from_dict", "dump_yaml", "load_binning", "load_yaml"]


def binning_from_dict(spec: Mapping[str, Any]) -> Binning:
    """Build any binning from its ``to_dict`` description (dispatch on ``kind``).

    Unknown keys, a ``subbinnings`` key that is not a bin number and lists that are not lists are
    :class:`BinningError` s naming them.
    """
    if not isinstance(spec, Mapping):
        raise BinningError(f"a binning description must be a mapping, got {type(spec).__name__}")
    kind = spec.get("kind")
    if kind not in _KEYS:
        raise BinningError(f"unknown binning kind {kind!r}; expected rectilinear, hierarchical or product")
    unknown = sorted(map(str, set(spec) - _KEYS[kind]))
    if unknown:
        raise BinningError(f"unknown key(s) {unknown} in a {kind} binning; it takes {sorted(_KEYS[kind])}")
    if kind == "rectilinear":
        axes = spec.get("axes")
        if not isinstance(axes, list):
            raise BinningError(f"a rectilinear binning needs a list under 'axes', got {axes!r}")
        return RectilinearBinning([axis_from_dict(axis) for axis in axes])
    if kind == "hierarchical":
        subbinnings = spec.get("subbinnings") or {}
        if not isinstance(subbinnings, Mapping):
            raise BinningError(f"'subbinnings' must map top-bin numbers to binnings, got {subbinnings!r}")
        return HierarchicalBinning(
            binning_from_dict(spec.get("top")),
            {bin_number(key): binning_from_dict(value) for key, value in subbinnings.items()},
        )
    binnings = spec.get("binnings")
    if not isinstance(binnings, list):
        raise BinningError(f"a product binning needs a list under 'binnings', got {binnings!r}")
    return ProductBinning([binning_from_dict(binning) for binning in binnings])


#: The keys each kind of binning description takes.
_KEYS = {
    "rectilinear": {"kind", "axes"},
    "hierarchical": {"kind", "top", "subbinnings"},
    "product": {"kind", "binnings"},
}


def dump_yaml(data: dict[str, Any], path: str | Path | None = None, *, overwrite: bool = False) -> str:
    """YAML text of ``data`` (keys in order); also written atomically to ``path`` if given.

    An existing file is replaced only with ``overwrite=True``.
    """
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
    if path is not None:
        atomic_write(path, lambda temporary: temporary.write_text(text), overwrite=overwrite)
    return text


def load_yaml(source: str | Path) -> Any:
    """Parse a YAML file path or YAML text with the ReMU-aware safe loader."""
    text = _read(source)
    try:
        return yaml.load(text, Loader=RemuLoader)  # noqa: S506 - RemuLoader is a SafeLoader
    except yaml.YAMLError as error:
        origin = "" if text is source else f" in {str(source)!r}"
        raise BinningError(f"cannot parse binning YAML{origin}: {error}") from error


def load_binning(source: str | Path) -> Binning:
    """A binning from bayesfit YAML, a bayesfit histogram file, or ReMU's tagged YAML."""
    content = load_yaml(source)
    if isinstance(content, Binning):
        return content
    if isinstance(content, Mapping) and "binning" in content:
        return binning_from_dict(content["binning"])
    return binning_from_dict(content)


def _read(source: str | Path) -> str:
    if isinstance(source, Path) or ("\n" not in source and Path(source).suffix in {".yml", ".yaml"}):
        path = Path(source)
        if not path.is_file():
            raise BinningError(f"binning file {str(path)!r} does not exist")
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise BinningError(f"binning file {str(path)!r} is not a UTF-8 text file ({describe_undecodable(error)})") from None
    return source
