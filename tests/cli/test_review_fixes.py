"""Cases found in review: each must publish exactly what a plan showed, or refuse."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.cli.helpers import BASIC, ORDERS_CSV, assert_valid_plan, publish, write_spec


def tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as c:
        return {r[0] for r in c.execute("select name from sqlite_master where type='table'")}


def count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as c:
        return int(c.execute(f'select count(*) from "{table}"').fetchone()[0])


def test_renamed_table_is_published_not_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    spec.write_text(spec.read_text().replace("table: orders\n", "table: orders_v2\n"))
    r = publish(capsys, "apply", "--auto-approve", str(spec))
    assert r.code == 0, r.err + r.out
    assert "already published" not in r.out
    assert count(tmp_path / "warehouse.db", "orders_v2") == 3


def test_environments_share_a_database_without_sharing_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = BASIC.replace("table: orders\n", 'table: "orders_{{ environment }}"\n')
    body += "environments:\n  dev: {}\n  prod: {}\n"
    spec = write_spec(tmp_path, body)
    for env in ("dev", "prod"):
        r = publish(capsys, "apply", "--auto-approve", "--env", env, str(spec))
        assert r.code == 0, r.err + r.out
        assert "already published" not in r.out
    assert {"orders_dev", "orders_prod"} <= tables(tmp_path / "warehouse.db")


def test_forgotten_state_with_reverted_inputs_publishes_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    (tmp_path / "data" / "orders.csv").write_text(ORDERS_CSV + "9,zed,1.0\n")
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    assert count(tmp_path / "warehouse.db", "orders") == 4
    shutil.rmtree(tmp_path / ".publish")  # state lost; inputs back to the first version
    (tmp_path / "data" / "orders.csv").write_text(ORDERS_CSV)
    r = publish(capsys, "apply", "--auto-approve", str(spec))
    assert r.code == 0, r.err + r.out
    assert count(tmp_path / "warehouse.db", "orders") == 3


def test_inputs_changed_after_a_saved_plan_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC)
    planfile = tmp_path / "p.json"
    assert publish(capsys, "plan", str(spec), "--out", str(planfile)).code == 0
    (tmp_path / "data" / "orders.csv").write_text(ORDERS_CSV + "8,yves,2.0\n")
    r = publish(capsys, "apply", str(planfile))
    assert r.code == 1
    assert "inputs or definition changed since the plan was made" in r.out
    assert not (tmp_path / "warehouse.db").exists() or "orders" not in tables(
        tmp_path / "warehouse.db"
    )


def test_a_table_created_after_a_saved_plan_makes_it_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = BASIC.replace(
        "    action: dropAndLoad\n", "    action: dropAndLoad\n    protect: true\n"
    )
    spec = write_spec(tmp_path, body)
    planfile = tmp_path / "p.json"
    assert publish(capsys, "plan", str(spec), "--out", str(planfile)).code == 0
    with sqlite3.connect(tmp_path / "warehouse.db") as c:
        c.execute("create table orders_copy (x int)")
        c.execute("insert into orders_copy values (1), (2)")
    r = publish(capsys, "apply", str(planfile))
    assert r.code == 1
    assert "orders_copy exists now" in r.err
    assert count(tmp_path / "warehouse.db", "orders_copy") == 2


def test_results_missing_on_this_machine_run_the_job_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    shutil.rmtree(tmp_path / ".publish" / "results")
    r = publish(capsys, "plan", "--format", "json", "--replace", "target.orders_out", str(spec))
    assert r.code == 0, r.err
    changes = {c["address"]: c for c in assert_valid_plan(r.out)["changes"]}
    assert "are not on this machine" in changes["job.orders_clean"]["reason"]
    r = publish(capsys, "apply", "--auto-approve", "--replace", "target.orders_out", str(spec))
    assert r.code == 0, r.err + r.out


def test_old_results_are_pruned_after_a_complete_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    (tmp_path / "data" / "orders.csv").write_text(ORDERS_CSV + "5,erin,1.0\n")
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    runs = list((tmp_path / ".publish" / "results" / "orders_clean").iterdir())
    state = json.loads(next((tmp_path / ".publish").glob("*.state.json")).read_text())
    assert [r.name for r in runs] == [state["jobs"]["orders_clean"]["run_id"]]


def test_two_targets_replacing_one_table_is_a_plan_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC.replace("table: orders_copy", "table: orders"))
    r = publish(capsys, "plan", str(spec))
    assert r.code == 1
    assert "target.orders_copy and target.orders_out all publish to warehouse.main.orders" in r.err


def test_a_changed_action_is_an_update_not_silence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    spec.write_text(spec.read_text().replace("action: truncateAndLoad", "action: dropAndLoad"))
    r = publish(capsys, "plan", "--detailed-exitcode", "--format", "json", str(spec))
    assert r.code == 2, r.err
    (change,) = assert_valid_plan(r.out)["changes"]
    assert (change["address"], change["action"]) == ("target.orders_out", "update")
    assert "the new action applies from the job's next run" in change["reason"]
    r = publish(capsys, "apply", "--auto-approve", str(spec))
    assert r.code == 0, r.err + r.out
    assert "the table was not touched" in r.out
    assert publish(capsys, "plan", "--detailed-exitcode", str(spec)).code == 0
    assert count(tmp_path / "warehouse.db", "orders") == 3


def test_unknown_select_address_gets_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC)
    r = publish(capsys, "plan", "--select", "target.orders_ou", str(spec))
    assert r.code == 1
    assert "did you mean target.orders_out?" in r.err


def test_drift_only_plan_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path, BASIC)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    with sqlite3.connect(tmp_path / "warehouse.db") as c:
        c.execute("delete from orders where id = 1")
    r = publish(capsys, "plan", "--detailed-exitcode", str(spec))
    assert r.code == 0
    assert r.out.startswith("No changes to apply: every target was published")
    assert "rows changed" in r.out


def test_validate_refuses_plain_http_to_a_remote_api(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(__file__).resolve().parents[2]
    spec = tmp_path / "t.yaml"
    shutil.copy(root / "publish_specs" / "trifacta-redshift.yaml", spec)
    monkeypatch.setenv("TRIFACTA_TOKEN", "token-value")
    monkeypatch.setenv("TRIFACTA_URL", "http://example.com")
    r = publish(capsys, "validate", str(spec))
    assert r.code == 1
    assert "$.platform.url: refusing plain http:// to example.com" in r.err
    monkeypatch.setenv("TRIFACTA_URL", "http://127.0.0.1:8080")
    assert publish(capsys, "validate", str(spec)).code == 0


def test_an_undeclared_var_warns_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(
        tmp_path, BASIC.replace("connections:", "vars:\n  schema: main\nconnections:", 1)
    )
    r = publish(capsys, "validate", str(spec), "--var", "schena=x")
    assert r.code == 0
    assert "--var schena: the spec declares no such variable in vars; did you mean schema?" in r.err
