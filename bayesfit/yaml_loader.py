"""bayesfit's safe YAML loader: YAML 1.2 numbers, no duplicate keys, bounded aliases.

Every YAML reader of bayesfit (analysis files, ``--set`` values, binning and histogram files,
ReMU's tagged binnings) parses with :class:`SafeLoader`, so these rules hold everywhere:

- numbers are read as YAML 1.2 does: PyYAML follows YAML 1.1, where ``1.0e5`` and ``1e5`` (no
  sign in the exponent) are *strings*; physicists write energies that way;
- a key given twice in one mapping is an error naming the key and both lines (PyYAML silently
  keeps the last value); keys brought in by a merge (``<<: *defaults``) may be overridden;
- aliases are expanded, but a recursive one (a node containing itself) is an error, and so is a
  document whose aliases expand it by more than :data:`MAX_ALIAS_EXPANSION` nodes (an "alias
  bomb" of a few lines that would expand to billions of nodes), or that nests deeper than Python
  can parse.

The errors are :class:`yaml.MarkedYAMLError` s with the line of the offending node, which each
reader turns into its own bayesfit error (file and line in the message).
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

__all__ = ["MAX_ALIAS_EXPANSION", "SafeLoader"]

#: Most nodes that aliases may add to a document when expanded (each alias counts the size of
#: the node it repeats). A document without aliases is never limited.
MAX_ALIAS_EXPANSION = 100_000

_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
    re.VERBOSE,
)

_MERGE_TAG = "tag:yaml.org,2002:merge"


class SafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with YAML 1.2 floats, duplicate keys refused and aliases bounded."""

    def compose_document(self) -> yaml.Node | None:
        """The document's node graph, refused if an alias makes it recursive or too large."""
        try:
            node = super().compose_document()
        except RecursionError:
            raise ComposerError(
                None, None, "the document is nested too deeply to be read", self.peek_event().start_mark
            ) from None
        if node is not None:
            _check_expansion(node)
        return node

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        """A mapping whose keys are all distinct (before merges are applied)."""
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:  # unhashable: PyYAML's own message follows
                    continue
                if first is not key_node:
                    raise ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"duplicate key {key!r} (first given on line {first.start_mark.line + 1}, "
                        f"again on line {key_node.start_mark.line + 1})",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)


def _check_expansion(root: yaml.Node) -> None:
    """Raise a :class:`ComposerError` if ``root`` contains itself or expands by too many nodes.

    A node reached twice (an alias) is counted at its full expanded size each time, computed once
    per node (so the check itself costs the number of distinct nodes, not the expansion).
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()

    def expanded(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in on_path:
            raise ComposerError(
                None, None, "recursive alias: the anchored node contains an alias of itself", node.start_mark
            )
        on_path.add(key)
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        size = 1 + sum(expanded(child) for child in children)
        on_path.discard(key)
        sizes[key] = size
        if size - len(sizes) > MAX_ALIAS_EXPANSION:
            raise ComposerError(
                None, None,
                f"aliases expand the document to more than {MAX_ALIAS_EXPANSION} extra nodes "
                "(an alias bomb?); write the repeated parts out or use fewer nested aliases",
                node.start_mark,
            )
        return size

    try:
        expanded(root)
    except RecursionError:
        raise ComposerError(None, None, "the document is nested too deeply to be read", root.start_mark) from None


SafeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
SafeLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))
