"""SQLite end to end: `publish apply` of a local job over a CSV vs `sqlite3 .import` of it.

    .venv/bin/python bench/sqlite_load.py [--rows 1000000] [--repeat 3] [--keep DIR]

The CSV (N orders-like rows x 10 columns) is generated once under bench/.data/ (git-ignored).

(a) ours, end to end (key sqlite/apply): `publish apply --auto-approve` in a child process of
    a spec whose local job reads the CSV (`select * from orders`) and publishes it with
    truncateAndLoad into a new SQLite table: start-up, plan (input fingerprint, the job run
    as the plan's preview, row diff), apply (content check, publish), from a fresh folder
    (no state, no previews, no database) each time;
(b) ours, the publish alone (key sqlite/truncateAndLoad): SqliteTarget publishing the same
    rows from Avro results into a fresh database file, from opening the results to the commit;
(c) reference, in the same run: the sqlite3 CLI's `.import` of the same CSV into a new table,
    both untyped (.import creates it from the header) and into the typed table ours creates;
    the faster of the two is the reference.
Runs are interleaved (the machine is shared: noise hits both sides alike); best of N.
Prints seconds, rows/s and reference/ours (issue 16's goal for (a): >= 0.8).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _data import orders
from _emit import add_json_option, measurement, write_json

from runner.results import write_results
from runner.spec.model import Connection
from runner.targets import sqlite_stage
from runner.targets.base import PublishRequest, TableRef
from runner.targets.sqlite import SqliteTarget

ROOT = Path(__file__).resolve().parents[1]
SPEC = """\
version: 1
name: sqlite_bench
platform: {type: local}
state: {backend: local, path: .publish/}
connections:
  warehouse: {vendor: sqlite, database: warehouse.db}
jobs:
  orders_job:
    inputs: {orders: data/orders.csv}
    recipe: select * from orders
    outputs: [avro]
targets:
  orders:
    job: orders_job
    connection: warehouse
    table: orders
    action: truncateAndLoad
"""


def _rm(*paths: Path) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _db_files(db: Path) -> list[Path]:
    return [Path(f"{db}{suffix}") for suffix in ("", "-wal", "-shm")]


def _count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM orders").fetchone()[0])


def _publish_command() -> list[str]:
    script = Path(sys.executable).parent / "publish"
    return [str(script)] if script.exists() else [sys.executable, "-m", "runner.cli"]


def project(work: Path, rows: int) -> Path:
    """The bench's spec folder, with data/orders.csv of ``rows`` rows (made once)."""
    folder = work / f"project-{rows}"
    data = folder / "data" / "orders.csv"
    if not data.is_file():
        data.parent.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        orders(rows).write_csv(data.with_suffix(".tmp"))
        data.with_suffix(".tmp").rename(data)
        print(
            f"generated {data} ({data.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f}s"
        )
    (folder / "publish.yaml").write_text(SPEC, encoding="utf-8")
    return folder


def ours_apply(folder: Path, rows: int) -> float:
    """Wall seconds of `publish apply --auto-approve` from a fresh folder."""
    _rm(folder / ".publish", *_db_files(folder / "warehouse.db"))
    started = time.perf_counter()
    done = subprocess.run(
        [*_publish_command(), "apply", "--auto-approve", "."],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"publish apply failed ({done.returncode}):\n{done.stderr[-3000:]}")
    count = _count(folder / "warehouse.db")
    assert count == rows, f"publish apply loaded {count} rows, not {rows}"
    return seconds


def typed_ddl(folder: Path) -> str:
    """The CREATE TABLE statement ours ran (read back from its database)."""
    with sqlite3.connect(folder / "warehouse.db") as conn:
        row = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'orders'").fetchone()
    return str(row[0])


def reference_import(folder: Path, db: Path, rows: int, ddl: str | None) -> float | None:
    """Wall seconds of `sqlite3 DB .import` of the CSV into a new table (None: no CLI).

    ``ddl`` None: .import creates the table from the header (every column untyped text);
    otherwise the table is created with ``ddl`` in the same process first. WAL and
    synchronous=NORMAL, as ours.
    """
    cli = shutil.which("sqlite3")
    if cli is None:
        return None
    _rm(*_db_files(db))
    csv_path = folder / "data" / "orders.csv"
    steps = ["PRAGMA journal_mode=WAL;", "PRAGMA synchronous=NORMAL;"]
    if ddl is None:
        steps.append(f".import --csv {csv_path} orders")
    else:
        steps += [f"{ddl};", f".import --csv --skip 1 {csv_path} orders"]
    started = time.perf_counter()
    subprocess.run([cli, str(db), *steps], check=True, capture_output=True)
    seconds = time.perf_counter() - started
    assert _count(db) == rows, f"sqlite3 .import loaded {_count(db)} rows, not {rows}"
    return seconds


