"""Read, validate and patch HistFactory JSON workspaces (pyhf schema 1.0.0).

A workspace is a JSON document with ``channels`` (each with ``samples``: nominal ``data`` per bin
and a list of ``modifiers``), ``observations`` (observed counts per channel), ``measurements``
(a parameter of interest and per-parameter configurations) and ``version``.

Every problem is reported as a :class:`~bayesfit.errors.WorkspaceError` whose message starts with
the JSON path of the offending entry, e.g. ``channels[1].samples[3].modifiers[0].type``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bayesfit.errors import WorkspaceError
from bayesfit.json_loader import load_json

__all__ = [
    "MODIFIER_TYPES",
    "Workspace",
    "load_workspace",
    "patch_file",
    "read_patched_workspace",
    "validate_workspace",
    "apply_patch",
]

SCHEMA_VERSION = "1.0.0"
MODIFIER_TYPES = ("normfactor", "shapefactor", "lumi", "normsys", "histosys", "staterror", "shapesys")
PARAMETER_CONFIG_KEYS = ("name", "inits", "bounds", "fixed", "auxdata", "sigmas", "factors")


def _fail(path: str, message: str) -> WorkspaceError:
    return WorkspaceError(f"{path}: {message}")


def _require(mapping: Any, key: str, path: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(mapping, Mapping):
        raise _fail(path, f"expected an object, got {type(mapping).__name__}")
    if key not in mapping:
        raise _fail(f"{path}.{key}" if path else key, "is missing")
    value = mapping[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise _fail(f"{path}.{key}" if path else key, f"expected {names}, got {type(value).__name__}")
    return value


def _check_numbers(values: Any, path: str, length: int | None = None) -> None:
    if not isinstance(values, list):
        raise _fail(path, f"expected a list of numbers, got {type(values).__name__}")
    if length is not None and len(values) != length:
        raise _fail(path, f"has {len(values)} bins, expected {length}")
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _fail(f"{path}[{index}]", f"expected a finite number, got {value!r}")


def _check_modifier(modifier: Any, path: str, n_bins: int) -> None:
    _require(modifier, "name", path, str)
    kind = _require(modifier, "type", path, str)
    if kind not in MODIFIER_TYPES:
        raise _fail(f"{path}.type", f"unknown modifier type {kind!r}; known: {list(MODIFIER_TYPES)}")
    if "data" not in modifier:
        raise _fail(f"{path}.data", "is missing")
    data = modifier["data"]
    if kind in ("normfactor", "shapefactor", "lumi"):
        if data is not None:
            raise _fail(f"{path}.data", f"a {kind} modifier takes data null, got {data!r}")
    elif kind == "normsys":
        for key in ("hi", "lo"):
            value = _require(data, key, f"{path}.data", (int, float))
            if not math.isfinite(value):
                raise _fail(f"{path}.data.{key}", f"expected a finite number, got {value!r}")
    elif kind == "histosys":
        for key in ("hi_data", "lo_data"):
            _check_numbers(_require(data, key, f"{path}.data", list), f"{path}.data.{key}", n_bins)
    else:  # staterror, shapesys: one uncertainty per bin
        _check_numbers(data, f"{path}.data", n_bins)
        negative = [i for i, value in enumerate(data) if value < 0]
        if negative:
            raise _fail(f"{path}.data[{negative[0]}]", f"a {kind} uncertainty must be >= 0, got {data[negative[0]]}")


def _check_channels(channels: Any) -> dict[str, int]:
    if not isinstance(channels, list) or not channels:
        raise _fail("channels", "expected a non-empty list of channels")
    n_bins_of: dict[str, int] = {}
    for c, channel in enumerate(channels):
        path = f"channels[{c}]"
        name = _require(channel, "name", path, str)
        if name in n_bins_of:
            raise _fail(f"{path}.name", f"duplicate channel name {name!r}")
        samples = _require(channel, "samples", path, list)
        if not samples:
            raise _fail(f"{path}.samples", "a channel needs at least one sample")
        n_bins = None
        totals: list[float] = []
        sample_names = set()
        for s, sample in enumerate(samples):
            sample_path = f"{path}.samples[{s}]"
            sample_name = _require(sample, "name", sample_path, str)
            if sample_name in sample_names:
                raise _fail(f"{sample_path}.name", f"duplicate sample {sample_name!r} in channel {name!r}")
            sample_names.add(sample_name)
            data = _require(sample, "data", sample_path, list)
            if n_bins is None:
                if not data:
                    raise _fail(f"{sample_path}.data", "has no bins")
                n_bins = len(data)
            _check_numbers(data, f"{sample_path}.data", n_bins)
            totals = [total + value for total, value in zip(totals, data)] if totals else list(data)
            modifiers = _require(sample, "modifiers", sample_path, list)
            for m, modifier in enumerate(modifiers):
                _check_modifier(modifier, f"{sample_path}.modifiers[{m}]", n_bins)
        negative = [i for i, total in enumerate(totals) if total < 0]
        if negative:
            raise _fail(
                f"{path}.samples", f"the nominal counts of channel {name!r} sum to {totals[negative[0]]:g} in bin "
                f"{negative[0]}: a negative expectation is impossible"
            )
        n_bins_of[name] = int(n_bins)
    return n_bins_of


def _check_observations(observations: Any, n_bins_of: Mapping[str, int]) -> None:
    if not isinstance(observations, list):
        raise _fail("observations", "expected a list")
    seen = set()
    for o, observation in enumerate(observations):
        path = f"observations[{o}]"
        name = _require(observation, "name", path, str)
        if name not in n_bins_of:
            raise _fail(f"{path}.name", f"no channel called {name!r}; channels: {list(n_bins_of)}")
        if name in seen:
            raise _fail(f"{path}.name", f"second observation for channel {name!r}")
        seen.add(name)
        _check_numbers(_require(observation, "data", path, list), f"{path}.data", n_bins_of[name])
        negative = [i for i, n in enumerate(observation["data"]) if n < 0]
        if negative:
            raise _fail(f"{path}.data[{negative[0]}]", f"observed counts must be >= 0, got {observation['data'][negative[0]]}")
    missing = [name for name in n_bins_of if name not in seen]
    if missing:
        raise _fail("observations", f"no observation for channel(s) {missing}")


def _check_parameter_config(config: Any, path: str) -> None:
    _require(config, "name", path, str)
    unknown = sorted(set(config) - set(PARAMETER_CONFIG_KEYS))
    if unknown:
        raise _fail(f"{path}.{unknown[0]}", f"unknown key; allowed: {list(PARAMETER_CONFIG_KEYS)}")
    for key in ("inits", "auxdata", "sigmas", "factors"):
        if key in config:
            _check_numbers(config[key], f"{path}.{key}")
    if "bounds" in config:
        bounds = config["bounds"]
        if not isinstance(bounds, list):
            raise _fail(f"{path}.bounds", "expected a list of [low, high] pairs")
        for b, pair in enumerate(bounds):
            _check_numbers(pair, f"{path}.bounds[{b}]", 2)
            if not pair[0] <= pair[1]:
                raise _fail(f"{path}.bounds[{b}]", f"low {pair[0]} is above high {pair[1]}")
    if "fixed" in config and not isinstance(config["fixed"], bool):
        raise _fail(f"{path}.fixed", f"expected true or false, got {config['fixed']!r}")


def _check_measurements(measurements: Any) -> None:
    if not isinstance(measurements, list) or not measurements:
        raise _fail("measurements", "expected a non-empty list of measurements")
    names = set()
    for i, measurement in enumerate(measurements):
        path = f"measurements[{i}]"
        name = _require(measurement, "name", path, str)
        if name in names:
            raise _fail(f"{path}.name", f"duplicate measurement {name!r}")
        names.add(name)
        config = _require(measurement, "config", path, dict)
        _require(config, "poi", f"{path}.config", str)
        parameters = _require(config, "parameters", f"{path}.config", list)
        configured = set()
        for p, parameter in enumerate(parameters):
            parameter_path = f"{path}.config.parameters[{p}]"
            _check_parameter_config(parameter, parameter_path)
            if parameter["name"] in configured:
                raise _fail(f"{parameter_path}.name", f"second configuration of {parameter['name']!r}")
            configured.add(parameter["name"])


def validate_workspace(spec: Any) -> None:
    """Check a workspace document; raise :class:`WorkspaceError` with the JSON path of a problem."""
    if not isinstance(spec, Mapping):
        raise _fail("$", f"a workspace is a JSON object, got {type(spec).__name__}")
    version = _require(spec, "version", "", str)
    if version != SCHEMA_VERSION:
        raise _fail("version", f"unsupported schema version {version!r}; supported: {SCHEMA_VERSION!r}")
    n_bins_of = _check_channels(spec.get("channels"))
    _check_observations(_require(spec, "observations", "", list), n_bins_of)
    _check_measurements(spec.get("measurements"))


def apply_patch(spec: Mapping[str, Any], patch: Any, name: str | None = None) -> dict[str, Any]:
    """Return a patched copy of ``spec``.

    ``patch`` is a JSON patch (a list of RFC 6902 operations), or a pyhf *patchset* (an object
    with ``patches``, each ``{"metadata": {"name": ...}, "patch": [...]}``) together with the
    ``name`` of the patch to apply. Signal hypotheses are usually distributed as patchsets.
    """
    import jsonpatch

    if isinstance(patch, Mapping):
        entries = _require(patch, "patches", "patchset", list)
        names = [entry.get("metadata", {}).get("name") for entry in entries if isinstance(entry, Mapping)]
        if name is None:
            raise _fail("patchset", f"give the name of the patch to apply; available: {names}")
        if name not in names:
            raise _fail("patchset.patches", f"no patch named {name!r}; available: {names}")
        index = names.index(name)
        patch = _require(entries[index], "patch", f"patchset.patches[{index}]", list)
    try:
        operations = jsonpatch.JsonPatch(patch)
        patched = operations.apply(copy.deepcopy(dict(spec)))
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as error:
        raise _fail("patch", f"cannot apply: {error}") from None
    validate_workspace(patched)
    return patched


@dataclass(frozen=True)
class Workspace:
    """A validated workspace document.

    Attributes
    ----------
    spec:
        The JSON document (a dict), validated on construction.
    """

    spec: dict[str, Any]

    def __post_init__(self) -> None:
        validate_workspace(self.spec)

    @property
    def channel_names(self) -> list[str]:
        """Channel names in the canonical (sorted) order used for bins, as pyhf."""
        return sorted(channel["name"] for channel in self.spec["channels"])

    @property
    def parameter_names(self) -> list[str]:
        """Names of the parameters the channels' modifiers declare, sorted."""
        return sorted({modifier["name"] for channel in self.spec["channels"] for sample in channel["samples"]
                       for modifier in sample["modifiers"]})

    @property
    def measurement_names(self) -> list[str]:
        return [measurement["name"] for measurement in self.spec["measurements"]]

    def measurement(self, name: str | None = None) -> dict[str, Any]:
        """The measurement called ``name``; the first one when ``name`` is ``None``."""
        measurements = self.spec["measurements"]
        if name is None:
            return measurements[0]
        for measurement in measurements:
            if measurement["name"] == name:
                return measurement
        raise _fail("measurements", f"no measurement called {name!r}; available: {self.measurement_names}")

    def observed(self) -> dict[str, list[float]]:
        """Observed counts per channel name."""
        return {observation["name"]: list(observation["data"]) for observation in self.spec["observations"]}

    def patched(self, patch: Any, name: str | None = None) -> Workspace:
        """A new workspace with a JSON patch (or the patch ``name`` of a patchset) applied."""
        return Workspace(apply_patch(self.spec, patch, name))


