"""YAML files the user writes (budgets, datasets files, the report's anchors), read strictly: a key given twice in
one mapping is refused with its line, where PyYAML would silently keep the last one (a second `datasets:` block
would quietly drop the first list)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class DuplicateKey(yaml.constructor.ConstructorError):
    """A mapping names one key twice."""


class _StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`: its keys may be overridden here
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise DuplicateKey(None, None, f"key {key!r} appears twice (lines {seen[key]} and {line}); each key "
                                   f"once", key_node.start_mark)
            if isinstance(key, (str, int, float, bool)):
                seen[key] = line
        return super().construct_mapping(node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping)


def loads(text: str) -> Any:
    """The document in `text`; yaml.YAMLError (DuplicateKey for a repeated key) when it is not strict YAML."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def describe_error(path: str | Path, exc: Exception) -> str:
    """One line for a file that does not read as YAML: the file, the line, what is wrong."""
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1})" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
    if isinstance(exc, DuplicateKey):
        return f"{path}: {problem}"
    return f"{path}: not YAML{where}: {type(exc).__name__}: {problem}"