def publish_only(work: Path, rows: int, repeat: int) -> list[float]:
    """Seconds of SqliteTarget.publish (truncateAndLoad) of Avro results, ``repeat`` times."""
    results = write_results(orders(rows), work / "results", ["avro"])["avro"]
    runs = []
    for i in range(repeat):
        db = work / f"publish-only-{i}.db"
        _rm(*_db_files(db))
        target = SqliteTarget(Connection("bench", vendor="sqlite", database=db.name), work)
        request = PublishRequest(
            target="bench",
            ref=TableRef("bench", ("main",), "orders"),
            action="truncateAndLoad",
            results=results,
            run_id="bench-run",
        )
        t = time.perf_counter()
        result = target.publish(request)
        runs.append(time.perf_counter() - t)
        target.close()
        assert result.rows_after == rows, result
        _rm(*_db_files(db))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of N, interleaved")
    parser.add_argument("--keep", type=Path, help="work in this folder (default bench/.data)")
    add_json_option(parser)
    args = parser.parse_args()
    work = args.keep or ROOT / "bench" / ".data" / "sqlite_load"
    work.mkdir(parents=True, exist_ok=True)
    figures = run(args.rows, work, args.repeat)
    write_json(args.json, "sqlite_load", figures)


def run(rows: int, work: Path, repeat: int) -> list[dict[str, object]]:
    folder = project(work, rows)
    ours_runs: list[float] = []
    untyped_runs: list[float] = []
    typed_runs: list[float] = []
    for _ in range(repeat):
        ours_runs.append(ours_apply(folder, rows))
        ddl = typed_ddl(folder)
        for runs, table in ((untyped_runs, None), (typed_runs, ddl)):
            seconds = reference_import(folder, work / "reference.db", rows, table)
            if seconds is not None:
                runs.append(seconds)
    _rm(*_db_files(work / "reference.db"))
    only_runs = publish_only(work, rows, repeat)
    ours, only = min(ours_runs), min(only_runs)
    refs = [min(r) for r in (untyped_runs, typed_runs) if r]
    if not refs:
        raise SystemExit("no sqlite3 CLI on PATH: the reference cannot be measured")
    reference = min(refs)
    load = os.getloadavg()[0]

    def rate(seconds: float) -> str:
        return f"{seconds:6.2f}s  {rows / seconds:>10,.0f} rows/s"

    print(f"rows: {rows:,} x 10 columns; load average {load:.2f}; best of {repeat}, interleaved")
    staged = "yes" if sqlite_stage.available() else "NO (pip install -e .: adbc-driver-sqlite)"
    print(f"rows staged through the ADBC SQLite driver: {staged}")
    print(f"ours: publish apply end to end (job + publish): {rate(ours)}")
    print(f"ours: the publish alone (Avro -> truncateAndLoad): {rate(only)}")
    print(f"reference sqlite3 .import, new untyped table:   {rate(min(untyped_runs))}")
    print(f"reference sqlite3 .import, new typed table:     {rate(min(typed_runs))}")
    print(f"ratio reference/ours, end to end:  {reference / ours:.2f}  (goal >= 0.8)")
    print(f"ratio reference/ours, publish alone: {reference / only:.2f}")
    print(
        f"(all runs: apply {_fmt(ours_runs)}  publish {_fmt(only_runs)}  .import untyped "
        f"{_fmt(untyped_runs)}  typed {_fmt(typed_runs)})"
    )
    name = "sqlite3 .import"
    return [
        measurement("sqlite/apply", ours, rows=rows, reference=name, reference_seconds=reference),
        measurement(
            "sqlite/truncateAndLoad", only, rows=rows, reference=name, reference_seconds=reference
        ),
    ]


def _fmt(values: list[float]) -> str:
    return "/".join(f"{v:.2f}" for v in values) or "-"


if __name__ == "__main__":
    main()
