"""Analysis files: read, apply command-line overrides, validate, and resolve into typed settings.

>>> spec = read_analysis("models/hese_diffuse.yaml", overrides=["likelihood=effective"])
>>> spec.parameters["astro_gamma"].prior
{'Uniform': {'lower': 1.5, 'upper': 4.5}}

Relative paths inside a file are relative to the file's folder; paths given with ``--set`` on the
command line are relative to the working directory.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bayesfit.analysis.schema import validate_analysis
from bayesfit.analysis.source import LocatedDocument, format_key_path, load_located_yaml
from bayesfit.errors import AnalysisFileError, BayesfitError
from bayesfit.output import safe_file_name
from bayesfit.priors import as_prior
from bayesfit.yaml_loader import SafeLoader

__all__ = [
    "AnalysisSpec",
    "CHANNEL_KEYS",
    "EventSource",
    "InferenceSettings",
    "ParameterSpec",
    "apply_overrides",
    "WORKSPACE_INFERENCE",
    "read_analysis",
    "workspace_document",
]


@dataclass(frozen=True)
class EventSource:
    """Where events come from: a file (``path``; CSV, seed JSON or ``.npz``), with columns renamed.

    Either may give a :attr:`selection`: the ``tree`` of a ROOT file, the ``branches`` (columns)
    to keep, columns to ``define`` by expressions and a ``cut`` (:func:`bayesfit.events.load_events`).
    ``compress`` (simulation only): sum reweighted simulation as compressed per-bin moments where
    that is exact (see :mod:`bayesfit.analysis.build`); ``False`` sums every event.
    """

    path: Path
    rename: Mapping[str, str] = field(default_factory=dict)
    tree: str | None = None
    branches: tuple[str, ...] | None = None
    define: Mapping[str, str] = field(default_factory=dict)
    cut: str | None = None
    compress: bool = True

    @property
    def selection(self) -> dict[str, Any]:
        """The keyword arguments ``tree``, ``branches``, ``define``, ``cut`` of :func:`~bayesfit.events.load_events`."""
        return {"tree": self.tree, "branches": self.branches, "define": dict(self.define) or None, "cut": self.cut}


@dataclass(frozen=True)
class ParameterSpec:
    """A parameter of an analysis: prior (``"flat"`` or ``{Distribution: {kwargs}}``), start, bounds."""

    name: str
    prior: str | Mapping[str, Mapping[str, Any]]
    start: float | list[float] | None = None
    bounds: tuple[float | None, float | None] = (None, None)
    fixed: bool = False


@dataclass(frozen=True)
class InferenceSettings:
    """Sampler and extra-inference settings, with the defaults of ``bayesfit run``.

    ``profile`` maps a parameter to its scan grid (``start``, ``stop``, ``points``) and optional
    values ``fixed`` during the scan (a hypothesis, e.g. ``{model_B: 0.0}``); ``toys`` sets
    ``count`` and ``workers`` of toy studies; ``tests`` maps a test name to a ``hypothesis`` (values
    of fixed parameters, e.g. ``{astro_beta: 0.0}``), the number of ``toys`` for its p-value and
    the ``statistic`` (``likelihood_ratio``, the default, or ReMU's ``max_likelihood``);
    ``bayes_factors`` maps a name to two hypotheses, ``numerator`` and ``denominator`` (``{}`` is
    the full model), whose evidences SMC estimates with ``draws`` particles in ``chains`` runs.
    ``hypotests`` maps a name to a test of the POI (``poi_value``, ``test_statistic``,
    ``calculator``, ``toys``, and ``poi`` to test another parameter than the file's; see
    :func:`bayesfit.inference.hypotest`); ``upper_limit`` asks for the CLs upper limit (``poi``,
    ``level``, ``test_statistic``, ``calculator``, ``scan``) and, with ``credible: true``, the
    Bayesian credible limit from the posterior; ``ranking: true`` asks for the impacts of the
    constrained entries on the POI (:func:`bayesfit.inference.ranking`).
    """

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    seed: int = 0
    sampler: str = "auto"
    target_accept: float = 0.9
    profile: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    toys: Mapping[str, int] = field(default_factory=dict)
    tests: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    bayes_factors: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    hypotests: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    upper_limit: Mapping[str, Any] | None = None
    ranking: bool = False


@dataclass(frozen=True)
class AnalysisSpec:
    """A validated analysis file with paths resolved and defaults filled in.

    An analysis of reweighted simulation has ``binning``, ``data`` and ``simulation``; a
    template analysis has ``binning``, ``observed`` and optionally ``response`` and ``flux``
    instead, and a workspace analysis ``workspace`` (``path`` and ``patches`` resolved). Paths of
    array entries (``observed``, templates, response, flux throws) are resolved too. A file with
    ``channels:`` has ``channels`` (each a spec of one channel with the shared keys, its
    ``channel_path`` locating its own keys) and ``combine`` (``systematics.combine``), and no
    source keys of its own.
    """

    name: str
    binning: Mapping[str, Any] | None
    data: EventSource | None
    simulation: EventSource | None
    components: Mapping[str, Mapping[str, Any]]
    parameters: Mapping[str, ParameterSpec]
    likelihood: str = "poisson"
    systematics: str = "none"
    poi: str | None = None
    inference: InferenceSettings = InferenceSettings()
    observed: Any = None
    response: Mapping[str, Any] | None = None
    flux: Mapping[str, Any] | None = None
    workspace: Mapping[str, Any] | None = None
    channels: Mapping[str, AnalysisSpec] | None = None
    combine: str | None = None
    channel_path: tuple[str, ...] = ()
    document: LocatedDocument | None = field(default=None, compare=False, repr=False)

    def where(self, *path: Hashable) -> str:
        """``"file line N: key.path"`` for messages about this analysis (a channel's own keys are
        located under ``channels.NAME``)."""
        if self.channel_path and path and path[0] in CHANNEL_KEYS:
            path = (*self.channel_path, *path)
        return self.document.where(path) if self.document else format_key_path(path)

    @property
    def is_channel(self) -> bool:
        """Whether this is one channel of a file with ``channels:`` (its parameters are shared)."""
        return bool(self.channel_path)


#: The keys of one channel of a file with ``channels:``; the others are shared by the channels.
CHANNEL_KEYS = ("binning", "data", "simulation", "components", "observed", "response", "flux", "workspace")


def read_analysis(path: str | Path, overrides: Iterable[str] = ()) -> AnalysisSpec:
    """Read, override, validate and resolve an analysis file.

    Parameters
    ----------
    path:
        The YAML analysis file, or a pyhf JSON workspace (read as :func:`workspace_document`).
    overrides:
        ``"dotted.key=value"`` strings (the CLI's ``--set``); values are parsed as YAML, so
        ``inference.draws=500`` gives an integer and ``likelihood=effective`` a string.

    Raises
    ------
    AnalysisFileError
        Naming the file, the line and the key of the first problem.
    """
    path = Path(path)
    document = workspace_document(path) if path.suffix.lower() == ".json" else load_located_yaml(path)
    overridden_keys: set[tuple[str, ...]] = set()
    if overrides:
        data, overridden_keys = apply_overrides(document.data, overrides)
        document = LocatedDocument(data, document.lines, document.origin)
    validate_analysis(document)
    return _resolve(document, path.parent, overridden_keys)


#: The inference of a bare workspace (``bayesfit run WORKSPACE.json``): the 95% CLs upper limit of
#: the POI (asymptotic ``q~_mu``) and, when sampled, its 95% credible limit.
WORKSPACE_INFERENCE: Mapping[str, Any] = {"upper_limit": {"level": 0.95, "credible": True}}


def workspace_document(path: Path) -> LocatedDocument:
    """The analysis of a bare pyhf workspace file: the two-line analysis file

    .. code-block:: yaml

        name: <file stem>
        workspace: {path: <file>}

    with the inference :data:`WORKSPACE_INFERENCE`; ``--set`` and ``--patch`` change it like a file.
    """
    data = {"name": safe_file_name(path.stem), "workspace": {"path": path.name}, "inference": copy.deepcopy(dict(WORKSPACE_INFERENCE))}
    return LocatedDocument(data, {}, str(path))


def apply_overrides(
    data: Mapping[str, Any], overrides: Iterable[str]
) -> tuple[dict[str, Any], set[tuple[str, ...]]]:
    """Return a copy of ``data`` with each ``"a.b.c=value"`` applied, and the set of keys set."""
    result = copy.deepcopy(dict(data))
    keys: set[tuple[str, ...]] = set()
    for override in overrides:
        key, separator, raw_value = override.partition("=")
        if not separator or not key.strip():
            raise AnalysisFileError(f"--set {override!r}: expected KEY=VALUE, e.g. likelihood=effective")
        key_path = tuple(part.strip() for part in key.split("."))
        if any(not part for part in key_path):
            raise AnalysisFileError(f"--set {override!r}: empty part in key {key!r}")
        try:
            value = yaml.load(raw_value, Loader=SafeLoader) if raw_value.strip() else ""
        except yaml.YAMLError:
            value = raw_value
        target = result
        for depth, part in enumerate(key_path[:-1]):
            child = target.get(part)
            if child is None:
                child = target[part] = {}
            if not isinstance(child, dict):
                raise AnalysisFileError(
                    f"--set {override!r}: {'.'.join(key_path[: depth + 1])} is a "
                    f"{type(child).__name__}, not a mapping"
                )
            target = child
        target[key_path[-1]] = value
        keys.add(key_path)
    return result, keys


def _resolve(document: LocatedDocument, folder: Path, overridden: set[tuple[str, ...]]) -> AnalysisSpec:
    data = document.data
    if "channels" in data:
        return _resolve_channels(document, folder, overridden)
    return _resolve_source(data, document, folder, overridden)


def _resolve_channels(document: LocatedDocument, folder: Path, overridden: set[tuple[str, ...]]) -> AnalysisSpec:
    """A file with ``channels:``: each channel resolved as a single-channel file made of its own
    keys and the shared ones (parameters, likelihood, poi, inference, ...), located under
    ``channels.NAME``; ``--set channels.NAME.KEY=...`` counts as setting that channel's ``KEY``."""
    data = document.data
    shared = {key: value for key, value in data.items() if key != "channels"}
    channels = {}
    for name, block in data["channels"].items():
        prefix = ("channels", name)
        own = {key[2:] for key in overridden if key[:2] == prefix and len(key) > 2}
        if any(prefix[: len(key)] == key for key in overridden):  # --set channels.NAME={...}
            own |= {(key,) for key in CHANNEL_KEYS}
        outside = {key for key in overridden if key[0] != "channels"}
        channel = _resolve_source({**shared, **block, "name": name}, document, folder, own | outside)
        channels[name] = dataclasses.replace(channel, channel_path=prefix)
    combined = _resolve_source({**shared, "components": {}}, document, folder, overridden)
    return dataclasses.replace(combined, channels=channels, combine=data.get("systematics", {}).get("combine"))


def _resolve_source(
    data: Mapping[str, Any], document: LocatedDocument, folder: Path, overridden: set[tuple[str, ...]]
) -> AnalysisSpec:
    settings = dict(data.get("inference", {}))
    binning = dict(data.get("binning", {}))
    if "path" in binning:
        binning["path"] = _resolve_path(binning["path"], folder, ("binning", "path") in overridden)
    arrays = _ArrayPaths(folder, overridden)
    components = {
        name: {**entry, "template": arrays(entry["template"], "components", name, "template")} if "template" in entry else entry
        for name, entry in data.get("components", {}).items()
    }
    response = dict(data["response"]) if "response" in data else None
    if response is not None:
        if "path" in response:
            response["path"] = _resolve_path(response["path"], folder, _set_from_command_line(overridden, "response", "path"))
        for key in ("matrices", "weights"):
            if key in response:
                response[key] = arrays(response[key], "response", key)
    flux = dict(data["flux"]) if "flux" in data else None
    if flux is not None:
        flux["throws"] = arrays(flux["throws"], "flux", "throws")
    workspace = dict(data["workspace"]) if "workspace" in data else None
    if workspace is not None:
        workspace["path"] = _resolve_path(workspace["path"], folder, _set_from_command_line(overridden, "workspace", "path"))
        from_command_line = _set_from_command_line(overridden, "workspace", "patches")
        workspace["patches"] = [_resolve_patch(patch, folder, from_command_line) for patch in workspace.get("patches", [])]
        if "patchset" in workspace:
            workspace["patchset"] = _resolve_path(workspace["patchset"], folder,
                                                  _set_from_command_line(overridden, "workspace", "patchset"))
    for name, entry in data.get("parameters", {}).items():
        _check_prior(document, name, entry["prior"])
    return AnalysisSpec(
        name=data["name"],
        binning=binning or None,
        data=_event_source(data["data"], "data", folder, overridden) if "data" in data else None,
        simulation=_event_source(data["simulation"], "simulation", folder, overridden) if "simulation" in data else None,
        components=components,
        parameters={
            name: ParameterSpec(
                name=name,
                prior=entry["prior"],
                start=entry.get("start"),
                bounds=tuple(entry.get("bounds", (None, None))),
                fixed=entry.get("fixed", False),
            )
            for name, entry in data.get("parameters", {}).items()
        },
        likelihood=data.get("likelihood", "poisson"),
        systematics=data.get("systematics", {}).get("mode", "none"),
        poi=data.get("poi"),
        inference=InferenceSettings(**settings),
        observed=arrays(data["observed"], "observed") if "observed" in data else None,
        response=response,
        flux=flux,
        workspace=workspace,
        document=document,
    )


def _check_prior(document: LocatedDocument, name: str, prior: Any) -> None:
    """Check a parameter's prior (distribution, argument names, argument domains) where the file
    gives it, before any model is built."""
    try:
        as_prior(prior)
    except BayesfitError as error:
        raise AnalysisFileError(f"{document.where(('parameters', name, 'prior'))}: {error}") from None


def _event_source(entry: Mapping[str, Any], key: str, folder: Path, overridden: set) -> EventSource:
    compress = bool(entry.get("compress", True))
    selection = {
        "tree": entry.get("tree"),
        "branches": tuple(entry["branches"]) if "branches" in entry else None,
        "define": dict(entry.get("define", {})),
        "cut": entry.get("cut"),
    }
    return EventSource(
        path=_resolve_path(entry["path"], folder, (key, "path") in overridden or (key,) in overridden),
        rename=dict(entry.get("rename", {})),
        compress=compress,
        **selection,
    )


class _ArrayPaths:
    """Resolves the ``path`` of an array entry (inline arrays are returned as they are)."""

    def __init__(self, folder: Path, overridden: set[tuple[str, ...]]) -> None:
        self.folder, self.overridden = folder, overridden

    def __call__(self, entry: Any, *key_path: str) -> Any:
        if not isinstance(entry, Mapping):
            return entry
        from_command_line = _set_from_command_line(self.overridden, *key_path, "path")
        return {**entry, "path": _resolve_path(entry["path"], self.folder, from_command_line)}


def _set_from_command_line(overridden: set[tuple[str, ...]], *key_path: str) -> bool:
    """Whether ``--set`` gave the key (or a section holding it)."""
    return any(key_path[: len(key)] == key for key in overridden)


def _resolve_patch(value: str, folder: Path, from_command_line: bool) -> str:
    """A patch ``FILE`` or ``PATCHSET:NAME`` with its file resolved like every path."""
    stem, separator, name = value.rpartition(":")
    if separator and not _resolve_path(value, folder, from_command_line).exists():
        return f"{_resolve_path(stem, folder, from_command_line)}:{name}"
    return str(_resolve_path(value, folder, from_command_line))


def _resolve_path(value: str, folder: Path, from_command_line: bool) -> Path:
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    return (Path.cwd() / path) if from_command_line else (folder / path)
