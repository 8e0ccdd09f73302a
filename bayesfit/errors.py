"""The bayesfit exception hierarchy.

Every error bayesfit raises on bad input derives from :class:`BayesfitError`, so a script can catch
them all at once, and its message names what is wrong and where (variable, bin, key, file, line).
The subclasses also derive from the matching built-in exception (``ValueError``, ``KeyError``,
...) so that generic handlers keep working.
"""

from __future__ import annotations

__all__ = [
    "BayesfitError",
    "BinningError",
    "EventsError",
    "PredictorError",
    "LikelihoodError",
    "ModelError",
    "InferenceError",
    "LimitNotFoundError",
    "SamplingInterrupted",
    "AnalysisFileError",
    "WorkspaceError",
    "describe_undecodable",
]


class BayesfitError(Exception):
    """Base class of every error bayesfit raises on purpose."""


class BinningError(BayesfitError, ValueError):
    """A binning is malformed (edges, categories, YAML) or cannot bin the given events."""


class EventsError(BayesfitError, ValueError):
    """Events or weights are malformed: missing variables, NaN values, wrong lengths, bad files."""


class PredictorError(BayesfitError, ValueError):
    """A predictor is malformed or was given parameters it cannot use."""


class LikelihoodError(BayesfitError, ValueError):
    """Observed counts and predictions do not fit together (lengths, negative counts, zero rates)."""


class ModelError(BayesfitError, ValueError):
    """A model cannot be assembled: unknown parameters, priors, systematics modes."""


class InferenceError(BayesfitError, RuntimeError):
    """A fit, scan, toy study or sampler run failed in a way the user must know about."""


class SamplingInterrupted(InferenceError):
    """Sampling stopped before every chain had all its draws (an interrupt): no posterior."""


class LimitNotFoundError(InferenceError):
    """CLs does not fall to ``1 - level`` within the POI's range: the data set no upper limit there."""


class AnalysisFileError(BayesfitError, ValueError):
    """An analysis file is malformed: the message names the key and, where known, the line."""


class WorkspaceError(BayesfitError, ValueError):
    """A HistFactory/pyhf JSON workspace or patch is malformed: the message gives its JSON path."""


def describe_undecodable(error: UnicodeDecodeError) -> str:
    """Where a file is not text, for messages: ``"byte 0x89 on line 1 (offset 0) is not UTF-8"``."""
    data = error.object
    line = data.count(b"\n", 0, error.start) + 1
    return f"byte 0x{data[error.start]:02x} on line {line} (offset {error.start}) is not {error.encoding.upper()}"
