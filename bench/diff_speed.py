"""Row-level diff benchmark: 1M rows x 10 columns against a 1M-row table (SQLite, PostgreSQL).

    .venv/bin/python bench/diff_speed.py                 # 1M rows, sqlite and postgres
    .venv/bin/python bench/diff_speed.py --rows 200000 --only sqlite

For each database: loads the table with our target (truncateAndLoad), edits the incoming
rows (one value changed every 1,000 rows, 100 rows removed, 100 added), then times, in
the same run:

- the reference: reading that table alone with the database's own CLI export
  (``sqlite3 -csv ... > file``, ``psql -c "\\copy (select ...) to file csv"``);
- ours: ``diff_table`` by key, in a child process so its peak memory is its own (the
  data generation stays in the parent). The peak is the child's VmHWM: ``ru_maxrss`` of
  a child also counts the parent's pages it was forked with (Linux keeps the high-water
  mark across exec), so it reported the parent's peak instead.

Prints seconds, ours/reference (target < 2), the child's peak memory (target < 500 MB)
and its CPU seconds (steadier than wall time on a loaded machine).
Data lives under bench/.data/ (git-ignored) and is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import polars as pl  # noqa: E402
from _data import orders  # noqa: E402
from _emit import add_json_option, measurement, write_json  # noqa: E402

from runner.results import ResultSet, write_results  # noqa: E402
from runner.spec.model import Connection  # noqa: E402
from runner.targets.base import PublishRequest, TableRef  # noqa: E402
from runner.targets.registry import open_target  # noqa: E402

DATA = ROOT / "bench" / ".data" / "diff"


def connection(vendor: str, folder: Path) -> tuple[Connection, TableRef, str]:
    if vendor == "sqlite":
        conn = Connection("bench", vendor="sqlite", database=str(folder / "bench.db"))
        return conn, TableRef("bench", ("main",), "orders"), ""
    schema = f"bench_diff_{uuid.uuid4().hex[:8]}"
    conn = Connection(
        "bench",
        vendor="postgres",
        host="127.0.0.1",
        port=5432,
        database="test",
        username="postgres",
    )
    return conn, TableRef("bench", (schema,), "orders"), schema


def incoming(rows: int) -> pl.DataFrame:
    base = orders(rows)
    changed = (
        pl.when(pl.col("id") % 1000 == 0).then(pl.col("quantity") + 1).otherwise(pl.col("quantity"))
    )
    edited = base.with_columns(changed.alias("quantity")).filter(pl.col("id") > 100)
    extra = base.tail(100).with_columns(pl.col("id") + rows)
    return pl.concat([edited, extra])


def reference(vendor: str, ref: TableRef, folder: Path) -> float:
    out = folder / "export.csv"
    started = time.perf_counter()
    if vendor == "sqlite":
        with out.open("wb") as fh:
            subprocess.run(
                ["sqlite3", "-csv", str(folder / "bench.db"), 'select * from "orders"'],
                stdout=fh,
                check=True,
            )
    else:
        copy = f'\\copy (select * from "{ref.path[0]}"."orders") to \'{out}\' csv'
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-q", "-c", copy],
            check=True,
        )
    seconds = time.perf_counter() - started
    out.unlink()
    return seconds


def peak_mb() -> float:
    """This process's peak resident memory since exec (VmHWM), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> None:
    """Run one diff and print its seconds, counts and peak memory as JSON."""
    from runner.rowdiff.engine import diff_table

    conn = Connection(**json.loads(args.connection))
    ref = TableRef("bench", tuple(args.path), "orders")
    results = ResultSet.from_json(json.loads(args.results), Path(args.base))
    target = open_target(conn, Path(args.base))
    try:
        info = target.describe([ref])[ref]
        started = time.perf_counter()
        diff = diff_table(results, "truncateAndLoad", info, target, key=("id",))
        seconds = time.perf_counter() - started
    finally:
        target.close()
    print(json.dumps({"seconds": seconds, "counts": dict(diff.counts), "peak_mb": peak_mb()}))


def run_vendor(vendor: str, rows: int) -> dict[str, object]:
    folder = DATA / vendor
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    conn, ref, schema = connection(vendor, folder)
    target = open_target(conn, folder)
    try:
        if schema:
            import psycopg

            with psycopg.connect(
                host="127.0.0.1", user="postgres", dbname="test", autocommit=True
            ) as c:
                c.execute(f'create schema "{schema}"')
        old = write_results(orders(rows), folder / "old", ["parquet"])["parquet"]
        target.publish(PublishRequest("bench", ref, "truncateAndLoad", old, "seed"))
        new = write_results(incoming(rows), folder / "new", ["parquet"])["parquet"]
        ref_seconds = min(reference(vendor, ref, folder) for _ in range(2))
        fields = {
            k: getattr(conn, k) for k in ("name", "vendor", "host", "port", "database", "username")
        }
        cmd = [
            sys.executable,
            __file__,
            "--child",
            "--connection",
            json.dumps(fields),
            "--results",
            json.dumps(new.to_json(folder)),
            "--base",
            str(folder),
            "--path",
            *ref.path,
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        out = json.loads(proc.stdout.read() if proc.stdout else "{}")
        if status:
            raise SystemExit(f"the diff child failed ({status})")
        ours = out["seconds"]
        peak = out.get("peak_mb") or usage.ru_maxrss / 1024
        cpu = usage.ru_utime + usage.ru_stime
        print(
            f"{vendor:8} rows {rows:,}: reference export {ref_seconds:.2f}s, diff {ours:.2f}s, "
            f"ratio {ours / ref_seconds:.2f} (target < 2), peak {peak:.0f} MB "
            f"(target < 500), child CPU {cpu:.2f}s; counts {out['counts']}"
        )
        return measurement(
            f"diff/{vendor}",
            ours,
            rows=rows,
            reference="CLI export",
            reference_seconds=ref_seconds,
            peak_mb=peak,
        )
    finally:
        target.close()
        if schema:
            import psycopg

            with psycopg.connect(
                host="127.0.0.1", user="postgres", dbname="test", autocommit=True
            ) as c:
                c.execute(f'drop schema if exists "{schema}" cascade')
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    add_json_option(parser)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--connection", help=argparse.SUPPRESS)
    parser.add_argument("--results", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--path", nargs="*", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    figures = [
        run_vendor(vendor, args.rows)
        for vendor in ("sqlite", "postgres")
        if args.only in (None, vendor)
    ]
    write_json(args.json, "diff_speed", figures)


if __name__ == "__main__":
    main()
