"""Reading JSON files strictly: UTF-8 text, valid JSON, no key given twice in an object.

Python's ``json`` keeps the last value of a repeated key without a word, and a binary file
raises a bare ``UnicodeDecodeError``; :func:`load_json` turns both, and every other problem of
reading the file, into the caller's bayesfit error naming the file (and the key or the place).
Event files and HistFactory workspaces and patches are read with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bayesfit.errors import BayesfitError, describe_undecodable

__all__ = ["load_json"]


def load_json(path: str | Path, error: type[BayesfitError], what: str = "file") -> Any:
    """The JSON document in ``path``; ``error(message)`` if it cannot be read, is not UTF-8 text,
    not JSON, or an object in it repeats a key. ``what`` names the file in messages."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as stream:
            return json.load(stream, object_pairs_hook=lambda pairs: _unique_keys(pairs, path, error))
    except OSError as reading:
        raise error(f"{path}: cannot read {what}: {reading.strerror}") from None
    except UnicodeDecodeError as decoding:
        raise error(f"{path}: {what} is not a UTF-8 text file ({describe_undecodable(decoding)})") from None
    except json.JSONDecodeError as parsing:
        raise error(
            f"{path}: {what} is not valid JSON (line {parsing.lineno}, column {parsing.colno}): {parsing.msg}"
        ) from None


def _unique_keys(pairs: list[tuple[str, Any]], path: Path, error: type[BayesfitError]) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for key, value in pairs:
        if key in mapping:
            raise error(f"{path}: a JSON object repeats the key {key!r}")
        mapping[key] = value
    return mapping