def _read_json(path: Path, what: str) -> Any:
    return load_json(path, WorkspaceError, what)


def load_workspace(source: str | Path | Mapping[str, Any], patches: Sequence[Any] = ()) -> Workspace:
    """Read a workspace from a JSON file path or a dict, validate it and apply ``patches`` in order."""
    if isinstance(source, Mapping):
        spec = copy.deepcopy(dict(source))
    else:
        spec = _read_json(Path(source), "workspace")
    workspace = Workspace(spec)
    for patch in patches:
        workspace = workspace.patched(patch)
    return workspace


def patch_file(patch: str | Path) -> tuple[Path, str | None]:
    """The file and the patch name of a patch given as ``FILE`` or ``PATCHSET.json:NAME`` (a name
    only where the whole text is not an existing file)."""
    text = str(patch)
    if ":" in text and not Path(text).exists():
        stem, name = text.rsplit(":", 1)
        return Path(stem), name
    return Path(text), None


def read_patched_workspace(path: str | Path, patches: Sequence[str | Path] = ()) -> Workspace:
    """Read the workspace at ``path`` and apply JSON patch files in order.

    A patch is a JSON patch file, or ``PATCHSET.json:NAME`` for the patch ``NAME`` of a pyhf
    patchset (a patchset holding a single patch may be given without the name).
    """
    workspace = load_workspace(path)
    for patch in patches:
        patch_path, name = patch_file(patch)
        document = _read_json(patch_path, "patch")
        if isinstance(document, dict) and name is None and len(document.get("patches", [])) == 1:
            name = document["patches"][0].get("metadata", {}).get("name")
        workspace = workspace.patched(document, name)
    return workspace
