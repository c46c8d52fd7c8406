"""The JSON Schema itself: editor-ready, strict, and the fast pre-check agrees with it."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from runner.spec.fastcheck import _checker, surely_valid
from runner.spec.load import load_file
from runner.spec.schema import SCHEMA_FILE, environments_schema, schema

REPO = Path(__file__).resolve().parents[3]


def _objects(node: Any, where: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _objects(value, f"{where}/{i}")


def test_schema_is_valid_draft_2020_12_with_an_id() -> None:
    data = json.loads(SCHEMA_FILE.read_text())
    Draft202012Validator.check_schema(data)
    assert data["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert data["$id"] == "https://publish.dev/schemas/publish-spec.schema.json"
    assert (REPO / "schemas" / "publish-spec.schema.json").read_text() == SCHEMA_FILE.read_text()


def test_every_property_has_a_title_and_a_description() -> None:
    missing = []
    for where, node in _objects(schema()):
        if "/if" in where:  # conditions, not properties
            continue
        for name, sub in node.get("properties", {}).items():
            target = sub
            if "$ref" in sub:
                target = schema()["$defs"][sub["$ref"].split("/")[-1]]
            if not target.get("title") or not target.get("description"):
                missing.append(f"{where}/properties/{name}")
    assert missing == []


def test_every_object_with_properties_is_strict() -> None:
    loose = []
    for where, node in _objects(schema()):
        if "properties" in node and node.get("type") == "object":
            extra = node.get("additionalProperties")
            if extra is not False and "/overrides" not in where:
                loose.append(where)
    assert loose == []


def test_examples_point_editors_at_the_schema() -> None:
    specs = [
        *(REPO / "publish_specs").rglob("*.yaml"),
        *(REPO / "tests/corpus/good").glob("*.yaml"),
    ]
    assert specs
    for spec in specs:
        first = spec.read_text().splitlines()[0]
        prefix = "# yaml-language-server: $schema="
        assert first.startswith(prefix), spec
        target = (spec.parent / first[len(prefix) :]).resolve()
        assert target == SCHEMA_FILE, spec


def test_fast_check_covers_every_keyword_of_the_schema() -> None:
    assert _checker() is not None


def _documents() -> Iterator[dict[str, Any]]:
    for folder in ("good", "bad"):
        for spec in sorted((REPO / "tests" / "corpus" / folder).glob("*.yaml")):
            try:
                yield load_file(spec).data
            except Exception:
                continue
    base = load_file(REPO / "publish_specs" / "quickstart" / "publish.yaml").data
    base.pop("environments")
    base["targets"]["orders_latest"]["path"] = ["main"]
    yield base
    mutations = [
        ("targets", "orders_latest", "action", "bogus"),
        ("targets", "orders_latest", "table", "x" * 64),
        ("targets", "orders_latest", "table", "x" * 63),
        ("targets", "orders_latest", "key", []),
        ("targets", "orders_latest", "key", ["a", "a"]),
        ("targets", "orders_latest", "protect", "yes"),
        ("targets", "orders_latest", "protect", 1),
        ("connections", "warehouse", "port", True),
        ("connections", "warehouse", "port", 70000),
        ("connections", "warehouse", "port", 1),
        ("connections", "warehouse", "id", 2),
        ("connections", "warehouse", "params", {"a": [1]}),
        ("jobs", "orders_clean", "outputs", ["avro", "avro"]),
        ("jobs", "orders_clean", "outputs", []),
        ("jobs", "orders_clean", "overrides", {"anything": {"goes": 1}}),
        ("jobs", "orders_clean", "inputs", {}),
        ("jobs", "orders_clean", "wrangledDataset", 0),
        ("x-anchor", None, None, {"free": "form"}),
        ("version", None, None, 1.0),
        ("version", None, None, True),
        ("name", None, None, "-bad"),
    ]
    for section, name, key, value in mutations:
        doc = copy.deepcopy(base)
        if name is None:
            doc[section] = value
        else:
            doc[section][name][key] = value
        yield doc
    doc = copy.deepcopy(base)
    doc["targets"]["orders_merged"].pop("key")
    yield doc
    doc = copy.deepcopy(base)
    doc["platform"] = {"type": "trifacta", "url": "https://x"}
    yield doc


@pytest.mark.parametrize("doc", list(_documents()))
def test_fast_check_agrees_with_jsonschema(doc: dict[str, Any]) -> None:
    expected = Draft202012Validator(schema()).is_valid(doc)
    assert surely_valid(doc) == expected


def _environment_documents() -> Iterator[dict[str, Any]]:
    base = load_file(REPO / "publish_specs" / "quickstart" / "publish.yaml").data
    yield base
    for overlay in (
        {"vars": {"min_amount": 10}, "protect": True},
        {"vars": {"min_amount": 10}, "protec": True},
        {"targets": {"orders_latest": {"table": "t"}}},
        {"targets": {"orders_latest": {"tabel": "t"}}},
        {"connections": {"warehouse": {"database": "{{ vars.db }}"}}},
        "not a mapping",
        {"Bad Name!": {}},
    ):
        doc = copy.deepcopy(base)
        doc["environments"]["prod"] = overlay
        yield doc
    doc = copy.deepcopy(base)
    doc["environments"] = {"Bad Name!": {}}
    yield doc
    doc = copy.deepcopy(base)
    doc["environments"] = []
    yield doc


@pytest.mark.parametrize("doc", list(_environment_documents()))
def test_fast_check_of_environments_agrees_with_jsonschema(doc: dict[str, Any]) -> None:
    """validate checks the overlays as written with the fast check first (no jsonschema)."""
    expected = Draft202012Validator(environments_schema()).is_valid(doc)
    assert surely_valid(doc, environments_schema()) == expected
