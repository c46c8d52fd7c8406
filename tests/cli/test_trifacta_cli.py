"""The documented Trifacta example through the whole CLI, against a stand-in service.

The stand-in (tests/trifacta/fake_service.py) answers only what the project's API
description allows and checks every request against it; ``fake.invalid`` lists any
request or answer outside it. Waits use an injected clock: no real sleeps.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses

import runner.platforms.trifacta.platform as trifacta_platform
from tests.cli.helpers import Result, assert_valid_plan, publish
from tests.trifacta.fake_service import FakeTrifacta

ROOT = Path(__file__).resolve().parents[2]
BASE = "https://trifacta.test"
TOKEN = "tok-{{not}}-a#template@/%"
DOCUMENTED_PUT = {
    "connection": {"id": 2},
    "path": ["public"],
    "table": "test_table2",
    "action": "create",
    "inputFormat": "avro",
    "flowNodeId": 28629,
}
FAILURE = "Redshift COPY failed: permission denied for schema public"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    real = trifacta_platform.TrifactaPlatform

    class Clocked(real):  # type: ignore[misc, valid-type]
        def __init__(self, spec: Any, **kwargs: Any) -> None:
            super().__init__(spec, sleep=fake.sleep, clock=fake.monotonic, **kwargs)

    monkeypatch.setattr(trifacta_platform, "TrifactaPlatform", Clocked)
    return fake


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Iterator[FakeTrifacta]:
    monkeypatch.setenv("TRIFACTA_URL", BASE)
    monkeypatch.setenv("TRIFACTA_TOKEN", TOKEN)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        service = FakeTrifacta(rsps, BASE)
        service.add_output_object(28629, ("avro",))
        yield service
        assert service.invalid == []
        assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in rsps.calls)


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "trifacta-redshift.yaml"
    shutil.copy(ROOT / "publish_specs" / "trifacta-redshift.yaml", path)
    return path


def via_publish(spec: Path, release: str = "6.4") -> None:
    text = spec.read_text().replace("  token:", f'  release: "{release}"\n  token:')
    spec.write_text(
        text.replace("    inputFormat: avro\n", "    inputFormat: avro\n    via: publish\n")
    )


def state_of(spec: Path) -> dict[str, Any]:
    files = [p for p in (spec.parent / ".publish").rglob("*.json") if "state" in p.name]
    assert len(files) == 1, files
    data = json.loads(files[0].read_text())
    assert isinstance(data, dict)
    return data


def apply(capsys: pytest.CaptureFixture[str], spec: Path) -> Result:
    return publish(capsys, "apply", "--auto-approve", str(spec))


def test_documented_example_plans_and_applies_through_the_output_object(
    fake: FakeTrifacta, spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = publish(capsys, "plan", "--format", "json", "--detailed-exitcode", str(spec))
    assert r.code == 2, r.err
    changes = {c["address"]: c for c in assert_valid_plan(r.out)["changes"]}
    assert [c["action"] for c in changes.values()] == ["create", "run", "publish"]
    job = changes["job.job2"]
    oid = next(iter(fake.output_objects))
    created = {
        "path": ["public"],
        "tableName": "test_table2",
        "targetType": "redshift",
        "action": "create",
        "connectionId": "2",
        "outputObjectId": oid,
    }
    assert job["details"]["publications"] == [
        {"change": "create", "target": "target.test_table2", "fields": created}
    ]
    assert {"method": "POST", "path": "/v4/publications", "body": created} in job["api_calls"]
    target = changes["target.test_table2"]
    assert target["table"] == "redshift.public.test_table2"
    assert "new table redshift.public.test_table2_<timestamp> on every run" in target["consequence"]
    assert {m for m, _, _ in fake.seen} == {"GET"}  # planning changes nothing

    r = publish(capsys, "plan", str(spec))
    assert "redshift.public.test_table2_<timestamp>" in r.out

    r = apply(capsys, spec)
    assert r.code == 0, r.err + r.out
    assert len(fake.calls("POST", r"^/v4/publications$")) == 1
    assert len(fake.calls("POST", r"^/v4/jobGroups$")) == 1
    group = next(iter(fake.groups.values()))
    assert [j["status"] for j in group.jobs] == ["Complete", "Complete"]  # transform + publish
    written = group.tables[0]["table"]
    assert re.fullmatch(r"test_table2_\d+", written)
    record = state_of(spec)["publications"]["test_table2"]
    assert record["table"] == f"redshift.public.{written}"

    # a rerun publishes nothing twice
    r = publish(capsys, "plan", "--detailed-exitcode", str(spec))
    assert r.code == 0, r.err + r.out
    posts = len(fake.calls("POST"))
    r = apply(capsys, spec)
    assert r.code == 0, r.err + r.out
    assert len(fake.calls("POST")) == posts
    assert len(fake.publications) == 1

    # the token is nowhere: output, state, plan files
    r = publish(capsys, "plan", "--out", str(spec.parent / "p.json"), str(spec))
    texts = [r.out, r.err] + [f.read_text() for f in spec.parent.rglob("*.json")]
    assert not any(TOKEN in t for t in texts)


def test_a_changed_action_updates_the_publication_field_by_field(
    fake: FakeTrifacta, spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    oid = next(iter(fake.output_objects))
    pid = fake.add_publication(
        oid,
        path=["public"],
        tableName="test_table2",
        targetType="redshift",
        action="load",
        connectionId="2",
    )
    stale = fake.add_publication(
        oid,
        path=["public"],
        tableName="old_table",
        targetType="redshift",
        action="load",
        connectionId="2",
    )
    r = publish(capsys, "plan", "--format", "json", str(spec))
    assert r.code == 0, r.err
    job = {c["address"]: c for c in assert_valid_plan(r.out)["changes"]}["job.job2"]
    assert job["details"]["publications"] == [
        {
            "change": "delete",
            "id": stale,
            "diff": {"table": {"from": "public.old_table", "to": None}},
        },
        {
            "change": "update",
            "target": "target.test_table2",
            "id": pid,
            "diff": {"action": {"from": "load", "to": "create"}},
        },
    ]
    r = apply(capsys, spec)
    assert r.code == 0, r.err + r.out
    assert fake.calls("PATCH") == [("PATCH", f"/v4/publications/{pid}", {"action": "create"})]
    assert fake.calls("DELETE") == [("DELETE", f"/v4/publications/{stale}", None)]
    assert [p["action"] for p in fake.publications.values()] == ["create"]


def test_documented_example_via_publish_on_a_release_that_documents_it(
    fake: FakeTrifacta, spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    via_publish(spec)
    r = publish(capsys, "plan", "--format", "json", str(spec))
    assert r.code == 0, r.err
    target = {c["address"]: c for c in assert_valid_plan(r.out)["changes"]}["target.test_table2"]
    put = [c for c in target["api_calls"] if c["method"] == "PUT"]
    assert put == [
        {"method": "PUT", "path": "/v4/jobGroups/{jobGroupId}/publish", "body": DOCUMENTED_PUT}
    ]
    r = apply(capsys, spec)
    assert r.code == 0, r.err + r.out
    puts = fake.calls("PUT")
    assert [body for _, _, body in puts] == [DOCUMENTED_PUT]
    group = next(iter(fake.groups.values()))
    assert [j["jobType"] for j in group.jobs] == ["wrangle", "publish"]
    assert group.jobs[1]["status"] == "Complete"  # waited for the publish job, not the status
    record = state_of(spec)["publications"]["test_table2"]
    assert record["table"] == f"redshift.public.{group.tables[0]['table']}"

    r = publish(capsys, "plan", "--detailed-exitcode", str(spec))
    assert r.code == 0, r.err + r.out
    r = apply(capsys, spec)
    assert r.code == 0
    assert len(fake.calls("PUT")) == 1


@pytest.mark.parametrize("path", ["outputObject", "publish"])
def test_a_publish_job_failing_after_the_transform_fails_the_step_with_its_message(
    fake: FakeTrifacta, spec: Path, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    if path == "publish":
        via_publish(spec)
    fake.fail_publish = FAILURE
    r = apply(capsys, spec)
    assert r.code == 1
    text = r.out + r.err
    assert "publish job" in text and FAILURE in text
    data = state_of(spec)
    assert "job2" in data["jobs"]  # the transform succeeded and is recorded
    assert "test_table2" not in data["publications"]
    assert FAILURE in data["failures"]["target.test_table2"]["error"]

    # once the cause is fixed, the next apply publishes (once)
    fake.fail_publish = None
    r = publish(capsys, "plan", "--format", "json", str(spec))
    changes = {c["address"]: c for c in assert_valid_plan(r.out)["changes"]}
    if path == "outputObject":  # the publication runs only with a job group
        assert "is published by the job's run (via: outputObject)" in changes["job.job2"]["reason"]
    else:  # the results are there: only the PUT again
        assert list(changes) == ["target.test_table2"]
    r = apply(capsys, spec)
    assert r.code == 0, r.err + r.out
    tables = [t["table"] for g in fake.groups.values() for t in g.tables]
    assert len(tables) == 1
    assert state_of(spec)["publications"]["test_table2"]["table"] == f"redshift.public.{tables[0]}"


def test_via_publish_is_refused_where_no_release_documents_it(
    fake: FakeTrifacta, spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    via_publish(spec, release="cloud")
    r = publish(capsys, "plan", str(spec))
    assert r.code == 1
    assert "via: publish calls PUT /v4/jobGroups/{id}/publish, documented for on-prem" in r.err


def test_check_jobs_validates_the_run_in_test_mode(
    fake: FakeTrifacta, spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = publish(capsys, "plan", "--check-jobs", str(spec))
    assert r.code == 0, r.err
    (post,) = fake.calls("POST")
    assert post[2]["testMode"] is True and post[2]["wrangledDataset"] == {"id": 28629}
    assert not fake.groups  # nothing ran
    r = publish(capsys, "plan", str(spec))  # without the flag nothing is posted
    assert len(fake.calls("POST")) == 1
    fake.refuse_test = "Recipe 28629 has errors: column amount is missing"
    r = publish(capsys, "plan", "--check-jobs", str(spec))
    assert r.code == 1
    assert "job.job2: the service's validation of the run failed" in r.err
    assert "column amount is missing" in r.err


def test_a_missing_connection_fails_the_plan(
    fake: FakeTrifacta, spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    del fake.connections[2]
    r = publish(capsys, "plan", str(spec))
    assert r.code == 1
    assert "connection 2 does not exist" in r.err
    assert TOKEN not in r.err + r.out


def test_check_connections_reports_a_failing_connection(
    fake: FakeTrifacta, spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.rsps.replace(  # a documented FAILURE answer to the status test
        responses.GET,
        re.compile(re.escape(BASE) + r"/v4/connections/(\d+)/status(\?.*)?$"),
        json={"result": "FAILURE"},
    )
    r = publish(capsys, "plan", "--check-connections", str(spec))
    assert r.code == 1
    assert "connection.redshift: the connection test failed" in r.err


PG_SPEC = """\
version: 1
name: trifacta-pg
platform:
  type: trifacta
  url: "{{{{ env('TRIFACTA_URL') }}}}"
  token: "{{{{ secret('TRIFACTA_TOKEN') }}}}"
