"""Provenance of a run: versions, the resolved analysis file, hashes of the inputs, seeds.

Stored in ``summary.json`` (``provenance``) and in the attributes of ``posterior.nc``, so that a
result can be traced back to exactly what produced it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bayesfit.analysis.spec import AnalysisSpec
from bayesfit.environment import package_versions

__all__ = ["file_sha256", "input_files", "provenance"]

_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """The SHA-256 hex digest of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def input_files(spec: AnalysisSpec) -> list[Path]:
    """The files an analysis reads (of every channel): the analysis file itself, binning, events,
    array files (observed counts, templates, response, flux throws: ``.npz``, CSV, UHI JSON, ROOT),
    workspace, patches."""
    files = []
    if spec.document is not None and Path(spec.document.origin).is_file():
        files.append(Path(spec.document.origin))
    if spec.binning and "path" in spec.binning:
        files.append(Path(spec.binning["path"]))
    files += [source.path for source in (spec.data, spec.simulation) if source is not None and source.path is not None]
    arrays = [spec.observed, *(entry.get("template") for entry in spec.components.values())]
    arrays += [(spec.response or {}).get(key) for key in ("path", "matrices", "weights")]
    arrays.append((spec.flux or {}).get("throws"))
    files += [Path(entry["path"]) if isinstance(entry, dict) else Path(entry) for entry in arrays
              if isinstance(entry, (dict, Path))]
    if spec.workspace is not None:
        files.append(Path(spec.workspace["path"]))
        from bayesfit.histfactory.workspace import patch_file

        files += [patch_file(patch)[0] for patch in spec.workspace.get("patches", [])]
    for channel in (spec.channels or {}).values():  # a file with channels: each channel's files
        files += input_files(channel)
    unique: dict[Path, None] = {}
    for file in files:
        unique.setdefault(file, None)
    return [file for file in unique if file.is_file()]


def provenance(spec: AnalysisSpec, overrides: Sequence[str] = (), seed: int | None = None) -> dict[str, Any]:
    """What produced a run: versions, the analysis as resolved (after ``--set``), the command-line
    overrides, the seed and the SHA-256 of every input file."""
    return {
        "versions": package_versions(),
        "analysis_file": None if spec.document is None else spec.document.origin,
        "overrides": list(overrides),
        "resolved_analysis": None if spec.document is None else spec.document.data,
        "seed": seed,
        "inputs": {str(path): file_sha256(path) for path in input_files(spec)},
    }
