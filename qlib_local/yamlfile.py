"""Reading a YAML config: a missing file or bad YAML is one clear line, in the caller's error type.

Scalars are typed as YAML 1.2's core schema types them, not as PyYAML's YAML 1.1 does:
only ``true``/``false`` are booleans (``yes``, ``no``, ``on``, ``off`` stay strings, so a
field expecting a boolean refuses them instead of guessing), ``5e-4`` and ``1e999`` are floats
(the latter infinite, which the value checks refuse), ``012`` is twelve, not octal ten, and
``1:30`` is a string, not ninety.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from qlib_local.errors import QlibError

BOOL_TAG = "tag:yaml.org,2002:bool"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"


class ConfigLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with YAML 1.2 core-schema booleans, integers and floats."""


ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (BOOL_TAG, INT_TAG, FLOAT_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ConfigLoader.add_implicit_resolver(BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
ConfigLoader.add_implicit_resolver(
    INT_TAG, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789"))
ConfigLoader.add_implicit_resolver(
    FLOAT_TAG,
    re.compile(r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
                   |[-+]?\.(?:inf|Inf|INF)
                   |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def _bool(loader: ConfigLoader, node: yaml.ScalarNode) -> bool:
    return loader.construct_scalar(node).lower() == "true"


def _int(loader: ConfigLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith(("0o", "0x")):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text, 10)  # base 10 even with leading zeros


ConfigLoader.add_constructor(BOOL_TAG, _bool)
ConfigLoader.add_constructor(INT_TAG, _int)
# floats: SafeLoader's constructor handles every form the resolver above admits


def parse_yaml(text: str) -> Any:
    """Parse config text with :class:`ConfigLoader` (raises ``yaml.YAMLError``)."""
    return yaml.load(text, Loader=ConfigLoader)  # a SafeLoader subclass: no arbitrary objects


def read_yaml(path: str | Path, error: type[QlibError], missing: str) -> Any:
    """Parsed YAML of ``path``; raises ``error(missing)`` when the file does not exist."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise error(missing) from None
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"{path}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    try:
        return parse_yaml(text)
    except yaml.YAMLError as e:
        raise error(f"{path}: not valid YAML ({_one_line(e)})") from None


def _one_line(e: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as one line: the problem and where it is."""
    problem = getattr(e, "problem", None)
    mark = getattr(e, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(e).split())
