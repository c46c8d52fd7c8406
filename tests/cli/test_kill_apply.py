"""SIGKILL in the middle of an apply: old rows stay, state stays readable, a rerun completes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.helpers import write_spec

SPEC = """\
version: 1
name: killme
connections:
  warehouse:
    vendor: sqlite
    database: warehouse.db
jobs:
  big:
    inputs:
      orders: data/orders.csv
    outputs: [parquet]
targets:
  big_out:
    job: big
    connection: warehouse
    path: [main]
    table: orders
    action: truncateAndLoad
    inputFormat: parquet
"""

ROWS = 400_000


def big_csv(rows: int, tag: str) -> str:
    body = "".join(f"{i},{tag}{i % 97},{i % 1000}.25\n" for i in range(rows))
    return "id,customer,amount\n" + body


def count(db: Path) -> int:
    with sqlite3.connect(db) as c:
        return int(c.execute("select count(*) from orders").fetchone()[0])


@pytest.mark.slow
def test_sigkill_mid_truncate_and_load(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC, csv=big_csv(1000, "old"))
    publish = [sys.executable, "-m", "runner.cli"]
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(
        [*publish, "apply", "--auto-approve", str(spec)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr + done.stdout
    db = tmp_path / "warehouse.db"
    assert count(db) == 1000

    (tmp_path / "data" / "orders.csv").write_text(big_csv(ROWS, "new"))
    state_file = next((tmp_path / ".publish").glob("*.state.json"))
    before = json.loads(state_file.read_text())["serial"]
    proc = subprocess.Popen(
        [*publish, "apply", "--auto-approve", str(spec)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # wait until the load is under way: the uncommitted transaction spills into the WAL
    wal = tmp_path / "warehouse.db-wal"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if wal.exists() and wal.stat().st_size > 1_000_000 and proc.poll() is None:
            break
        time.sleep(0.005)
    else:
        proc.kill()
        pytest.fail("the load never started")
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    assert count(db) == 1000  # all the old rows, none of the new
    state = json.loads(state_file.read_text())
    assert state["serial"] > before
    done = subprocess.run(
        [*publish, "apply", "--auto-approve", str(spec)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert count(db) == ROWS
    plan = subprocess.run(
        [*publish, "plan", "--detailed-exitcode", str(spec)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr
