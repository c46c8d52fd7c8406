"""docs/spec.md, generated from the spec's JSON Schema (the one source of truth).

    python -m runner.specdoc            print the page
    python -m runner.specdoc --write    rewrite docs/spec.md (run after changing the schema)
    python -m runner.specdoc --check    exit 1 when docs/spec.md is stale or a key is undocumented

Every key the schema accepts gets a row: its type, whether it is required, its default,
its allowed values and its description. A key without a description is an error here,
so the schema cannot grow a key that the documentation does not explain.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).resolve().parent / "schemas" / "publish-spec.schema.json"
DOC_FILE = Path(__file__).resolve().parent.parent / "docs" / "spec.md"

# (section heading, the spec's path to it, the schema node)
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("Top level", "", "#"),
    ("platform", "platform", "#/$defs/platform"),
    ("state", "state", "#/$defs/state"),
    ("connections.NAME", "connections.NAME", "#/$defs/connection"),
    ("jobs.NAME", "jobs.NAME", "#/$defs/job"),
    ("targets.NAME", "targets.NAME", "#/$defs/target"),
    ("environments.NAME", "environments.NAME", "#/$defs/environment"),
)
# inside an environment these overlay the sections above: their keys are documented there
OVERLAYS = {"platform", "state", "connections", "jobs", "targets"}

Node = Mapping[str, Any]


@dataclass(frozen=True)
class Key:
    """One key of the spec, as the page documents it."""

    path: str  # dotted, relative to its section: "overrides.execution"
    node: Node
    required: bool


class UndocumentedError(ValueError):
    """A schema key without a description."""


def load_schema(path: Path = SCHEMA_FILE) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _resolve(schema: Node, node: Node) -> Node:
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    target: Any = schema
    for part in ref.removeprefix("#/").split("/") if ref != "#" else []:
        target = target[part]
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def _keys(schema: Node, node: Node, prefix: str, *, nested: bool) -> Iterator[Key]:
    required = set(node.get("required", ()))
    for name, raw in node.get("properties", {}).items():
        child = _resolve(schema, raw)
        path = f"{prefix}{name}"
        yield Key(path, child, name in required)
        if nested and child.get("type") == "object" and "properties" in child:
            yield from _keys(schema, child, f"{path}.", nested=True)


def section_keys(schema: Node, ref: str) -> list[Key]:
    node = _resolve(schema, {"$ref": ref})
    # the top level and environments list their own keys; the sections document the rest
    return list(_keys(schema, node, "", nested=ref not in {"#", "#/$defs/environment"}))


def all_properties(schema: Node) -> Iterator[tuple[str, Node]]:
    """Every property the schema declares anywhere, with a JSON-ish path, for the checks."""

    def walk(node: Any, path: str) -> Iterator[tuple[str, Node]]:
        if isinstance(node, dict):
            for name, child in node.get("properties", {}).items():
                yield f"{path}.{name}", child
                yield from walk(child, f"{path}.{name}")
            for key, value in node.items():
                if key in {"properties", "if", "then", "else", "allOf", "anyOf", "oneOf", "not"}:
                    continue  # conditionals restate declared properties, they add none
                if isinstance(value, dict):
                    yield from walk(value, f"{path}/{key}")

    yield from walk(schema, "$")


def undocumented(schema: Node) -> list[str]:
    """Paths of properties with no description (after following $ref)."""
    return [
        path
        for path, node in all_properties(schema)
        if not str(_resolve(schema, node).get("description", "")).strip()
    ]


def _type(node: Node) -> str:
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    for alternative in node.get("anyOf", node.get("oneOf", [])):
        if isinstance(alternative, dict) and "type" in alternative:
            kinds.append(_type(alternative))
    text = " or ".join(str(k) for k in kinds) or "any"
    items = node.get("items")
    if kind == "array" and isinstance(items, dict) and items.get("type"):
        text = f"array of {items['type']}"
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        text = "mapping"
    return text


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _row(key: Key) -> str:
    node = key.node
    allowed = node.get("enum")
    values = ", ".join(f"`{v}`" for v in allowed) if isinstance(allowed, list) else ""
    default = f"`{json.dumps(node['default'])}`" if "default" in node else ""
    return (
        f"| `{key.path}` | {_type(node)} | {'yes' if key.required else ''} | {default} "
        f"| {values} | {_cell(str(node.get('description', '')))} |"
    )


def _section(schema: Node, heading: str, where: str, ref: str) -> list[str]:
    node = _resolve(schema, {"$ref": ref})
    lines = [f"## {heading}", ""]
    if where:
        lines += [f"Spec path: `{where}`.", ""]
    if node.get("description") and ref != "#":
        lines += [_cell(str(node["description"])), ""]
    lines += [
        "| key | type | required | default | values | description |",
        "|---|---|---|---|---|---|",
    ]
    lines += [_row(k) for k in section_keys(schema, ref)]
    if ref == "#/$defs/environment":
        lines += [
            "",
            "Inside an environment, `"
            + "`, `".join(sorted(OVERLAYS))
            + "` take the keys of the sections above (every one optional); they are deep-merged"
            " over the spec.",
        ]
    return [*lines, ""]


def render(schema: Node) -> str:
    """The whole page; raises UndocumentedError when a key has no description."""
    missing = undocumented(schema)
    if missing:
        raise UndocumentedError(
            "schema keys without a description (add one in runner/schemas/"
            "publish-spec.schema.json): " + ", ".join(missing)
        )
    lines = [
        "# Spec reference",
        "",
        "<!-- Generated from runner/schemas/publish-spec.schema.json by"
        " `python -m runner.specdoc --write`; do not edit by hand. -->",
        "",
        _cell(str(schema.get("description", ""))),
        "",
        "Editors: `publish init` starts a spec with a `# yaml-language-server: $schema=...` line"
        " naming the installed schema file (`publish schema --path` prints it), so"
        " editors with the YAML language server complete and check every key below.",
        "",
    ]
    extensions = schema.get("patternProperties", {})
    for section in SECTIONS:
        lines += _section(schema, *section)
    for pattern, node in extensions.items():
        lines += [f"Keys matching `{pattern}`: {_cell(str(node.get('description', '')))}", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    text = render(load_schema())
    if "--write" in args:
        DOC_FILE.write_text(text, encoding="utf-8")
        return 0
    if "--check" in args:
        current = DOC_FILE.read_text(encoding="utf-8") if DOC_FILE.exists() else ""
        if current != text:
            print(f"{DOC_FILE} is stale: run python -m runner.specdoc --write", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
