"""pyhf patchsets: many signal hypotheses as JSON patches of one background-only workspace.

A patchset (pyhf schema 1.0.0, as published on HEPData) is a JSON object

.. code-block:: json

    {"version": "1.0.0",
     "metadata": {"name": "...", "description": "...", "references": {"hepdata": "ins1234567"},
                  "digests": {"sha256": "<digest of the background workspace>"},
                  "labels": ["m_heavy", "m_light"]},
     "patches": [{"metadata": {"name": "signal_300_0", "values": [300, 0]},
                  "patch": [{"op": "add", "path": "/channels/0/samples/-", "value": {...}}]}, ...]}

:func:`read_patchset` checks it and reports every problem as a
:class:`~bayesfit.errors.WorkspaceError` that starts with the JSON path of the offending entry
(``patchset.patches[3].metadata.values: ...``). A digest given in the metadata is checked
against the background workspace (pyhf's :func:`digest`: the hash of the workspace's JSON with
sorted keys). :class:`PatchsetHypotheses` turns a background workspace and its patchset into one
:class:`~bayesfit.model.BinnedModel` per patch, the labelled hypotheses of
:func:`bayesfit.inference.limit_scan`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bayesfit.errors import WorkspaceError
from bayesfit.histfactory.build import build_model
from bayesfit.histfactory.workspace import SCHEMA_VERSION, Workspace, load_workspace
from bayesfit.json_loader import load_json
from bayesfit.model import BinnedModel

__all__ = ["DIGEST_ALGORITHMS", "Patch", "PatchSet", "PatchsetHypotheses", "digest", "read_patchset", "validate_patchset"]

#: Digest algorithms of the patchset schema, and the length of their hexadecimal digests.
DIGEST_ALGORITHMS = {"md5": 32, "sha256": 64}
#: Names of patches and labels: the schema's pattern.
_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def digest(document: Any, algorithm: str = "sha256") -> str:
    """pyhf's digest of a JSON document: the hexadecimal ``algorithm`` hash of its UTF-8 JSON text
    with sorted keys (``json.dumps(document, sort_keys=True, ensure_ascii=False)``)."""
    if algorithm not in DIGEST_ALGORITHMS:
        raise WorkspaceError(f"unknown digest algorithm {algorithm!r}; known: {list(DIGEST_ALGORITHMS)}")
    text = json.dumps(document, sort_keys=True, ensure_ascii=False).encode("utf8")
    return hashlib.new(algorithm, text).hexdigest()


def _fail(path: str, message: str) -> WorkspaceError:
    return WorkspaceError(f"{path}: {message}")


def _entry(mapping: Any, key: str, path: str, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(mapping, Mapping):
        raise _fail(path, f"expected an object, got {type(mapping).__name__}")
    if key not in mapping:
        raise _fail(f"{path}.{key}", f"is missing ({what})")
    value = mapping[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise _fail(f"{path}.{key}", f"expected {names}, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Patch:
    """One hypothesis of a patchset: its ``name``, its ``values`` (one per label of the patchset)
    and the JSON patch ``operations`` (RFC 6902) that add it to the background workspace."""

    name: str
    values: tuple[float | str, ...]
    operations: list[dict[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PatchSet:
    """A validated pyhf patchset (see the module docstring).

    Attributes
    ----------
    labels:
        The names of the values of every patch, e.g. ``("m_heavy", "m_light")``.
    patches:
        The patches, in the file's order; names and values are unique.
    digests:
        Digests of the background workspace by algorithm (may be empty).
    """

    labels: tuple[str, ...]
    patches: tuple[Patch, ...]
    digests: dict[str, str] = field(default_factory=dict)
    description: str = ""
    references: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [patch.name for patch in self.patches]

    @property
    def values(self) -> list[tuple[float | str, ...]]:
        return [patch.values for patch in self.patches]

    def __len__(self) -> int:
        return len(self.patches)

    def patch(self, name: str) -> Patch:
        """The patch called ``name``."""
        for patch in self.patches:
            if patch.name == name:
                return patch
        raise _fail("patchset.patches", f"no patch named {name!r}; {len(self.patches)} patches, e.g. {self.names[:5]}")

    def verify(self, background: Workspace | Mapping[str, Any]) -> None:
        """Check every digest of the metadata against the background workspace."""
        spec = background.spec if isinstance(background, Workspace) else background
        for algorithm, expected in self.digests.items():
            found = digest(spec, algorithm)
            if found != expected.lower():
                raise _fail(
                    f"patchset.metadata.digests.{algorithm}",
                    f"the background workspace's {algorithm} digest is {found}, the patchset expects {expected}: "
                    "this patchset was made for another workspace",
                )

    def apply(self, background: Workspace, name: str) -> Workspace:
        """The background workspace with the patch ``name`` applied (validated)."""
        return background.patched(self.patch(name).operations)


def _patch(entry: Any, index: int, n_labels: int) -> Patch:
    path = f"patchset.patches[{index}]"
    metadata = _entry(entry, "metadata", path, dict, "each patch has metadata {name, values}")
    name = _entry(metadata, "name", f"{path}.metadata", str, "the patch's name")
    if not _NAME.match(name):
        raise _fail(f"{path}.metadata.name", f"{name!r}: a patch name has only letters, digits and _")
    values = _entry(metadata, "values", f"{path}.metadata", list, "one value per label of the patchset")
    if len(values) != n_labels:
        raise _fail(f"{path}.metadata.values", f"patch {name!r} has {len(values)} values, the patchset has "
                                               f"{n_labels} labels")
    for v, value in enumerate(values):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (number and math.isfinite(value) or isinstance(value, str)):
            raise _fail(f"{path}.metadata.values[{v}]", f"expected a finite number or a string, got {value!r}")
    operations = _entry(entry, "patch", path, list, "the JSON patch of the hypothesis")
    for o, operation in enumerate(operations):
        where = f"{path}.patch[{o}]"
        for key in ("op", "path"):
            _entry(operation, key, where, str, "a JSON patch operation has op and path")
    unknown = sorted(set(entry) - {"metadata", "patch"})
    if unknown:
        raise _fail(f"{path}.{unknown[0]}", "unknown key; a patch has metadata and patch")
    return Patch(name, tuple(values), operations, dict(metadata))


def validate_patchset(document: Any) -> PatchSet:
    """Check a patchset document and return it as a :class:`PatchSet`."""
    if not isinstance(document, Mapping):
        raise _fail("patchset", f"a patchset is a JSON object, got {type(document).__name__}")
    version = _entry(document, "version", "patchset", str, f"the schema version, {SCHEMA_VERSION!r}")
    if version != SCHEMA_VERSION:
        raise _fail("patchset.version", f"unsupported schema version {version!r}; supported: {SCHEMA_VERSION!r}")
    unknown = sorted(set(document) - {"version", "metadata", "patches"})
    if unknown:
        raise _fail(f"patchset.{unknown[0]}", "unknown key; a patchset has version, metadata and patches")
    metadata = _entry(document, "metadata", "patchset", dict, "labels, digests, description, references")
    labels = _entry(metadata, "labels", "patchset.metadata", list, "the names of the patches' values")
    if not labels:
        raise _fail("patchset.metadata.labels", "needs at least one label")
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not _NAME.match(label):
            raise _fail(f"patchset.metadata.labels[{i}]", f"{label!r}: a label is a name of letters, digits and _")
    if len(set(labels)) != len(labels):
        raise _fail("patchset.metadata.labels", f"duplicate label in {labels}")
    digests = metadata.get("digests", {})
    if not isinstance(digests, Mapping):
        raise _fail("patchset.metadata.digests", f"expected an object of digests, got {type(digests).__name__}")
    for algorithm, value in digests.items():
        if algorithm not in DIGEST_ALGORITHMS:
            raise _fail(f"patchset.metadata.digests.{algorithm}", f"unknown algorithm; known: {list(DIGEST_ALGORITHMS)}")
        if not isinstance(value, str) or not re.fullmatch(f"[0-9a-fA-F]{{{DIGEST_ALGORITHMS[algorithm]}}}", value):
            raise _fail(f"patchset.metadata.digests.{algorithm}",
                        f"expected {DIGEST_ALGORITHMS[algorithm]} hexadecimal digits, got {value!r}")
    entries = _entry(document, "patches", "patchset", list, "the signal hypotheses")
    if not entries:
        raise _fail("patchset.patches", "a patchset needs at least one patch")
    patches = [_patch(entry, index, len(labels)) for index, entry in enumerate(entries)]
    first: dict[Any, int] = {}
    for index, patch in enumerate(patches):
        for key, what in ((("name", patch.name), "name"), (("values", patch.values), "values")):
            if key in first:
                raise _fail(f"patchset.patches[{index}].metadata.{what}",
                            f"patch {patch.name!r} has the same {what} as patches[{first[key]}] "
                            f"({key[1]!r})")
            first[key] = index
    return PatchSet(
        labels=tuple(labels), patches=tuple(patches), digests=dict(digests),
        description=str(metadata.get("description", "")), references=dict(metadata.get("references", {})),
        metadata=dict(metadata),
    )


def read_patchset(source: str | Path | Mapping[str, Any],
                  background: Workspace | Mapping[str, Any] | None = None) -> PatchSet:
    """Read and check a patchset from a JSON file or a dict; with ``background``, also check its
    digests against that workspace."""
    document = source if isinstance(source, Mapping) else load_json(Path(source), WorkspaceError, "patchset")
    patchset = validate_patchset(document)
    if background is not None:
        patchset.verify(background)
    return patchset


class PatchsetHypotheses:
    """The labelled hypotheses of a patchset: one :class:`~bayesfit.model.BinnedModel` per patch,
    built by :func:`~bayesfit.histfactory.build_model` from the patched background workspace.

    The payload of :func:`bayesfit.inference.limit_scan`: small to pickle (the workspace and the
    patchset as JSON), every model built where it is used.

    Parameters
    ----------
    background:
        The background-only workspace (a path, a dict or a :class:`Workspace`).
    patchset:
        The patchset (a path, a dict or a :class:`PatchSet`); its digests are checked.
    measurement:
        The measurement of every model; default the workspace's first.
    fixed:
        Values held fixed in every model (:meth:`BinnedModel.fixed_at`).
    poi:
        The parameter of interest, instead of the measurement's.
    build_options:
        Further options of :func:`~bayesfit.histfactory.build_model` (``priors``, ``likelihood``,
        ``normsys_code``, ``histosys_code``).
    """

    def __init__(self, background: str | Path | Mapping[str, Any] | Workspace,
                 patchset: str | Path | Mapping[str, Any] | PatchSet, *, measurement: str | None = None,
                 fixed: Mapping[str, Any] | None = None, poi: str | None = None, **build_options: Any) -> None:
        self.background = background if isinstance(background, Workspace) else load_workspace(background)
        self.patchset = patchset if isinstance(patchset, PatchSet) else read_patchset(patchset)
        self.patchset.verify(self.background)
        self.measurement = self.background.measurement(measurement)["name"]
        self.fixed = dict(fixed or {})
        self.poi = poi
        self.build_options = copy.deepcopy(build_options)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.patchset.labels

    @property
    def names(self) -> list[str]:
        return self.patchset.names

    @property
    def values(self) -> list[tuple[float | str, ...]]:
        return self.patchset.values

    def model(self, name: str) -> BinnedModel:
        """The model of the patch ``name``."""
        model = build_model(self.patchset.apply(self.background, name), self.measurement, **self.build_options)
        if self.fixed:
            model = model.fixed_at(self.fixed)
        return model.replace(poi=self.poi) if self.poi is not None else model

    def __repr__(self) -> str:
        return (f"<PatchsetHypotheses: {len(self.patchset)} patches over {list(self.labels)}, "
                f"measurement {self.measurement!r}>")
