"""Reading YAML documents while remembering the line of every key.

Analysis files are validated after loading; to name the line of a bad value, the loader keeps a map
from each key path (a tuple of mapping keys and list indices) to the 1-based line it stands on.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from bayesfit.errors import AnalysisFileError, describe_undecodable
from bayesfit.yaml_loader import SafeLoader

__all__ = ["LocatedDocument", "load_located_yaml", "format_key_path"]

KeyPath = tuple[Hashable, ...]


class LocatedDocument(NamedTuple):
    """A parsed YAML document and the line of each of its key paths.

    Attributes
    ----------
    data:
        The document as plain Python objects (dicts, lists, scalars).
    lines:
        Maps a key path such as ``("parameters", "astro_gamma", "prior")`` to its 1-based line.
    origin:
        Where the text came from (a file path or ``"<string>"``), for messages.
    """

    data: Any
    lines: dict[KeyPath, int]
    origin: str

    def line_of(self, path: Sequence[Hashable]) -> int | None:
        """The line of ``path`` or, failing that, of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None

    def where(self, path: Sequence[Hashable]) -> str:
        """``"file.yaml line 12: key.path"`` for error messages."""
        line = self.line_of(path)
        location = self.origin if line is None else f"{self.origin} line {line}"
        return f"{location}: {format_key_path(path)}" if path else location


def format_key_path(path: Sequence[Hashable]) -> str:
    """``("parameters", "gamma", "bounds", 0)`` -> ``"parameters.gamma.bounds[0]"``."""
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text


def load_located_yaml(source: str | Path, *, text: str | None = None) -> LocatedDocument:
    """Parse a YAML file (or ``text``, labelled ``source``) keeping the line of every key.

    Raises
    ------
    AnalysisFileError
        If the file is missing, unreadable or not UTF-8 text, or the YAML is malformed (with the
        line and column): a syntax error, a key given twice in a mapping (both lines), a recursive
        alias or aliases that expand the document beyond
        :data:`~bayesfit.yaml_loader.MAX_ALIAS_EXPANSION` nodes.
    """
    origin = str(source)
    if text is None:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise AnalysisFileError(f"{origin}: file not found") from None
        except UnicodeDecodeError as error:
            raise AnalysisFileError(f"{origin}: not a UTF-8 text file ({describe_undecodable(error)})") from None
        except OSError as error:
            raise AnalysisFileError(f"{origin}: cannot read file ({error.strerror})") from None
    loader = SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise AnalysisFileError(f"{origin}: the file is empty")
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{origin} line {mark.line + 1}, column {mark.column + 1}" if mark else origin
        raise AnalysisFileError(f"{where}: malformed YAML: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise AnalysisFileError(f"{origin}: malformed YAML: {error}") from None
    finally:
        loader.dispose()
    lines: dict[KeyPath, int] = {}
    _record_lines(node, data, (), lines)
    return LocatedDocument(data, lines, origin)


def _record_lines(node: yaml.Node, data: Any, path: KeyPath, lines: dict[KeyPath, int]) -> None:
    if isinstance(node, yaml.MappingNode) and isinstance(data, dict):
        for key_node, value_node in node.value:
            key = _scalar_key(key_node, data)
            if key is None:
                continue
            lines[path + (key,)] = key_node.start_mark.line + 1
            _record_lines(value_node, data[key], path + (key,), lines)
    elif isinstance(node, yaml.SequenceNode) and isinstance(data, list):
        for index, (item_node, item) in enumerate(zip(node.value, data)):
            lines[path + (index,)] = item_node.start_mark.line + 1
            _record_lines(item_node, item, path + (index,), lines)


def _scalar_key(key_node: yaml.Node, mapping: dict) -> Hashable | None:
    """The constructed key of ``key_node`` in ``mapping`` (YAML may type it: int, bool, float)."""
    if not isinstance(key_node, yaml.ScalarNode):
        return None
    raw = key_node.value
    if raw in mapping:
        return raw
    resolved = yaml.load(raw, Loader=SafeLoader) if key_node.tag != "tag:yaml.org,2002:str" else raw
    return resolved if resolved in mapping else None
