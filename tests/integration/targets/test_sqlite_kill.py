"""SIGKILL in the middle of a truncateAndLoad: the table keeps its old rows; a rerun completes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from runner.results import write_results
from runner.spec.model import Connection
from runner.targets.base import PublishRequest, TableRef
from runner.targets.sqlite import SqliteTarget

ROWS = 300_000

CHILD = """
import json, sys, time
from pathlib import Path
from runner.results import ResultSet
from runner.spec.model import Connection
from runner.targets.base import PublishRequest, TableRef
from runner.targets.sqlite import SqliteTarget

work = Path(sys.argv[1])
results = ResultSet.from_json(json.loads((work / "results.json").read_text()), work)
target = SqliteTarget(Connection("wh", vendor="sqlite", database="wh.db"), work)
target._connect().execute("PRAGMA cache_size=20")  # spill dirty pages into the WAL early

def progress(rows):
    (work / "marker").write_text(str(rows))
    time.sleep(60)  # the parent kills us here, with the transaction open

target.publish(
    PublishRequest("out", TableRef("wh", ("main",), "orders"), "truncateAndLoad", results, "r1"),
    progress,
)
"""


def table_rows(db: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT id, note FROM orders ORDER BY id").fetchall()


def test_sigkill_mid_load_keeps_old_rows_and_rerun_completes(tmp_path: Path) -> None:
    db = tmp_path / "wh.db"
    with sqlite3.connect(db) as c:
        c.execute("PRAGMA journal_mode=WAL")
        c.execute('CREATE TABLE "orders" ("id" bigint, "note" text)')
        c.executemany("INSERT INTO orders VALUES (?, ?)", ((i, "old") for i in range(1000)))
    old = table_rows(db)
    frame = pl.DataFrame({"id": range(ROWS), "note": ["new row with some text"] * ROWS})
    results = write_results(frame, tmp_path / "results", ["avro"])["avro"]
    (tmp_path / "results.json").write_text(json.dumps(results.to_json(tmp_path)))

    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "marker").exists():
            assert child.poll() is None, f"the child ended early with {child.returncode}"
            assert time.monotonic() < deadline, "the child never reported progress"
            time.sleep(0.02)
        assert int((tmp_path / "marker").read_text()) > 0
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert Path(f"{db}-wal").stat().st_size > 0  # the load had written into the WAL

    assert table_rows(db) == old  # exactly the 1000 old rows

    target = SqliteTarget(Connection("wh", vendor="sqlite", database="wh.db"), tmp_path)
    try:
        request = PublishRequest(
            "out", TableRef("wh", ("main",), "orders"), "truncateAndLoad", results, "r1"
        )
        out = target.publish(request)
    finally:
        target.close()
    assert (out.rows_loaded, out.rows_after, out.already_published) == (ROWS, ROWS, False)
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT count(*), min(note), max(id) FROM orders").fetchone() == (
            ROWS,
            "new row with some text",
            ROWS - 1,
        )
