"""The project's description of the Trifacta API (runner/platforms/trifacta/openapi.json).

It is valid OpenAPI 3.0, says which release documents each operation, agrees with the
code's release table, and (when ../shared is there) agrees with the reference: the cloud
description for cloud operations, the on-prem notes' documented examples for the rest.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from runner.platforms.trifacta import releases
from tests.trifacta.openapi_check import ROOT, description

REFERENCE = Path("reference") / "trifacta-openapi" / "aac-v4-legacy.reconstructed.openapi.json"
NOTES = Path("reference") / "trifacta-api.md"
SHARED = next(
    (
        p
        for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared")
        if (p / REFERENCE).exists()
    ),
    None,
)
needs_reference = pytest.mark.skipif(SHARED is None, reason="../shared/reference is not here")


def _resolve(doc: dict[str, Any], schema: Any) -> Any:
    while isinstance(schema, dict) and "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, o) for p, ops in doc["paths"].items() for m, o in ops.items()]


def _schema_of(op: dict[str, Any], where: str) -> Any:
    if where == "request":
        body = op.get("requestBody", {})
        return body.get("content", {}).get("application/json", {}).get("schema")
    for code in ("200", "201"):
        content = op.get("responses", {}).get(code, {}).get("content")
        if content:
            return content["application/json"]["schema"]
    return None


def _compare(ours: dict[str, Any], ref: dict[str, Any], a: Any, b: Any, at: str) -> list[str]:
    """Field names and enums of schema ``a`` (ours) that the reference schema ``b`` lacks."""
    a, b = _resolve(ours, a), _resolve(ref, b)
    if not isinstance(a, dict) or not isinstance(b, dict):
        return []
    problems = []
    if "enum" in a and "enum" in b and not set(a["enum"]) <= set(b["enum"]):
        problems.append(f"{at}: enum {a['enum']} not within the reference's {b['enum']}")
    if "items" in a and "items" in b:
        problems += _compare(ours, ref, a["items"], b["items"], at + "[]")
    theirs = b.get("properties") or {}
    for name, prop in (a.get("properties") or {}).items():
        if name in theirs:
            problems += _compare(ours, ref, prop, theirs[name], f"{at}.{name}")
        elif theirs and "x-source" not in prop:
            problems.append(f"{at}.{name}: not in the reference (and no x-source says why)")
    return problems


def test_the_description_is_valid_openapi() -> None:
    validate(description())


def test_every_operation_says_which_release_documents_it() -> None:
    on_prem = {}
    for method, path, op in _operations(description()):
        source = op["x-documented-in"]
        assert source.startswith(("cloud", "on-prem")), (method, path)
        if source.startswith("on-prem"):
            on_prem[f"{method.upper()} {path}"] = source
    # the code's release table names exactly these, from the first release documenting them
    assert set(on_prem) == set(releases.SINCE)
    for endpoint, (major, minor) in releases.SINCE.items():
        assert on_prem[endpoint].startswith(f"on-prem {major}.{minor}")


def test_releases_gate_the_on_prem_endpoints() -> None:
    assert not releases.documents("cloud", releases.PUBLISH)
    assert not releases.documents("5.1", releases.PUBLISH)
    assert releases.documents("6.0", releases.PUBLISH)
    assert not releases.documents("6.0", releases.DRY_RUN)
    assert releases.documents("10.4", releases.DRY_RUN)
    assert releases.documents("cloud", "POST /v4/publications")


@needs_reference
def test_cloud_operations_agree_with_the_reference_description() -> None:
    assert SHARED is not None
    ours, ref = description(), json.loads((SHARED / REFERENCE).read_text())
    problems = []
    for method, path, op in _operations(ours):
        if not op["x-documented-in"].startswith("cloud"):
            assert method not in ref["paths"].get(path, {}), f"{method} {path} is in the cloud"
            continue
        theirs = ref["paths"].get(path, {}).get(method)
        if theirs is None:
            problems.append(f"{method.upper()} {path}: not in the reference")
            continue
        known = {(p["name"], p["in"]) for p in theirs.get("parameters", [])}
        problems += [
            f"{method.upper()} {path}: parameter {p['name']} not in the reference"
            for p in op.get("parameters", [])
            if (p["name"], p["in"]) not in known
        ]
        for where in ("request", "response"):
            problems += _compare(
                ours,
                ref,
                _schema_of(op, where),
                _schema_of(theirs, where),
                f"{method.upper()} {path} {where}",
            )
    assert problems == []


def _examples(notes: str, start: str) -> list[Any]:
    """The JSON objects in the notes that start with ``start`` (backticked examples)."""
    return [json.loads(m) for m in re.findall(r"`(\{" + re.escape(start) + r".*?\})`", notes)]


@needs_reference
def test_on_prem_operations_accept_the_documented_examples() -> None:
    assert SHARED is not None
    notes = (SHARED / NOTES).read_text()
    ours = description()
    schemas = {"components": ours["components"]}

    def validator(name: str) -> OAS30Validator:
        return OAS30Validator({**schemas, "$ref": f"#/components/schemas/{name}"})

    (put,) = _examples(notes, '"connection":{"id":1}')
    assert not list(validator("PublishRequest").iter_errors(put))
    assert list(put) == ["connection", "path", "table", "action", "inputFormat", "flowNodeId"]
    (answer,) = _examples(notes, '"jobgroupId":31')
    assert not list(validator("PublishResponse").iter_errors(answer))
    dry = _examples(notes, '"result":"SUCCESS","reason"')
    assert dry and not list(validator("ConnectionDryRunResult").iter_errors(dry[0]))
    (create,) = _examples(notes, '"name":"pg"')
    assert not list(validator("ConnectionCreateRequest").iter_errors(create))
