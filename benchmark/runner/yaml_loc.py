"""Where a key sits in a YAML file, so that an error names the file, the key and its line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from benchmark.errors import KdbenchError


def line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (mapping keys and sequence indices from the
    top; the deepest node that exists), ``None`` if ``text`` is not valid YAML."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if k.value == str(key)]
            if not match:
                break
            node = match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
        line = node.start_mark.line + 1
    return line


def located_error(path: Path, text: str, loc: tuple[Any, ...], msg: str) -> KdbenchError:
    """One line: ``<file> line <n>: <dotted key>: <msg>``."""
    line = line_of(text, loc)
    key = ".".join(str(p) for p in loc) or "(top level)"
    return KdbenchError(f"{path}{f' line {line}' if line else ''}: {key}: {msg}")
