"""A safe YAML loader that reads numbers as YAML 1.2 does.

PyYAML follows YAML 1.1, where ``1.0e5`` and ``1e5`` (no sign in the exponent) are *strings*.
Physicists write energies that way, so bayesfit's loader resolves them as floats.
"""

from __future__ import annotations

import re

import yaml

__all__ = ["SafeLoader"]

_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
    re.VERBOSE,
)


class SafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with YAML 1.2 floats (``1e5``, ``1.0e5``)."""


SafeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
SafeLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))
