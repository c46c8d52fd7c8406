"""The documented Trifacta example through the whole CLI, against a mocked API v4."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses

from tests.cli.helpers import assert_valid_plan, publish

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


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[responses.RequestsMock]:
    monkeypatch.setenv("TRIFACTA_URL", BASE)
    monkeypatch.setenv("TRIFACTA_TOKEN", TOKEN)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(
            f"{BASE}/v4/connections/2", json={"id": 2, "name": "redshift", "vendor": "redshift"}
        )
        rsps.get(
            f"{BASE}/v4/wrangledDatasets/28629",
            json={"id": 28629, "updatedAt": "2026-11-01T00:00:00Z"},
        )
        yield rsps


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "trifacta-redshift.yaml"
    shutil.copy(ROOT / "publish_specs" / "trifacta-redshift.yaml", path)
    return path


def test_documented_example_plans_and_applies(
    api: responses.RequestsMock, spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = publish(capsys, "plan", "--format", "json", "--detailed-exitcode", str(spec))
    assert r.code == 2, r.err
    plan = assert_valid_plan(r.out)
    changes = {c["address"]: c for c in plan["changes"]}
    assert [c["action"] for c in plan["changes"]] == ["create", "run", "publish"]
    assert changes["connection.redshift"]["reason"].startswith("adopt")
    publish_change = changes["target.test_table2"]
    assert publish_change["publishAction"] == "create"
    assert publish_change["table"] == "redshift.public.test_table2"
    put = [c for c in publish_change["api_calls"] if c["method"] == "PUT"]
    assert put == [
        {"method": "PUT", "path": "/v4/jobGroups/{jobGroupId}/publish", "body": DOCUMENTED_PUT}
    ]
    assert not any(
        c["method"] == "POST" for c in changes["connection.redshift"].get("api_calls", [])
    )
    # no call that changes anything was made while planning
    assert {c.request.method for c in api.calls} == {"GET"}

    api.post(
        f"{BASE}/v4/jobGroups",
        status=201,
        json={"id": 961, "reason": "JobStarted", "sessionId": "s"},
    )
    api.get(f"{BASE}/v4/jobGroups/961/status", json="Complete")
    api.get(f"{BASE}/v4/jobGroups/961/publications", json={"data": [], "count": 0})
    api.put(
        f"{BASE}/v4/jobGroups/961/publish",
        json={"jobgroupId": 962, "reason": "JobStarted", "sessionId": "s2"},
    )
    api.get(f"{BASE}/v4/jobGroups/962/status", json="Complete")
    r = publish(capsys, "apply", "--auto-approve", str(spec))
    assert r.code == 0, r.err + r.out
    posts = [c for c in api.calls if c.request.method == "POST"]
    assert len(posts) == 1
    assert json.loads(posts[0].request.body)["wrangledDataset"] == {"id": 28629}
    puts = [c for c in api.calls if c.request.method == "PUT"]
    assert [p.request.body for p in puts] == [json.dumps(DOCUMENTED_PUT).encode()]
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in api.calls)

    # published once: the next plan is empty
    r = publish(capsys, "plan", "--detailed-exitcode", str(spec))
    assert r.code == 0, r.err + r.out
    # the token is nowhere: output, state, plan files
    r = publish(capsys, "plan", "--out", str(spec.parent / "p.json"), str(spec))
    texts = [r.out, r.err] + [f.read_text() for f in spec.parent.rglob("*.json")]
    assert not any(TOKEN in t for t in texts)


def test_unregistered_call_fails_the_plan(
    api: responses.RequestsMock, spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.replace(
        responses.GET,
        f"{BASE}/v4/connections/2",
        status=404,
        json={"exception": {"name": "NotFound", "message": "no connection 2", "details": ""}},
    )
    r = publish(capsys, "plan", str(spec))
    assert r.code == 1
    assert "connection" in r.err and "2" in r.err
    assert TOKEN not in r.err + r.out


def test_check_connections_reports_a_failing_connection(
    api: responses.RequestsMock, spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.get(
        f"{BASE}/v4/connections/2/status",
        json={
            "result": "FAILURE",
            "reason": {"exception": {"name": "AuthError", "message": "bad password"}},
        },
    )
    r = publish(capsys, "plan", "--check-connections", str(spec))
    assert r.code == 1
    assert "connection.redshift: the connection test failed: AuthError: bad password" in r.err
    r = publish(capsys, "plan", str(spec))  # without the flag the connection is not tested
    assert r.code == 0, r.err


def test_publish_with_overrides_shows_the_publication_in_the_run(
    api: responses.RequestsMock, spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec.write_text(
        spec.read_text().replace(
            "    inputFormat: avro\n", "    inputFormat: avro\n    via: overrides\n"
        )
    )
    r = publish(capsys, "plan", "--format", "json", str(spec))
    assert r.code == 0, r.err
    changes = {c["address"]: c for c in assert_valid_plan(r.out)["changes"]}
    post = changes["job.job2"]["api_calls"][0]
    assert (post["method"], post["path"]) == ("POST", "/v4/jobGroups")
    publications = post["body"]["overrides"]["publications"]
    assert [(p["tableName"], p["action"], p["connectionId"]) for p in publications] == [
        ("test_table2", "create", 2)
    ]
    assert [c["method"] for c in changes["target.test_table2"]["api_calls"]] == ["GET"]
