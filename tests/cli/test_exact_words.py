"""Issue 11, defect 9: plan --out into a missing folder is refused, counts agree with their
words (never "1 connections"), and a load's rate is over the load, not a lock wait."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from tests.cli.helpers import BASIC, publish, write_spec

ONE_ROW = "id,customer,amount\n1,alice,10.5\n"


def test_plan_out_into_a_missing_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC)
    out = tmp_path / "plans" / "typo" / "plan.json"
    r = publish(capsys, "plan", str(spec), "--out", str(out))
    assert r.code == 1
    assert f"the folder {out.parent} does not exist; create it first" in r.err
    assert not (tmp_path / "plans").exists()
    (tmp_path / "plans").mkdir()
    assert publish(capsys, "plan", str(spec), "--out", str(tmp_path / "plans" / "p.json")).code == 0


def test_one_of_a_kind_is_singular(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = BASIC.split("  orders_copy:")[0]  # one connection, one job, one target
    spec = write_spec(tmp_path, body, csv=ONE_ROW)
    r = publish(capsys, "validate", str(spec))
    assert r.code == 0 and "valid (1 connection, 1 job, 1 target)" in r.out, r.out
    two = write_spec(tmp_path / "two", BASIC)
    assert "valid (1 connection, 1 job, 2 targets)" in publish(capsys, "validate", str(two)).out
    plan = publish(capsys, "plan", str(spec)).out
    assert "preview: ran at plan: 1 row; apply publishes" in plan
    applied = publish(capsys, "apply", "--auto-approve", str(spec)).out
    assert "run r" in applied and ": 1 row (the results previewed" in applied
    assert "truncateAndLoad: 1 row loaded, 1 in the table" in applied
    assert "1 rows" not in plan + applied


def test_the_rate_is_over_the_load_not_the_lock_wait(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = BASIC.split("  orders_copy:")[0]
    spec = write_spec(tmp_path, body)
    assert publish(capsys, "plan", str(spec), "--out", str(tmp_path / "p.json")).code == 0
    holder = sqlite3.connect(
        tmp_path / "warehouse.db", isolation_level=None, check_same_thread=False
    )
    holder.execute("PRAGMA journal_mode=WAL")  # as publish opens it
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the database for 1.5 s
    release = threading.Timer(1.5, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        r = publish(capsys, "apply", str(tmp_path / "p.json"))
    finally:
        release.join()
        holder.close()
    assert r.code == 0, r.err
    done = next(line for line in r.out.splitlines() if "✓ done: truncateAndLoad" in line)
    # 3 rows load in milliseconds: no rate (it was "2 rows/s", the rows over the wait)
    assert "rows/s" not in done, done


def test_a_target_interrupted_while_waiting_for_its_lock_was_not_loaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C while a target waits for its table's lock: it says it was not loaded, and why;
    never "cancelled while loading" (no row had moved)."""
    import os
    import signal

    spec = write_spec(tmp_path, BASIC.split("  orders_copy:")[0])
    assert publish(capsys, "plan", str(spec), "--out", str(tmp_path / "p.json")).code == 0
    holder = sqlite3.connect(
        tmp_path / "warehouse.db", isolation_level=None, check_same_thread=False
    )
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("BEGIN IMMEDIATE")
    ctrl_c = threading.Timer(0.8, lambda: os.kill(os.getpid(), signal.SIGINT))
    release = threading.Timer(1.6, lambda: holder.execute("COMMIT"))
    ctrl_c.start()
    release.start()
    try:
        r = publish(capsys, "apply", str(tmp_path / "p.json"))
    finally:
        ctrl_c.join()
        release.join()
        holder.close()
    assert r.code == 130, r.out + r.err
    assert "cancelled while loading" not in r.out
    assert (
        "target.orders_out: ✗ failed: not loaded: apply was interrupted while it waited for "
        "the table's lock; the table was left as it was" in r.out
    ), r.out
