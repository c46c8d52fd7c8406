"""apply emits OpenLineage run events, received by a local HTTP server and valid against the spec.

The receiver listens on 127.0.0.1 (a thread in this process); publish finds it through the
standard OPENLINEAGE_URL, as a Marquez or DataHub endpoint would be found. Every event is
checked against the OpenLineage 2-0-2 run event schema and each facet against the schema its
``_schemaURL`` names (tests/lineage/openlineage.schema.json).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
from referencing import Registry, Resource

from tests.cli.helpers import BASIC, publish, write_spec

SCHEMAS = json.loads(
    (Path(__file__).resolve().parents[1] / "lineage" / "openlineage.schema.json").read_text()
)["resources"]
REGISTRY: Registry[Any] = Registry().with_resources(
    (s["$id"], Resource.from_contents(s)) for s in SCHEMAS
)
CORE = "https://openlineage.io/spec/2-0-2/OpenLineage.json"

FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


@FORMATS.checks("uri", raises=ValueError)
def _uri(value: object) -> bool:
    return not isinstance(value, str) or bool(urlsplit(value).scheme)


@FORMATS.checks("uuid", raises=ValueError)
def _uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(uuid.UUID(value))


def validate_event(event: dict[str, Any]) -> None:
    """The event against RunEvent, and every facet against its own _schemaURL."""
    assert event["schemaURL"] == f"{CORE}#/$defs/RunEvent"
    jsonschema.Draft202012Validator(
        {"$ref": f"{CORE}#/$defs/RunEvent"}, registry=REGISTRY, format_checker=FORMATS
    ).validate(event)
    facets: list[dict[str, Any]] = [
        *event["run"].get("facets", {}).values(),
        *event["job"].get("facets", {}).values(),
    ]
    for ds in [*event.get("inputs", []), *event.get("outputs", [])]:
        for key in ("facets", "inputFacets", "outputFacets"):
            facets += ds.get(key, {}).values()
    for facet in facets:
        url = facet["_schemaURL"]
        assert url.split("#")[0] in {s["$id"] for s in SCHEMAS}, f"unknown facet schema {url}"
        jsonschema.Draft202012Validator(
            {"$ref": url}, registry=REGISTRY, format_checker=FORMATS
        ).validate(facet)


class Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.events: list[dict[str, Any]] = []
        self.paths: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.paths.append(self.path)
        self.server.events.append(json.loads(body))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    saved = dict(os.environ)  # the OpenLineage client adds OPENLINEAGE__ aliases to os.environ
    for key in [k for k in os.environ if k.startswith("OPENLINEAGE")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("OPENLINEAGE_URL", server.url)
    monkeypatch.setenv("OPENLINEAGE_NAMESPACE", "analytics")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.openlineage of the machine
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        os.environ.clear()
        os.environ.update(saved)


def _by_job(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        out.setdefault(e["job"]["name"], []).append(e)
    return out


def test_apply_emits_valid_start_and_complete_events(
    receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path / "shop", BASIC)
    r = publish(capsys, "apply", "--auto-approve", str(spec))
    assert r.code == 0, r.err + r.out

    assert receiver.events, "no lineage event was received"
    assert set(receiver.paths) == {"/api/v1/lineage"}
    for event in receiver.events:
        validate_event(event)
    jobs = _by_job(receiver.events)
    assert set(jobs) == {
        "shop.default.job.orders_clean",
        "shop.default.target.orders_out",
        "shop.default.target.orders_copy",
    }
    for name, events in jobs.items():
        assert [e["eventType"] for e in events] == ["START", "COMPLETE"], name
        assert len({e["run"]["runId"] for e in events}) == 1
        assert events[0]["job"]["namespace"] == "analytics"
        assert events[0]["job"]["facets"]["jobType"]["integration"] == "PUBLISH"

    run_done = jobs["shop.default.job.orders_clean"][1]
    (source,) = run_done["inputs"]
    assert source == {
        "namespace": "file",
        "name": (tmp_path / "shop" / "data" / "orders.csv").resolve().as_posix(),
        "facets": {},
        "inputFacets": {},
    }
    assert "select id, customer, amount" in run_done["job"]["facets"]["sql"]["query"]
    results = {o["name"]: o for o in run_done["outputs"]}
    assert len(results) == 2  # avro and csv results
    results_dir = (tmp_path / "shop" / ".publish" / "results" / "orders_clean").resolve()
    assert set(results) == {f"{results_dir.as_posix()}/avro", f"{results_dir.as_posix()}/csv"}
    for out in results.values():  # one dataset per job and format; each run is a version
        assert out["namespace"] == "file"
        assert out["facets"]["version"]["datasetVersion"].startswith("r")
        assert out["outputFacets"]["outputStatistics"]["rowCount"] == 3
        assert [f["name"] for f in out["facets"]["schema"]["fields"]] == [
            "id",
            "customer",
            "amount",
        ]

    pub_done = jobs["shop.default.target.orders_out"][1]
    (table,) = pub_done["outputs"]
    db = (tmp_path / "shop" / "warehouse.db").resolve().as_posix()
    assert (table["namespace"], table["name"]) == (f"sqlite://{db}", "main.orders")
    fields = table["facets"]["schema"]["fields"]
    assert [f["name"] for f in fields] == ["id", "customer", "amount"]
    assert all(f["type"] for f in fields)
    assert table["outputFacets"]["outputStatistics"]["rowCount"] == 3
    (consumed,) = pub_done["inputs"]
    assert consumed["name"] in results  # the publication reads what the job wrote
    (copy_consumed,) = jobs["shop.default.target.orders_copy"][1]["inputs"]
    assert {consumed["name"], copy_consumed["name"]} == set(results)  # avro and csv
    assert receiver.events.index(pub_done) > receiver.events.index(run_done)


def test_a_failed_step_emits_fail_with_the_error(
    receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = BASIC.replace(  # fails when it runs (not at plan without a preview)
        "select id, customer, amount from orders where amount is not null",
        "select id, cast(customer as int) as customer, amount from orders",
    )
    spec = write_spec(tmp_path / "shop", failing)
    plan = tmp_path / "plan.json"
    assert publish(capsys, "plan", str(spec), "--no-preview", "--out", str(plan)).code == 0
    r = publish(capsys, "apply", str(plan))
    assert r.code == 1

    for event in receiver.events:
        validate_event(event)
    jobs = _by_job(receiver.events)
    job_events = jobs["shop.default.job.orders_clean"]
    assert [e["eventType"] for e in job_events] == ["START", "FAIL"]
    error = job_events[1]["run"]["facets"]["errorMessage"]
    assert "conversion from `str` to `i32` failed" in error["message"], error["message"]
    assert error["programmingLanguage"] == "python"
    assert set(jobs) == {"shop.default.job.orders_clean"}  # the publications never started


def test_schema_check_is_real() -> None:
    """An event missing its run id, or a facet without _producer, fails the validation."""
    event = {
        "eventType": "START",
        "eventTime": "2026-01-01T00:00:00+00:00",
        "producer": "https://example.invalid/p",
        "schemaURL": f"{CORE}#/$defs/RunEvent",
        "run": {"runId": "not-a-uuid"},
        "job": {"namespace": "n", "name": "j"},
    }
    with pytest.raises(jsonschema.ValidationError):
        validate_event(event)
    event["run"] = {
        "runId": str(uuid.uuid4()),
        "facets": {"x": {"_schemaURL": f"{CORE}#/$defs/RunFacet"}},
    }
    with pytest.raises((jsonschema.ValidationError, AssertionError)):
        validate_event(event)


def test_no_configuration_no_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from runner import lineage

    for key in [k for k in os.environ if k.startswith("OPENLINEAGE")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert not lineage.configured()
    (tmp_path / "openlineage.yml").write_text("transport: {type: console}\n")
    assert lineage.configured()
    assert not lineage.configured({"OPENLINEAGE_URL": "http://x", "OPENLINEAGE_DISABLED": "true"})
    assert lineage.configured({"OPENLINEAGE__TRANSPORT__TYPE": "http"}, cwd=tmp_path / "none")


def test_an_unreachable_lineage_server_never_fails_the_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith("OPENLINEAGE")]:
        monkeypatch.delenv(key)
    config = tmp_path / "openlineage.yml"  # the standard file, named by OPENLINEAGE_CONFIG
    config.write_text(
        f"transport:\n  type: http\n  url: http://127.0.0.1:{port}\n  retry: {{total: 0}}\n"
    )
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    try:
        spec = write_spec(tmp_path / "shop", BASIC)
        r = publish(capsys, "apply", "--auto-approve", str(spec))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert r.code == 0, r.err + r.out
    assert "Apply complete: 4 done" in r.out
    assert r.err.count("LineageEvents stopped reporting") == 1  # said once, then dropped
