"""What a plan says about shared tables, changed actions, unknown addresses and drift."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.cli.helpers import BASIC, assert_valid_plan, count, publish, write_spec


def test_two_targets_replacing_one_table_is_a_plan_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC.replace("table: orders_copy", "table: orders"))
    r = publish(capsys, "plan", str(spec))
    assert r.code == 1
    # validate catches it first (issue 11.7), at the second target's table
    assert (
        "$.targets.orders_copy.table: targets orders_out and orders_copy all publish into" in r.err
    )


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
    assert r.code == 2  # drift is something to look at (issue 11, defect 4)
    assert r.out.startswith("No changes to apply: every target was published")
    assert "rows changed" in r.out
    assert "`publish plan --replace target.orders_out` publishes it again" in r.out
