"""schemas/plan.schema.json describes Plan.to_json exactly, and plans round-trip through JSON."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from plan_fixtures import big_plan, drift_plan, empty_plan, example_plan, trifacta_plan

from runner.plan.model import Change, Drift, Plan, SchemaChange
from runner.spec.secrets import Secret

ROOT = Path(__file__).resolve().parents[3]
SCHEMA_PATH = ROOT / "runner" / "schemas" / "plan.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text())
VALIDATOR = Draft202012Validator(SCHEMA)


def _errors(doc: Any) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in VALIDATOR.iter_errors(doc)]


def _secret_plan() -> Plan:
    secret = Secret("schema-test-secret-value", names=["PG_PASSWORD"])
    return Plan(
        spec_name="sales",
        spec_path="sales.yaml",
        spec_sha256="",
        rendered_sha256="",
        environment="default",
        lineage=None,
        serial=0,
        changes=(
            Change(
                address="connection.pg",
                action="update",
                reason="the password changed",
                details={"password": {"before": None, "after": secret.reference()}},
                api_calls=(
                    {
                        "method": "PATCH",
                        "path": "/v4/connections/2",
                        "body": {"credentials": [{"password": "***"}]},
                    },
                ),
            ),
        ),
    )


BUILDERS: dict[str, Callable[[], Plan]] = {
    "example": example_plan,
    "empty": empty_plan,
    "drift": drift_plan,
    "trifacta": trifacta_plan,
    "big": lambda: big_plan(300),
    "secret": _secret_plan,
}


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$id"] == "https://publish.dev/schemas/plan.schema.json"
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schemas_symlink_at_repo_root_is_the_same_file() -> None:
    assert (ROOT / "schemas" / "plan.schema.json").read_text() == SCHEMA_PATH.read_text()


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_example_plans_are_valid(name: str) -> None:
    plan = BUILDERS[name]()
    assert _errors(plan.to_json()) == []
    assert _errors(json.loads(plan.dumps())) == []


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_plans_round_trip_through_json(name: str) -> None:
    plan = BUILDERS[name]()
    again = Plan.from_json(plan.to_json())
    assert again == plan
    assert again.plan_id == plan.plan_id
    from_text = Plan.from_json(json.loads(plan.dumps()))
    assert from_text.dumps() == plan.dumps()


def test_no_changes_plan_has_empty_changes_and_zero_summary() -> None:
    doc = empty_plan().to_json()
    assert doc["changes"] == []
    assert doc["summary"] == {
        "create": 0,
        "update": 0,
        "forget": 0,
        "run": 0,
        "publish": 0,
        "destructive": 0,
    }


def _publish_change(doc: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in doc["changes"] if c["action"] == "publish")


# each mutation of a valid example plan must make it invalid
MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "format_version 2": lambda d: d.update(format_version="2"),
    "unknown top-level key": lambda d: d.update(extra=1),
    "missing summary": lambda d: d.pop("summary"),
    "summary without forget": lambda d: d["summary"].pop("forget"),
    "negative serial": lambda d: d["state"].update(serial=-1),
    "bad plan_id": lambda d: d.update(plan_id="XYZ"),
    "bad spec sha256": lambda d: d["spec"].update(sha256="abc"),
    "bad address": lambda d: d["changes"][0].update(address="table.orders"),
    "address with a dot in the name": lambda d: d["changes"][0].update(address="job.a.b"),
    "unknown action": lambda d: d["changes"][0].update(action="replace"),
    "unknown publishAction": lambda d: _publish_change(d).update(publishAction="merge"),
    "publish without rows": lambda d: _publish_change(d).pop("rows"),
    "publish without table": lambda d: _publish_change(d).pop("table"),
    "rows without estimated": lambda d: _publish_change(d)["rows"].pop("estimated"),
    "negative rows": lambda d: _publish_change(d)["rows"].update(existing=-3),
    "run change with a table": lambda d: d["changes"][1].update(table="x.y.z"),
    "schemaDiff bad class": lambda d: _publish_change(d)["schemaDiff"][0].update(
        {"class": "harmless"}
    ),
    "schemaDiff bad change": lambda d: _publish_change(d)["schemaDiff"][0].update(change="renamed"),
    "added column with a from type": lambda d: _publish_change(d)["schemaDiff"][0].update(
        {"from": "text"}
    ),
    "removed column called additive": lambda d: _publish_change(d)["schemaDiff"][1].update(
        {"class": "additive"}
    ),
    "empty depends_on": lambda d: _publish_change(d).update(depends_on=[]),
    "drift of unknown kind": lambda d: d["drift"].append(
        {"address": "target.x", "kind": "renamed", "message": "m", "recorded": None, "actual": None}
    ),
    "pulled_in not an address": lambda d: d.update(pulled_in=["orders"]),
    "secret reference without fingerprint": lambda d: d["changes"][0].update(
        details={"password": {"secret": ["PG_PASSWORD"]}}
    ),
    "api call without path": lambda d: d["changes"][0].update(api_calls=[{"method": "GET"}]),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_schema_rejects(name: str) -> None:
    doc = copy.deepcopy(example_plan().to_json())
    assert _errors(doc) == []
    MUTATIONS[name](doc)
    assert _errors(doc), f"{name}: accepted by the schema"


def test_drift_entries_validate_and_bad_ones_do_not() -> None:
    doc = drift_plan().to_json()
    assert _errors(doc) == []
    doc["drift"][0].pop("message")
    assert any("message" in e for e in _errors(doc))


# --- property: any plan the model can express validates and round-trips --------------------

_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
_addresses = st.builds(
    lambda k, n: f"{k}.{n}", st.sampled_from(["connection", "job", "target"]), _names
)
_rows = st.none() | st.integers(min_value=0, max_value=10**12)
_json_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
_json = st.recursive(
    _json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(_names.filter(lambda n: n != "secret"), inner, max_size=3)
    ),
    max_leaves=8,
)
_schema_changes = st.one_of(
    st.builds(lambda c: SchemaChange(c, "added", None, "text", "additive"), _names),
    st.builds(lambda c: SchemaChange(c, "removed", "text", None, "destructive"), _names),
    st.builds(lambda c: SchemaChange(c, "retyped", "integer", "text", "destructive"), _names),
)


@st.composite
def _changes(draw: st.DrawFn) -> Change:
    action = draw(st.sampled_from(["create", "update", "forget", "run", "publish"]))
    common: dict[str, Any] = {
        "address": draw(_addresses),
        "action": action,
        "reason": draw(st.text(max_size=30)),
        "depends_on": tuple(draw(st.lists(_addresses, max_size=3, unique=True))),
        "run_id": draw(st.none() | st.text(min_size=1, max_size=10)),
        "details": draw(st.dictionaries(_names, _json, max_size=3)),
        "api_calls": tuple(
            draw(
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "method": st.sampled_from(["GET", "PUT"]),
                            "path": st.just("/v4/jobGroups"),
                        },
                        optional={"body": _json.filter(lambda b: b is not None)},
                    ),
                    max_size=2,
                )
            )
        ),
    }
    if action != "publish":
        return Change(**common)
    return Change(
        **common,
        publish_action=draw(st.sampled_from(["createAndLoad", "truncateAndLoad", "upsert"])),
        table=draw(_names) + ".main.t",
        destructive=draw(st.booleans()),
        rows_existing=draw(_rows),
        rows_estimated=draw(st.booleans()),
        rows_incoming=draw(_rows),
        schema_diff=tuple(draw(st.lists(_schema_changes, max_size=3))),
        consequence=draw(st.text(max_size=20)),
    )


_drifts = st.builds(
    Drift,
    _addresses,
    st.sampled_from(["table_dropped", "rows_changed", "columns_changed"]),
    st.text(min_size=1, max_size=20),
    _json,
    _json,
)


@settings(max_examples=40, deadline=None)
@given(
    changes=st.lists(_changes(), max_size=5),
    drift=st.lists(_drifts, max_size=3),
    lineage=st.none() | st.text(max_size=10),
    serial=st.integers(min_value=0, max_value=10**6),
)
def test_any_model_plan_validates_and_round_trips(
    changes: list[Change], drift: list[Drift], lineage: str | None, serial: int
) -> None:
    plan = Plan(
        spec_name="sales",
        spec_path="sales.yaml",
        spec_sha256="a" * 64,
        rendered_sha256="b" * 64,
        environment="dev",
        lineage=lineage,
        serial=serial,
        changes=tuple(changes),
        drift=tuple(drift),
    )
    doc = json.loads(plan.dumps())
    assert _errors(doc) == []
    assert Plan.from_json(doc) == plan
