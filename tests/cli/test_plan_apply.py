"""plan and apply end to end on the local platform into SQLite, through the CLI."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import BASIC, ORDERS_CSV, assert_valid_plan, publish, write_spec


def rows(db: Path, table: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as c:
        return c.execute(f'select * from "{table}" order by 1').fetchall()


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    return write_spec(tmp_path, BASIC)


def test_apply_then_plan_is_empty(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = publish(capsys, "apply", "--auto-approve", str(spec))
    assert r.code == 0, r.err + r.out
    assert "Apply complete" in r.out
    db = spec.parent / "warehouse.db"
    assert rows(db, "orders") == [(1, "alice", 10.5), (3, "carol", 7.25), (4, "dave", 3.0)]
    assert len(rows(db, "orders_copy")) == 3

    r = publish(capsys, "plan", "--detailed-exitcode", str(spec))
    assert r.code == 0, r.err + r.out
    assert "No changes" in r.out


def test_changed_input_runs_the_job_and_publishes_again(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    (spec.parent / "data" / "orders.csv").write_text(ORDERS_CSV + "5,erin,1.0\n")
    r = publish(capsys, "plan", "--detailed-exitcode", "--format", "json", str(spec))
    assert r.code == 2, r.err
    plan = assert_valid_plan(r.out)
    actions = {c["address"]: c for c in plan["changes"]}
    assert actions["job.orders_clean"]["action"] == "run"
    assert actions["target.orders_out"]["rows"]["existing"] == 3
    assert actions["target.orders_out"]["destructive"] is True
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    assert len(rows(spec.parent / "warehouse.db", "orders")) == 4


def test_apply_without_terminal_refuses_to_ask(
    spec: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    r = publish(capsys, "apply", str(spec))
    assert r.code == 1
    assert "--auto-approve" in r.err
    assert (
        not (spec.parent / "warehouse.db").exists()
        or rows(spec.parent / "warehouse.db", "orders") == []
    )


def test_saved_plan_is_applied_once_and_refused_when_stale(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "first.json"
    assert publish(capsys, "plan", str(spec), "--out", str(first)).code == 0
    # another plan is applied in between: the first file is stale, nothing changes
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    before = rows(spec.parent / "warehouse.db", "orders")
    r = publish(capsys, "apply", str(first))
    assert r.code == 1
    assert "stale" in r.err
    assert rows(spec.parent / "warehouse.db", "orders") == before

    (spec.parent / "data" / "orders.csv").write_text(ORDERS_CSV + "6,frank,2.5\n")
    second = tmp_path / "second.json"
    assert publish(capsys, "plan", str(spec), "--out", str(second)).code == 0
    r = publish(capsys, "apply", str(second))
    assert r.code == 0, r.err + r.out
    r = publish(capsys, "apply", str(second))
    assert r.code == 1
    assert (
        f"saved plan {second} is stale: it was already applied (a plan is applied at most once)"
        in r.err
    )


def test_saved_plan_refused_when_spec_changed(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    planfile = tmp_path / "p.json"
    assert publish(capsys, "plan", str(spec), "--out", str(planfile)).code == 0
    spec.write_text(spec.read_text().replace("table: orders_copy", "table: orders_copy2"))
    r = publish(capsys, "apply", str(planfile))
    assert r.code == 1
    assert "spec file changed" in r.err
    assert not (spec.parent / "warehouse.db").exists() or not rows(
        spec.parent / "warehouse.db", "orders"
    )


def test_protected_drop_and_load_needs_allow_destructive(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    text = spec.read_text().replace(
        "    action: truncateAndLoad\n", "    action: dropAndLoad\n    protect: true\n"
    )
    spec.write_text(text)
    (spec.parent / "data" / "orders.csv").write_text(ORDERS_CSV + "7,gina,9.0\n")
    r = publish(capsys, "plan", str(spec))
    assert r.code == 1
    assert "target.orders_out is protected" in r.err
    assert "--allow-destructive" in r.err
    r = publish(capsys, "plan", "--allow-destructive", str(spec))
    assert r.code == 0, r.err


def test_table_dropped_by_hand_is_drift(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    with sqlite3.connect(spec.parent / "warehouse.db") as c:
        c.execute("drop table orders_copy")
    r = publish(capsys, "plan", "--format", "json", str(spec))
    assert r.code == 0, r.err
    drift = assert_valid_plan(r.out)["drift"]
    assert [(d["address"], d["kind"]) for d in drift] == [("target.orders_copy", "table_dropped")]
    r = publish(capsys, "plan", "--no-refresh", "--format", "json", str(spec))
    assert json.loads(r.out)["drift"] == []
    # --replace publishes the same results again
    r = publish(capsys, "apply", "--auto-approve", "--replace", "target.orders_copy", str(spec))
    assert r.code == 0, r.err + r.out
    assert len(rows(spec.parent / "warehouse.db", "orders_copy")) == 3


def test_select_pulls_in_what_a_target_needs(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = publish(capsys, "plan", "--format", "json", "--select", "target.orders_out", str(spec))
    assert r.code == 0, r.err
    plan = assert_valid_plan(r.out)
    assert sorted(c["address"] for c in plan["changes"]) == [
        "connection.warehouse",
        "job.orders_clean",
        "target.orders_out",
    ]
    assert plan["pulled_in"] == ["connection.warehouse", "job.orders_clean"]
    r = publish(capsys, "plan", "--format", "json", "--exclude", "target.orders_out", str(spec))
    assert "target.orders_out" not in {c["address"] for c in json.loads(r.out)["changes"]}
    r = publish(capsys, "plan", "--select", "target.nope", str(spec))
    assert r.code == 1
    assert "target.nope" in r.err


def test_plan_errors_are_all_reported_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC.replace("action: dropAndLoad", "action: load"))
    with sqlite3.connect(tmp_path / "warehouse.db") as c:
        c.execute("create table orders (id integer, name text)")
    spec.write_text(spec.read_text().replace("action: truncateAndLoad", "action: create"))
    r = publish(capsys, "apply", "--auto-approve", str(spec))
    assert r.code == 1
    assert "target.orders_out: action create needs a new table" in r.err
    assert "target.orders_copy: action load needs an existing table" in r.err
    assert rows(tmp_path / "warehouse.db", "orders") == []


def test_state_list_and_show(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    r = publish(capsys, "state", "list", str(spec))
    assert r.out.split() == [
        "connection.warehouse",
        "job.orders_clean",
        "target.orders_copy",
        "target.orders_out",
    ]
    r = publish(capsys, "state", "show", str(spec), "target.orders_out")
    record = json.loads(r.out)
    assert record["rows_after"] == 3 and record["action"] == "truncateAndLoad"
    r = publish(capsys, "state", "rm", str(spec), "target.orders_out")
    assert r.code == 0
    r = publish(capsys, "plan", "--format", "json", str(spec))
    assert [c["address"] for c in json.loads(r.out)["changes"]] == ["target.orders_out"]


def test_plan_output_is_deterministic(spec: Path, tmp_path: Path) -> None:
    """The same plan (text and saved JSON), byte for byte, from two processes with
    different hash seeds."""
    outputs = []
    for seed in ("1", "2"):
        planfile = tmp_path / f"plan-{seed}.json"
        proc = subprocess.run(
            [sys.executable, "-m", "runner.cli", "plan", str(spec), "--out", str(planfile)],
            env={**os.environ, "PYTHONHASHSEED": seed, "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.append((proc.stdout.replace(str(planfile), "PLANFILE"), planfile.read_bytes()))
    assert outputs[0] == outputs[1]
