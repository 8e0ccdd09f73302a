"""The JSON schema of bayesfit analysis files, and validation with line numbers.

An analysis file is YAML with fixed top-level keys: ``name``, ``binning``, ``data``,
``simulation``, ``components``, ``parameters``, ``likelihood``, ``systematics``, ``poi``, ``inference``.
Its model comes from one of three sources:

- reweighted Monte Carlo: ``data`` and ``simulation`` events filled into the ``binning``, and
  components of per-event ``weight`` s with a ``scale`` and a ``spectrum``;
- templates: ``observed`` counts in the ``binning`` and components of ``template`` arrays, each
  scaled by a parameter, optionally folded by a ``response`` matrix with detector universes and
  multiplied by ``flux`` throws (:mod:`bayesfit.analysis.templates`);
- a pyhf workspace: ``workspace`` (its ``path``, ``patches``, ``measurement``, and a ``patchset``
  of signal hypotheses with an optional subset ``patchset_names``) replaces the data,
  simulation and components, and ``parameters`` (optional) sets priors and fixed values of the
  workspace's parameters.

A file with ``channels`` (a mapping of channel names to blocks of those source keys, one source
each) combines several such data sets into one model with shared ``parameters``, ``poi``,
``likelihood``, ``systematics`` (``combine``: how the universes of varying channels combine) and
``inference`` (:mod:`bayesfit.analysis.channels`).
Validation reports the first problem as an :class:`~bayesfit.errors.AnalysisFileError` naming the
file, the line and the dotted key path.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from functools import cache
from typing import Any

import jsonschema

from bayesfit.analysis.source import LocatedDocument
from bayesfit.errors import AnalysisFileError

__all__ = [
    "ANALYSIS_SCHEMA",
    "CALCULATORS",
    "FLUX_TREATMENTS",
    "LIKELIHOODS",
    "SAMPLERS",
    "STATISTICS",
    "TEMPLATE_SPACES",
    "TEST_STATISTICS",
    "analysis_schema",
    "library_choices",
    "validate_analysis",
]

FLUX_TREATMENTS = ("universes", "nuisance")

# Provided by the module's __getattr__ from the library's constants (see library_choices):
ANALYSIS_SCHEMA: dict[str, Any]
CALCULATORS: tuple[str, ...]
LIKELIHOODS: tuple[str, ...]
SAMPLERS: tuple[str, ...]
STATISTICS: tuple[str, ...]
TEST_STATISTICS: tuple[str, ...]


@cache
def library_choices() -> dict[str, tuple[str, ...]]:
    """The enums of the schema, from the library's own constants (imported on first use, so that
    reading this module stays cheap; the inference modules import PyTensor).

    ``LIKELIHOODS`` (:data:`bayesfit.likelihood.LIKELIHOODS`), ``SAMPLERS``
    (:data:`bayesfit.inference.posterior.SAMPLERS`), ``STATISTICS`` of hypothesis tests and
    ``TEST_STATISTICS`` of the POI (:mod:`bayesfit.inference.test_statistics`), their one-sided
    ``LIMIT_STATISTICS`` for upper limits, and ``CALCULATORS``
    (:data:`bayesfit.inference.calculators.CALCULATORS`).
    """
    from bayesfit.inference.calculators import CALCULATORS
    from bayesfit.inference.posterior import SAMPLERS
    from bayesfit.inference.test_statistics import HYPOTHESIS_STATISTICS, TEST_STATISTICS, QMu, QMuTilde
    from bayesfit.likelihood import LIKELIHOODS

    return {
        "LIKELIHOODS": tuple(LIKELIHOODS),
        "SAMPLERS": tuple(SAMPLERS),
        "STATISTICS": tuple(HYPOTHESIS_STATISTICS),
        "TEST_STATISTICS": tuple(TEST_STATISTICS),
        "LIMIT_STATISTICS": (QMu.name, QMuTilde.name),
        "CALCULATORS": tuple(CALCULATORS),
    }


def __getattr__(name: str) -> Any:
    """``LIKELIHOODS``, ``SAMPLERS``, ... and ``ANALYSIS_SCHEMA``, built on first use."""
    if name == "ANALYSIS_SCHEMA":
        return analysis_schema()
    if name in _LIBRARY_NAMES:  # a fixed list: the import system asks for e.g. __path__
        return library_choices()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_LIBRARY_NAMES = frozenset(("LIKELIHOODS", "SAMPLERS", "STATISTICS", "TEST_STATISTICS", "LIMIT_STATISTICS", "CALCULATORS"))


def _enum(name: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(library_choices()[name])}



_number = {"type": "number"}
_positive_int = {"type": "integer", "minimum": 1}
_name = {"type": "string", "minLength": 1}
_bound = {"type": ["number", "null"]}


def _one_key(options: dict[str, Any]) -> dict[str, Any]:
    """A mapping with exactly one of ``options`` as its key."""
    return {
        "type": "object",
        "minProperties": 1,
        "maxProperties": 1,
        "properties": options,
        "additionalProperties": False,
    }


def _closed(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


_range = _closed({"start": _number, "stop": _number, "bins": _positive_int}, ("start", "stop", "bins"))

_AXIS_KINDS = {
    "linear": _range,
    "log10": _range,
    "cos": _closed({"bins": _positive_int}, ("bins",)),
    "edges": {"type": "array", "items": _number, "minItems": 2},
    "categories": {"type": "array", "items": {"type": "integer"}, "minItems": 1},
}
#: One kind of axis, with an optional display ``label`` and ``unit`` (figures show "label [unit]")
#: and, for categories, their ``names`` in the order of ``categories``.
AXIS_SCHEMA = {
    "type": "object",
    "properties": {
        **_AXIS_KINDS,
        "label": {"type": "string"},
        "unit": {"type": "string"},
        "names": {"type": "array", "items": _name, "minItems": 1},
    },
    "additionalProperties": False,
    "oneOf": [{"required": [kind]} for kind in _AXIS_KINDS],
    "dependentRequired": {"names": ["categories"]},
}

#: What an event source may add: the ``tree`` of a ROOT file, the ``branches`` (columns) to keep,
#: columns to ``define`` by expressions and a ``cut`` expression (:mod:`bayesfit.expressions`).
EVENT_SELECTION = {
    "tree": _name,
    "branches": {"type": "array", "items": _name, "minItems": 1},
    "define": {"type": "object", "additionalProperties": _name},
    "cut": _name,
}


def _events_schema(**extra: Any) -> dict[str, Any]:
    """An events file (``path``, ``rename``); plus ``extra`` keys."""
    return _closed({"path": _name, "rename": {"type": "object", "additionalProperties": _name}, **extra}, ("path",))


EVENTS_SCHEMA = _events_schema(**EVENT_SELECTION)
#: The simulation may also say whether reweighted events are compressed (where that is exact).
SIMULATION_SCHEMA = _events_schema(compress={"type": "boolean"}, **EVENT_SELECTION)

_spectra = {
    "power_law": _closed(
        {"energy": _name, "index": _name, "pivot": _number, "generated_index": _number},
        ("energy", "index", "pivot"),
    ),
    "broken_power_law": _closed(
        {
            "energy": _name,
            "index_low": _name,
            "index_high": _name,
            "break_energy": _number,
            "pivot": _number,
            "generated_index": _number,
        },
        ("energy", "index_low", "index_high", "break_energy", "pivot"),
    ),
    "log_parabola": _closed(
        {
            "energy": _name,
            "index": _name,
            "curvature": _name,
            "pivot": _number,
            "generated_index": _number,
        },
        ("energy", "index", "curvature", "pivot"),
    ),
}

#: Where a template lives: before the response matrix (truth bins) or after it (reco bins).
TEMPLATE_SPACES = ("truth", "reco")

#: An array: inline numbers (nested lists for 2-D), a named array of an ``.npz`` file, a column
#: of a CSV file, or a histogram saved as UHI JSON or in a ROOT file (``key``), whose non-empty
#: ``flow`` bins are an error or ignored (see :mod:`bayesfit.analysis.arrays`).
ARRAY_SCHEMA = {
    "oneOf": [
        {"type": "array", "minItems": 1},
        _closed(
            {"path": _name, "key": _name, "column": _name, "flow": {"type": "string", "enum": ["error", "ignore"]}},
            ("path",),
        ),
    ]
}

COMPONENT_SCHEMA = {
    "oneOf": [
        # reweighted Monte Carlo: event weights, an optional scale and spectrum
        _closed({"weight": _name, "scale": _name, "spectrum": _one_key(_spectra)}, ("weight",)),
        # a template of expected counts (per unit flux in each flux bin with per_flux), scaled by a parameter
        _closed(
            {
                "template": ARRAY_SCHEMA,
                "scale": _name,
                "space": {"type": "string", "enum": list(TEMPLATE_SPACES)},
                "per_flux": {"type": "boolean"},
            },
            ("template", "scale"),
        ),
    ]
}

RESPONSE_SCHEMA = {
    "oneOf": [
        # ReMU's response-matrix .npz (matrices, truth_entries, optional weights and sparse_indices)
        _closed({"path": _name}, ("path",)),
        # the matrices (K, n_reco, n_truth) and universe weights (K,) as arrays
        _closed({"matrices": ARRAY_SCHEMA, "weights": ARRAY_SCHEMA}, ("matrices",)),
    ]
}

FLUX_SCHEMA = _closed(
    {
        "throws": ARRAY_SCHEMA,
        "edges": {"type": "array", "items": _number, "minItems": 2},
        "treatment": {"type": "string", "enum": list(FLUX_TREATMENTS)},
        # for the flux figure: the flux bins' variable and unit, and what the throws measure
        "label": {"type": "string"},
        "unit": {"type": "string"},
        "throws_label": {"type": "string"},
    },
    ("throws",),
)

_hypothesis = {"type": "object", "additionalProperties": _number}

PARAMETER_SCHEMA = _closed(
    {
        "prior": {
            "oneOf": [
                {"type": "string", "enum": ["flat"]},
                {
                    "type": "object",
                    "minProperties": 1,
                    "maxProperties": 1,
                    "additionalProperties": {"type": "object"},
                },
            ]
        },
        "start": {"type": ["number", "array"]},
        "bounds": {"type": "array", "items": _bound, "minItems": 2, "maxItems": 2},
        "fixed": {"type": "boolean"},
    },
    ("prior",),
)

def _inference_schema() -> dict[str, Any]:
    return _closed(
        {
            "draws": _positive_int,
            "tune": _positive_int,
            "chains": _positive_int,
            "seed": {"type": "integer", "minimum": 0},
            "sampler": _enum("SAMPLERS"),
            "target_accept": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "profile": {
                "type": "object",
                "additionalProperties": _closed(
                    {"start": _number, "stop": _number, "points": {"type": "integer", "minimum": 2}, "fixed": _hypothesis},
                    ("start", "stop"),
                ),
            },
            "toys": _closed({"count": _positive_int, "workers": _positive_int}),
            "tests": {
                "type": "object",
                "additionalProperties": _closed(
                    {
                        "hypothesis": {**_hypothesis, "minProperties": 1},
                        "toys": {"type": "integer", "minimum": 0},
                        "statistic": _enum("STATISTICS"),
                    },
                    ("hypothesis",),
                ),
            },
            "bayes_factors": {
                "type": "object",
                "additionalProperties": _closed(
                    {"numerator": _hypothesis, "denominator": _hypothesis, "draws": _positive_int, "chains": _positive_int},
                    ("numerator", "denominator"),
                ),
            },
            "hypotests": {
                "type": "object",
                "additionalProperties": _closed(
                    {
                        "poi": _name,
                        "poi_value": _number,
                        "test_statistic": _enum("TEST_STATISTICS"),
                        "calculator": _enum("CALCULATORS"),
                        "toys": _positive_int,
                    },
                    ("poi_value",),
                ),
            },
            "upper_limit": _closed(
                {
                    "poi": _name,
                    "level": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                    "test_statistic": _enum("LIMIT_STATISTICS"),
                    "calculator": _enum("CALCULATORS"),
                    "toys": _positive_int,
                    "scan": _closed({"start": _number, "stop": _number, "points": {"type": "integer", "minimum": 2}},
                                    ("start", "stop")),
                    "credible": {"type": "boolean"},
                }
            ),
            "ranking": {"type": "boolean"},
        }
    )


WORKSPACE_SCHEMA = _closed(
    {
        "path": _name,
        "patches": {"type": "array", "items": _name},
        "patchset": _name,
        "patchset_names": {"type": "array", "items": _name, "minItems": 1},
        "measurement": _name,
        "normsys_code": {"type": "string", "enum": ["1", "4"]},
        "histosys_code": {"type": "string", "enum": ["0", "4p"]},
    },
    ("path",),
)

#: Keys that give the binned data and simulation of reweighted Monte Carlo.
EVENT_KEYS = ("binning", "data", "simulation")
#: Keys that make a model source other than reweighted Monte Carlo: observed counts (a template
#: analysis) or a pyhf workspace (with its own binning, data, components and parameters).
MODEL_SOURCES = ("observed", "workspace")
#: Keys that only a template analysis has.
TEMPLATE_KEYS = ("response", "flux")


def _source_properties() -> dict[str, Any]:
    """The keys that describe one data set and its model (a single-channel file's, or a channel's)."""
    return {
        "binning": {
            "oneOf": [
                _closed({"path": _name}, ("path",)),
                {
                    "type": "object",
                    "minProperties": 1,
                    "not": {"required": ["path"]},
                    "additionalProperties": AXIS_SCHEMA,
                },
            ]
        },
        "data": EVENTS_SCHEMA,
        "simulation": SIMULATION_SCHEMA,
        "components": {"type": "object", "minProperties": 1, "additionalProperties": COMPONENT_SCHEMA},
        "observed": ARRAY_SCHEMA,
        "response": RESPONSE_SCHEMA,
        "flux": FLUX_SCHEMA,
        "workspace": WORKSPACE_SCHEMA,
    }


def _source_rules(*, components_with: tuple[str, ...]) -> list[dict[str, Any]]:
    """What a source needs: components (unless a workspace) with ``components_with``, events
    unless observed counts or a workspace, a binning with observed counts."""
    return [
        {"if": {"required": ["workspace"]}, "else": {"required": ["components", *components_with]}},
        {"if": {"anyOf": [{"required": [key]} for key in MODEL_SOURCES]}, "else": {"required": list(EVENT_KEYS)}},
        {"if": {"required": ["observed"]}, "then": {"required": ["binning"]}},
    ]


# ---- channels (several data sets with their own binning in one model; see bayesfit.analysis.channels)
#: How the universes of several varying channels combine (``systematics.combine``).
CHANNEL_COMBINES = ("same", "cartesian")


def _channel_schema() -> dict[str, Any]:
    schema = _closed(_source_properties())
    schema["minProperties"] = 1
    schema["allOf"] = _source_rules(components_with=())
    return schema


def _channels_rule() -> dict[str, Any]:
    """A file without ``channels`` is one source (one with them has none of its own, see
    :func:`_check_channel_keys`)."""
    return {"if": {"required": ["channels"]}, "else": {"allOf": _source_rules(components_with=("parameters",))}}


def _check_channel_keys(document: LocatedDocument) -> None:
    """Each channel is one source (:func:`_check_source_keys`); the file has no source keys of its own."""
    channels = document.data["channels"]
    for key in _source_properties():
        if key in document.data:
            raise AnalysisFileError(
                f"{document.where((key,))}: a file with channels: gives {key!r} inside each channel "
                f"({', '.join(map(str, channels))}), not at the top level"
            )
    for name, block in channels.items():
        _check_source_keys(block, lambda key, name=name: document.where(("channels", name, key)))
# ---- end channels


@cache
def analysis_schema() -> dict[str, Any]:
    """The JSON schema of analysis files (also ``ANALYSIS_SCHEMA``), built once on first use."""
    schema: dict[str, Any] = _closed(
        {
            "name": {"type": "string", "pattern": r"^[A-Za-z0-9_.+\-]+$"},
            **_source_properties(),
            "parameters": {"type": "object", "minProperties": 1, "additionalProperties": PARAMETER_SCHEMA},
            "likelihood": _enum("LIKELIHOODS"),
            "poi": {"type": ["string", "null"], "minLength": 1},
            "systematics": _closed(
                {
                    "mode": {"type": "string", "enum": ["none", "marginalise", "nuisance"]},
                    "combine": {"type": "string", "enum": list(CHANNEL_COMBINES)},
                }
            ),
            "inference": _inference_schema(),
            "channels": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": r"^[A-Za-z0-9_.\-]+$"},
                "additionalProperties": _channel_schema(),
            },
        },
        ("name",),
    )
    schema["allOf"] = [_channels_rule()]
    return schema


def validate_analysis(document: LocatedDocument) -> None:
    """Check an analysis document against :func:`analysis_schema`.

    Raises
    ------
    AnalysisFileError
        For the most specific problem found, naming the file, line and key path.
    """
    if not isinstance(document.data, dict):
        raise AnalysisFileError(
            f"{document.origin}: an analysis file must be a mapping of keys, got "
            f"{type(document.data).__name__}"
        )
    validator = jsonschema.Draft202012Validator(analysis_schema())
    errors = list(validator.iter_errors(document.data))
    if not errors:
        if "channels" in document.data:
            _check_channel_keys(document)
        else:
            _check_source_keys(document.data, lambda key: document.where((key,)))
        return
    error = min(errors, key=_error_rank)
    error = _deepest(error)
    path: tuple[Hashable, ...] = tuple(error.absolute_path)
    if error.validator == "additionalProperties":
        path += (_unexpected_keys(error)[0],)
    raise AnalysisFileError(f"{document.where(path) if path else document.origin}: {_explain(error, path)}")


def _check_source_keys(data: Mapping[str, Any], where: Callable[[str], str]) -> None:
    """A file has one model source at most; a template analysis (``observed``) has no events
    (``data``, ``simulation``), a workspace analysis neither a binning, events nor components of
    its own, and only a template analysis has a ``response`` and a ``flux``. ``where(key)`` locates
    a key for messages."""
    sources = [key for key in MODEL_SOURCES if key in data]
    if len(sources) > 1:
        raise AnalysisFileError(f"{where(sources[1])}: an analysis has one of {', '.join(sources)}, not both")
    if "observed" not in sources:
        for key in TEMPLATE_KEYS:
            if key in data:
                raise AnalysisFileError(
                    f"{where(key)}: {key!r} belongs to a template analysis, which has observed "
                    "counts (observed:) instead of data and simulation events"
                )
    if sources == ["observed"]:
        for key in ("data", "simulation"):
            if key in data:
                raise AnalysisFileError(
                    f"{where(key)}: a template analysis has observed counts (observed:), not "
                    f"events; remove {key!r}"
                )
    if sources == ["workspace"]:
        for key in EVENT_KEYS + ("components",):
            if key in data:
                raise AnalysisFileError(
                    f"{where(key)}: a workspace analysis takes {key} from the workspace; remove {key!r}"
                )


_PREFERENCE = {"additionalProperties": 0, "enum": 1, "required": 2, "oneOf": 9}


def _error_rank(error: jsonschema.ValidationError) -> tuple[int, int]:
    # Prefer errors deep in the document (they name the precise key), then unknown keys (a typo
    # also makes a required key look missing), then the rest.
    return (-len(error.absolute_path), _PREFERENCE.get(error.validator, 5))


def _deepest(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For ``oneOf`` failures, the sub-error of the alternative that came closest."""
    while error.context and not _is_choice(error):
        error = min(error.context, key=_error_rank)
    return error


