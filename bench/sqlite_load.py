"""Publish N orders-like rows (Avro results) into SQLite vs loading the same rows as CSV.

    .venv/bin/python bench/sqlite_load.py [--rows 1000000] [--repeat 3] [--keep DIR]

(a) ours: SqliteTarget truncateAndLoad of Avro results into a fresh database file, from
    opening the results to the commit;
(b) reference, in the same run: the same rows as CSV loaded into a fresh file with stdlib
    csv.reader + executemany in one transaction, and with the sqlite3 CLI's .import when
    it exists; the faster of the two is the reference.
Prints rows/s for each and ours/reference (target >= 0.5).
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _data import orders
from _emit import add_json_option, measurement, write_json

from runner.results import iter_frames, write_results
from runner.spec.model import Connection
from runner.targets.base import PublishRequest, TableRef
from runner.targets.sqlite import SqliteTarget, quote


def _fresh(path: Path) -> sqlite3.Connection:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def reference_executemany(db: Path, csv_path: Path, ddl: str) -> float:
    conn = _fresh(db)
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(ddl)
    with csv_path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        marks = ",".join("?" * len(header))
        conn.executemany(f"INSERT INTO orders VALUES ({marks})", reader)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def reference_cli(db: Path, csv_path: Path, ddl: str) -> float | None:
    cli = shutil.which("sqlite3")
    if cli is None:
        return None
    conn = _fresh(db)
    conn.execute(ddl)
    conn.close()
    started = time.perf_counter()
    subprocess.run(
        [
            cli,
            str(db),
            "PRAGMA synchronous=NORMAL;",
            ".mode csv",
            f".import --skip 1 {csv_path} orders",
        ],
        check=True,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of N, interleaved")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    add_json_option(parser)
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-sqlite-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        figures = run(args.rows, work, args.repeat)
        write_json(args.json, "sqlite_load", figures)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def run(rows: int, work: Path, repeat: int) -> list[dict[str, object]]:
    t = time.perf_counter()
    frame = orders(rows)
    results = write_results(frame, work / "results", ["avro", "csv"])
    del frame
    avro, csv_results = results["avro"], results["csv"]
    print(
        f"data: {rows:,} rows x {len(avro.schema.columns)} columns, {len(avro.files)} avro "
        f"part(s), written in {time.perf_counter() - t:.1f}s"
    )

    t = time.perf_counter()
    for _ in iter_frames(avro):
        pass
    decode = time.perf_counter() - t

    def ours_once(i: int) -> float:
        db = work / f"ours{i}.db"
        _fresh(db).close()
        target = SqliteTarget(Connection("bench", vendor="sqlite", database=db.name), work)
        request = PublishRequest(
            target="bench",
            ref=TableRef("bench", ("main",), "orders"),
            action="truncateAndLoad",
            results=avro,
            run_id="bench-run",
        )
        t = time.perf_counter()
        result = target.publish(request)
        seconds = time.perf_counter() - t
        target.close()
        assert result.rows_after == rows, result
        db.unlink()
        return seconds

    types = SqliteTarget(Connection("ddl", vendor="sqlite", database="unused.db"), work)
    cols = ", ".join(
        f"{quote(c.name)} {types.sql_type(c.type)}" for c in csv_results.schema.columns
    )
    ddl = f"CREATE TABLE orders ({cols})"
    # interleaved, best of N: the machine is shared, so noise hits both sides alike
    ours_runs: list[float] = []
    many_runs: list[float] = []
    cli_runs: list[float] = []
    for i in range(repeat):
        ours_runs.append(ours_once(i))
        many_runs.append(reference_executemany(work / "ref_many.db", csv_results.files[0], ddl))
        cli = reference_cli(work / "ref_cli.db", csv_results.files[0], ddl)
        if cli is not None:
            cli_runs.append(cli)
    for name in ("ref_many.db", *(("ref_cli.db",) if cli_runs else ())):
        with sqlite3.connect(work / name) as check:
            count = check.execute("SELECT count(*) FROM orders").fetchone()[0]
        assert count == rows, f"{name} holds {count} rows, not {rows}"
    ours = min(ours_runs)
    many = min(many_runs)
    reference = min([many, *cli_runs])

    def rate(seconds: float) -> str:
        return f"{seconds:6.2f}s  {rows / seconds:>10,.0f} rows/s"

    print(f"decode only (iter_frames avro):     {rate(decode)}")
    print(f"ours: avro -> truncateAndLoad:      {rate(ours)}")
    print(f"reference csv.reader+executemany:   {rate(many)}")
    if cli_runs:
        print(f"reference sqlite3 .import:          {rate(min(cli_runs))}")
    print(f"ratio ours/reference (rows/s):      {reference / ours:.2f}  (target >= 0.5)")
    print(
        f"(best of {repeat}, interleaved; all runs ours {_fmt(ours_runs)} executemany "
        f"{_fmt(many_runs)} .import {_fmt(cli_runs)})"
    )
    name = "sqlite3 .import" if cli_runs and min(cli_runs) <= many else "csv executemany"
    return [
        measurement(
            "sqlite/truncateAndLoad",
            ours,
            rows=rows,
            reference=name,
            reference_seconds=reference,
        )
    ]


def _fmt(values: list[float]) -> str:
    return "/".join(f"{v:.2f}" for v in values) or "-"


if __name__ == "__main__":
    main()
