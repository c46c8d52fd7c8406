# ruff: noqa: F811 (fixtures imported from tests.unit.platforms.trifacta.trifacta_fixtures)
"""Connections and plan checks of the trifacta platform; every request and every faked
answer is checked against the project's API description (the ``rsps`` fixture)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from runner.errors import PlatformError
from runner.platforms.trifacta.checks import redshift_message
from runner.spec.model import Connection, Job, Target
from runner.spec.secrets import MASK, Secret
from tests.unit.platforms.trifacta.trifacta_fixtures import (  # noqa: F401
    BASE,
    PG,
    PG_BODY,
    PG_PASSWORD,
    TABLE2,
    FakeClock,
    clock,
    make_platform,
    make_spec,
    rsps,
)

LIST_QUERY = {"filter": "pg", "filterFields": "name", "limit": "100", "offset": "0"}


def conn(cid: int, name: str, vendor: str = "postgres", **extra: Any) -> dict[str, Any]:
    """A connection as GET /v4/connections/{id} documents it."""
    return {
        "id": cid,
        "uuid": f"u{cid}",
        "name": name,
        "vendor": vendor,
        "vendorName": vendor,
        "type": "jdbc",
        "credentialType": "basic",
        **extra,
    }


def test_create_connection_finds_by_name_then_posts_the_documented_body(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    platform = make_platform(make_spec(connections={"pg": PG}), clock)
    rsps.get(
        f"{BASE}/v4/connections",
        json={"data": [conn(3, "pg-old")], "count": 1},
        match=[matchers.query_param_matcher(LIST_QUERY)],
    )
    rsps.post(f"{BASE}/v4/connections", status=201, json=conn(5, "pg"))
    assert platform.ensure_connection(PG, None).remote_id == 5
    assert rsps.calls[1].request.body == json.dumps(PG_BODY).encode()


def test_connection_calls_mask_the_password_and_never_patch(clock: FakeClock) -> None:
    platform = make_platform(make_spec(connections={"pg": PG}), clock)
    calls = platform.connection_calls(PG, None)
    assert [(c.method, c.path.split("?")[0]) for c in calls] == [
        ("GET", "/v4/connections"),
        ("POST", "/v4/connections"),
    ]
    assert calls[1].body["credentials"] == [{"username": "loader", "password": MASK}]
    assert PG_PASSWORD not in json.dumps([c.to_json() for c in calls])
    assert [(c.method, c.path) for c in platform.connection_calls(PG, 5)] == [
        ("GET", "/v4/connections/5")
    ]
    assert "change it in the application" in platform.connection_update_note(PG, 5)


def test_find_by_name_pages_through_results(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    platform = make_platform(make_spec(connections={"pg": PG}), clock)
    page1 = [conn(i, f"pg{i}") for i in range(100)]
    rsps.get(
        f"{BASE}/v4/connections",
        json={"data": page1},
        match=[matchers.query_param_matcher(LIST_QUERY)],
    )
    rsps.get(
        f"{BASE}/v4/connections",
        json={"data": [conn(777, "pg")]},
        match=[matchers.query_param_matcher({**LIST_QUERY, "offset": "100"})],
    )
    assert platform.ensure_connection(PG, None).remote_id == 777


def test_a_changed_connection_is_checked_not_patched(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    platform = make_platform(make_spec(connections={"pg": PG}), clock)
    shown = conn(5, "pg", host="old.example.com", port=5432, params={"database": "sales"})
    rsps.get(f"{BASE}/v4/connections/5", json=shown)
    with pytest.raises(PlatformError) as info:
        platform.ensure_connection(PG, 5)
    assert "host is 'old.example.com', the spec says 'db.example.com'" in str(info.value)
    assert "Change it in the application" in str(info.value)
    platform._connections[5] = {**shown, "host": "db.example.com"}  # changed there
    assert platform.ensure_connection(PG, 5).remote_id == 5


def test_a_gone_connection_is_made_again(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    platform = make_platform(make_spec(connections={"pg": PG}), clock)
    rsps.get(
        f"{BASE}/v4/connections/5",
        status=404,
        json={"exception": {"name": "NotFound", "message": "no connection 5"}},
    )
    rsps.get(f"{BASE}/v4/connections", json={"data": []})
    rsps.post(f"{BASE}/v4/connections", status=201, json=conn(6, "pg"))
    assert platform.ensure_connection(PG, 5).remote_id == 6


def test_lost_connection_create_response_finds_it_by_name(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    platform = make_platform(make_spec(connections={"pg": PG}), clock)
    rsps.get(f"{BASE}/v4/connections", json={"data": []})
    rsps.post(f"{BASE}/v4/connections", body=requests.ReadTimeout("read timed out"))
    rsps.get(f"{BASE}/v4/connections", json={"data": [conn(8, "pg")]})
    assert platform.ensure_connection(PG, None).remote_id == 8
    assert [c.request.method for c in rsps.calls].count("POST") == 1


def test_two_connections_with_the_name_ask_to_adopt_by_id(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.get(f"{BASE}/v4/connections", json={"data": [conn(1, "pg"), conn(2, "pg")]})
    with pytest.raises(PlatformError, match=r"2 connections are named pg \(ids 1, 2\); adopt one"):
        make_platform(make_spec(connections={"pg": PG}), clock).ensure_connection(PG, None)


def test_check_connection_uses_status_and_dry_run_only_where_documented(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    cloud = make_platform(make_spec(connections={"pg": PG}), clock)
    rsps.get(f"{BASE}/v4/connections/2/status", json={"result": "SUCCESS"})
    assert cloud.check_connection(Connection("redshift", id=2)) is None
    refused = cloud.check_connection(PG)
    assert (
        refused is not None and "POST /v4/connections/dryRun is documented for on-prem" in refused
    )
    onprem = make_platform(make_spec(connections={"pg": PG}, release="6.4"), clock)
    rsps.post(
        f"{BASE}/v4/connections/dryRun",
        json={
            "result": "FAILURE",
            "reason": {
                "exception": {"name": "ConnectFailed", "message": "timeout", "details": "host down"}
            },
        },
        match=[matchers.json_params_matcher(PG_BODY)],
    )
    assert onprem.check_connection(PG) == (
        "connection.pg: the connection test failed: ConnectFailed: timeout (host down)"
    )


def test_connection_fingerprint_compares_secrets_by_fingerprint(clock: FakeClock) -> None:
    platform = make_platform(make_spec(), clock)
    same = Connection(**{**PG.__dict__, "password": Secret(PG_PASSWORD, ["OTHER_NAME"])})
    changed = Connection(**{**PG.__dict__, "password": Secret("new-password", ["PG_PASSWORD"])})
    assert platform.connection_fingerprint(PG) == platform.connection_fingerprint(same)
    assert platform.connection_fingerprint(PG) != platform.connection_fingerprint(changed)


# --- plan errors -------------------------------------------------------------------------
def test_redshift_connection_must_be_adopted(clock: FakeClock) -> None:
    redshift = Connection(
        "rs", vendor="redshift", host="h", port=5439, database="d", username="u", password="p"
    )
    spec = make_spec(connections={"rs": redshift}, targets={})
    assert make_platform(spec, clock).check(spec, remote=False) == [redshift_message("rs")]


def test_plan_errors_for_what_the_docs_forbid(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.get(f"{BASE}/v4/connections/2", json=conn(2, "rs", "redshift"))
    rsps.get(f"{BASE}/v4/connections/3", json=conn(3, "pg3"))
    rsps.get(
        f"{BASE}/v4/connections/4",
        status=404,
        json={"exception": {"name": "NotFound", "message": "no connection 4"}},
    )
    spec = make_spec(
        release="6.4",
        connections={
            "rs": Connection("rs", id=2),
            "pg3": Connection("pg3", id=3),
            "gone": Connection("gone", id=4),
            "lite": Connection("lite", vendor="sqlite", database="x.db"),
        },
        jobs={
            "a": Job("a", wrangled_dataset=1, outputs=("csv",)),
            "b": Job(
                "b",
                outputs=("hyper",),
                execution="photon",
                overrides={"execution": "spark", "publications": []},
            ),
        },
        targets={
            "fmt": Target(
                "fmt", job="a", connection="rs", table="t", path=("public",), input_format="avro"
            ),
            "csv": Target("csv", job="a", connection="rs", table="t", input_format="csv"),
            "gone": Target("gone", job="a", connection="gone", table="t", input_format="csv"),
            "hy": Target("hy", job="b", connection="pg3", table="t", input_format="hyper"),
            "pub": Target(
                "pub", job="a", connection="pg3", table="t", input_format="csv", via="publish"
            ),
            "up": Target(
                "up",
                job="a",
                connection="rs",
                table="t",
                input_format="csv",
                action="upsert",
                key=("id",),
                via="publish",
            ),
        },
    )
    problems = make_platform(spec, clock).check(spec)
    assert problems == [
        "connection.lite: vendor sqlite is not a Trifacta connection type; use one of mysql, "
        "postgres, or adopt a connection made in the application with `id: N`",
        "job.b: wrangledDataset (the recipe id to run) is required on the trifacta platform",
        "job.b: execution is photon and overrides.execution is spark; give the running "
        "environment once",
        "job.b: overrides.publications has no documented shape and is not sent; declare each "
        "table as a target (via: outputObject makes it a publication of the recipe's output "
        "object)",
        "target.fmt: inputFormat avro is not written by job.a (outputs: csv); add it to the "
        "job's outputs or publish one of those",
        "target.csv: publishing to Redshift needs Avro results; set inputFormat: avro (and "
        "avro in the job's outputs)",
        "connection.gone: connection 4 does not exist (GET /v4/connections/4 answered 404); "
        "check the id",
        "target.hy: the photon running environment does not write hyper results (it writes "
        "avro, csv, json, parquet, pqt); change job.b.overrides.execution or the inputFormat",
        "target.pub: PUT /v4/jobGroups/{id}/publish publishes to hive and redshift only (the "
        "release pages), not postgres; use via: outputObject",
        "target.up: publishing to Redshift needs Avro results; set inputFormat: avro (and avro "
        "in the job's outputs)",
        "target.up: action upsert needs a key, which PUT /v4/jobGroups/{id}/publish cannot "
        "carry; use another action, or via: outputObject",
    ]


def test_via_publish_needs_a_release_that_documents_it(clock: FakeClock) -> None:
    target = Target(**{**TABLE2.__dict__, "via": "publish"})
    for release, refused in (("cloud", True), ("5.1", True), ("6.0", False), ("10.4", False)):
        spec = make_spec(targets={"table2": target}, release=release)
        problems = make_platform(spec, clock).check(spec, remote=False)
        assert bool(problems) is refused, (release, problems)


def test_connection_to_create_needs_its_fields(clock: FakeClock) -> None:
    bare = Connection("pg", vendor="postgres", host="h", params={"schema": "x"})
    spec = make_spec(connections={"pg": bare}, targets={})
    assert make_platform(spec, clock).check(spec, remote=False) == [
        "connection.pg: port, database, username, password needed to create it through the "
        "API (or adopt an existing connection with `id: N`)",
        "connection.pg: params.schema is not supported on the trifacta platform; put driver "
        "options in params.connectStrOpts",
    ]