connections:
  pg:
    vendor: postgres
    host: 127.0.0.1
    port: 5432
    database: test
    username: postgres
    password: "{{{{ secret('PG_PASSWORD') }}}}"
jobs:
  job2:
    wrangledDataset: 28629
targets:
  t:
    job: job2
    connection: pg
    path: [{schema}]
    table: t
    action: {action}
"""


@pytest.mark.postgres
@pytest.mark.parametrize("action", ["create", "createAndLoad"])
def test_an_existing_table_is_no_plan_error_for_the_services_timestamped_create(
    fake: FakeTrifacta,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    pg_schema: str,
    action: str,
) -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True) as c:
        c.execute(f'create table "{pg_schema}".t (id int)')
    monkeypatch.setenv("PG_PASSWORD", "unused-with-trust")
    spec = tmp_path / "publish.yaml"
    spec.write_text(PG_SPEC.format(schema=pg_schema, action=action))
    r = publish(capsys, "plan", "--format", "json", str(spec))
    assert r.code == 0, r.err
    target = {c["address"]: c for c in assert_valid_plan(r.out)["changes"]}["target.t"]
    assert f"new table pg.{pg_schema}.t_<timestamp> on every run" in target["consequence"]
    r = apply(capsys, spec)
    assert r.code == 0, r.err + r.out
    written = next(iter(fake.groups.values())).tables[0]["table"]
    assert f"published pg.{pg_schema}.{written} through the platform" in r.out
    r = publish(capsys, "plan", "--detailed-exitcode", str(spec))
    assert r.code == 0, r.err + r.out  # the recorded t_<timestamp> is the target's table


@pytest.mark.parametrize("path", ["outputObject", "publish"])
def test_an_apply_killed_while_the_job_group_ran_publishes_nothing_twice(
    fake: FakeTrifacta, spec: Path, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    if path == "publish":
        via_publish(spec)
    r = apply(capsys, spec)
    assert r.code == 0, r.err + r.out
    # the state as a kill -9 during the run leaves it: the job and its table not recorded
    (state_file,) = [p for p in (spec.parent / ".publish").rglob("*.json") if "state" in p.name]
    data = json.loads(state_file.read_text())
    data["jobs"], data["publications"] = {}, {}
    state_file.write_text(json.dumps(data))
    r = apply(capsys, spec)
    assert r.code == 1
    assert "exists (304" in r.out + r.err and "not adopted" in r.out + r.err
    assert len(fake.groups) == 1 and len(fake.calls("PUT")) == (path == "publish")
    assert sum(len(g.tables) for g in fake.groups.values()) == 1  # one table written, once
