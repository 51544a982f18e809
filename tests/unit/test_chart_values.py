"""Every value of the chart is documented in values.yaml (a `# --` comment on it or on the
map it belongs to) and typed in values.schema.json."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[2] / "helm" / "heartbeat"
KEY = re.compile(r"^( *)([A-Za-z0-9_]+):")


def documented_paths(text: str) -> dict[tuple[str, ...], bool]:
    """Key path -> whether a `# --` comment block sits right above the key."""
    result: dict[tuple[str, ...], bool] = {}
    stack: list[tuple[int, str]] = []
    comment: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped)
            continue
        match = KEY.match(line)
        if not match:
            comment = []
            continue
        indent, key = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        result[tuple(k for _, k in stack)] = any(c.startswith("# --") for c in comment)
        comment = []
    return result


def value_paths(node: Any, prefix: tuple[str, ...] = (), *,
                leaves: bool = False) -> Iterator[tuple[str, ...]]:
    """Every key path of the values; with `leaves`, only those of non-map values (a map is
    documented through its keys)."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = (*prefix, str(key))
            if not (leaves and isinstance(value, dict) and value):
                yield path
            yield from value_paths(value, path, leaves=leaves)


def test_every_value_is_documented() -> None:
    docs = documented_paths((CHART / "values.yaml").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    undocumented = [".".join(p) for p in value_paths(values, leaves=True)
                    if not any(docs.get(p[:n]) for n in range(1, len(p) + 1))]
    assert not undocumented, f"values without a `# --` comment: {undocumented}"


def schema_node(schema: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    """The schema of `path`, {} when an ancestor is a free-form object, None when unknown."""
    node = schema
    for key in path:
        props = node.get("properties")
        if props is None:
            return {}  # free-form (Kubernetes objects passed through)
        if key not in props:
            return None
        node = props[key]
    return node


def test_every_value_is_typed_in_the_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = [".".join(p) for p in value_paths(values) if schema_node(schema, p) is None]
    assert not missing, f"values missing from values.schema.json: {missing}"
    untyped = [".".join(p) for p in value_paths(values)
               if (node := schema_node(schema, p)) and not ({"type", "oneOf"} & set(node))]
    assert not untyped, f"values without a type: {untyped}"


def test_schema_describes_every_property() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())

    def walk(node: dict[str, Any], path: str) -> Iterator[str]:
        for key, child in (node.get("properties") or {}).items():
            if "description" not in child and "properties" not in child:
                yield f"{path}{key}"
            yield from walk(child, f"{path}{key}.")

    assert not list(walk(schema, ""))


def test_schema_has_no_stale_keys() -> None:
    """Keys typed in the schema but absent from values.yaml are documented nowhere."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    known = set(value_paths(values))

    def walk(node: dict[str, Any], path: tuple[str, ...]) -> Iterator[str]:
        for key, child in (node.get("properties") or {}).items():
            if (*path, key) not in known and (*path, key) != ("global",):
                yield ".".join((*path, key))
            if (*path, key) in known:
                yield from walk(child, (*path, key))

    assert not list(walk(schema, ()))