def _is_choice(error: jsonschema.ValidationError) -> bool:
    """A ``oneOf`` of single required keys: exactly one of those keys (e.g. an axis's kind)."""
    alternatives = error.schema.get("oneOf", []) if error.validator == "oneOf" else []
    return bool(alternatives) and all(set(option) == {"required"} and len(option["required"]) == 1
                                      for option in alternatives)


def _unexpected_keys(error: jsonschema.ValidationError) -> list[str]:
    return sorted(set(error.instance) - set(error.schema.get("properties", {})), key=str)


def _explain(error: jsonschema.ValidationError, path: tuple[Hashable, ...]) -> str:
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unexpected = _unexpected_keys(error)
        hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        return f"unknown key(s) {', '.join(map(repr, unexpected))}{hint}"
    if error.validator == "required":
        return f"missing required key {error.message.split()[0]}"
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {', '.join(map(repr, error.validator_value))}"
    if error.validator == "type":
        wanted = error.validator_value
        wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
        return f"expected {wanted}, got {type(error.instance).__name__} {error.instance!r}"
    if _is_choice(error):
        return f"expected exactly one of {', '.join(option['required'][0] for option in error.validator_value)}"
    if error.validator == "dependentRequired":
        needing = next(key for key in error.validator_value if key in error.instance)
        return f"{needing!r} needs {', '.join(map(repr, error.validator_value[needing]))}"
    if error.validator in ("minProperties", "maxProperties") and error.validator_value == 1:
        options = sorted(error.schema.get("properties", {}))
        return f"expected exactly one of {', '.join(options)}" if options else error.message
    return error.message
