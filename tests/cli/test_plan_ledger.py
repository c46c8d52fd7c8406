"""Issue 11, defect 2: after state is lost, plan reads the table's ledger and says what apply
will do (record the publish, the table untouched), not "replace all N rows (destructive)"."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli.helpers import BASIC, assert_valid_plan, publish, write_spec
from tests.conftest import MYSQL_HOST, MYSQL_PORT, PG_HOST, PG_PORT

RECORD = "record: already published run "


def _server_spec(vendor: str, where: str) -> str:
    if vendor == "postgres":
        conn = (f"    vendor: postgres\n    host: {PG_HOST}\n    port: {PG_PORT}\n"
                "    database: test\n    username: postgres\n")  # fmt: skip
    else:
        conn = (f"    vendor: mysql\n    host: {MYSQL_HOST}\n    port: {MYSQL_PORT}\n"
                f"    database: {where}\n    username: root\n")  # fmt: skip
    body = BASIC.replace("    vendor: sqlite\n    database: warehouse.db\n", conn)
    return body.replace("path: [main]", f"path: [{where}]")


def _assert_records(capsys: pytest.CaptureFixture[str], spec: Path, n: int) -> None:
    r = publish(capsys, "plan", "--detailed-exitcode", str(spec))
    assert r.code == 2, r.err
    assert "destructive" not in r.out and "replace all" not in r.out, r.out
    assert r.out.count(RECORD) == n and "no change to the table" in r.out
    assert f"0 to update, 0 to replace, 0 to forget, {'1' if n == 2 else '0'} to run, " in r.out
    assert f"{n} to record." in r.out
    assert r.out.count("\n  = target.") == n
    doc = assert_valid_plan(publish(capsys, "plan", "--format", "json", str(spec)).out)
    recorded = [c for c in doc["changes"] if c.get("details", {}).get("ledger")]  # type: ignore[attr-defined]
    assert len(recorded) == n and not any(c["destructive"] for c in recorded)
    applied = publish(capsys, "apply", "--auto-approve", str(spec))
    assert applied.code == 0, applied.err
    assert applied.out.count("(found in the table's ledger); recorded") == n
    assert publish(capsys, "plan", "--detailed-exitcode", str(spec)).code == 0


def _lose_state(capsys: pytest.CaptureFixture[str], spec: Path) -> None:
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    assert publish(capsys, "state", "rm", str(spec), "target.orders_out").code == 0
    _assert_records(capsys, spec, 1)
    shutil.rmtree(spec.parent / ".publish")  # a new runner, the whole state gone
    _assert_records(capsys, spec, 2)


def test_sqlite_plan_reads_the_ledger_after_state_is_lost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _lose_state(capsys, write_spec(tmp_path, BASIC))


def test_postgres_plan_reads_the_ledger_after_state_is_lost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pg_schema: str
) -> None:
    _lose_state(capsys, write_spec(tmp_path, _server_spec("postgres", pg_schema)))


def test_mariadb_plan_reads_the_ledger_after_state_is_lost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mysql_database: str
) -> None:
    _lose_state(capsys, write_spec(tmp_path, _server_spec("mysql", mysql_database)))


def test_replace_still_publishes_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path, BASIC)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    assert publish(capsys, "state", "rm", str(spec), "target.orders_out").code == 0
    r = publish(capsys, "plan", "--replace", "target.orders_out", str(spec))
    assert RECORD not in r.out and "replace all 3 rows" in r.out


def test_a_first_run_runs_rather_than_runs_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Defect 9: no recorded run of the job: its targets say it "runs", not "runs again"."""
    spec = write_spec(tmp_path, BASIC)
    first = publish(capsys, "plan", str(spec)).out
    assert "reason: job.orders_clean runs\n" in first and "runs again" not in first
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    spec.write_text(spec.read_text().replace("where amount", "where id > 1 and amount"))
    assert "reason: job.orders_clean runs again\n" in publish(capsys, "plan", str(spec)).out
