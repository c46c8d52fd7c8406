"""Load benchmark: Avro results -> Postgres and MariaDB with every action, vs the CLI clients.

    .venv/bin/python bench/load.py                      # 1M rows, postgres and mysql
    .venv/bin/python bench/load.py --rows 200000 --only postgres
    .venv/bin/python bench/load.py --memory-rows 10000000 --only postgres
    .venv/bin/python bench/load.py --memory-rows 10000000 --only mysql   # MariaDB's peak

Generates orders-like rows (10 columns, some nulls) as Avro parts plus the same rows as
one CSV, then times the reference (``psql \\copy`` / ``mysql --local-infile`` LOAD DATA of
the CSV into a fresh table) and our target with each action, each load in a child
process so its peak RSS (ru_maxrss) is its own. Prints rows/s, the ratio to the
reference and the peak memory. Data lives under bench/.data/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402

from runner.results import SLICE_ROWS, ResultSet, schema_of  # noqa: E402
from runner.spec.model import Connection  # noqa: E402
from runner.targets.base import PublishRequest, TableRef  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from _emit import add_json_option, measurement, write_json  # noqa: E402

#: the figures of this run, for --json
FIGURES: list[dict] = []

#: rows per Avro part: as many as the runner writes per part (runner.results.SLICE_ROWS)
PART_ROWS = SLICE_ROWS
#: table names of this run (several engineers may bench against the same database at once)
T, REF, MEM = (f"bench_{name}_{os.getpid()}" for name in ("t", "ref", "mem"))
PG = Connection(
    name="bench",
    vendor="postgres",
    host="127.0.0.1",
    port=5432,
    database="test",
    username="postgres",
)
MY = Connection(
    name="bench",
    vendor="mysql",
    host="127.0.0.1",
    port=3306,
    database="test",
    username="root",
)


def frame(start: int, n: int) -> pl.DataFrame:
    """Rows ``start .. start+n`` of the orders-like data set (deterministic)."""
    i = pl.int_range(start, start + n, dtype=pl.Int64, eager=True)
    return pl.DataFrame({"id": i}).with_columns(
        customer=pl.format("customer-{}", pl.col("id") % 50_000),
        amount=(pl.col("id") * 7919 % 1_000_000).cast(pl.Float64) / 100,
        quantity=(pl.col("id") % 97).cast(pl.Int32),
        status=pl.when(pl.col("id") % 3 == 0).then(pl.lit("shipped")).otherwise(pl.lit("open")),
        created=pl.datetime(2024, 1, 1) + pl.duration(seconds=pl.col("id") * 37),
        shipped=pl.when(pl.col("id") % 5 == 0)
        .then(None)
        .otherwise(pl.date(2024, 1, 1) + pl.duration(days=pl.col("id") % 365)),
        paid=pl.col("id") % 2 == 0,
        note=pl.when(pl.col("id") % 4 == 0)
        .then(None)
        .otherwise(pl.format("note {} for order", pl.col("id"))),
        weight=(pl.col("id") % 1000).cast(pl.Float64) / 7,
    )


def generate(folder: Path, start: int, rows: int, csv: bool, changed: bool = False) -> ResultSet:
    """Rows ``start .. start+rows`` as Avro parts (and one CSV); ``changed``: each row's
    quantity and note differ from the data set's (an upsert rewrites every existing row)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    csv_path = folder / "all.csv"
    with open(csv_path, "wb") if csv else open(os.devnull, "wb") as out:
        for k, s in enumerate(range(start, start + rows, PART_ROWS)):
            f = frame(s, min(PART_ROWS, start + rows - s))
            if changed:
                f = f.with_columns(
                    quantity=pl.col("quantity") + 1,
                    note=pl.format("changed note {}", pl.col("id")),
                )
            path = folder / f"part-{k:05d}.avro"
            f.write_avro(path)
            files.append(path)
            if csv:
                f.write_csv(out, include_header=False)
    return ResultSet("avro", tuple(files), schema_of(frame(0, 1).schema), rows, "bench")


# -- child: one publish, timed, with its own peak RSS ------------------------------------


def child(args: argparse.Namespace) -> None:
    results = ResultSet.from_json(json.loads(Path(args.child).read_text()), Path("/"))
    if args.vendor == "postgres":
        from runner.targets.postgres import PostgresTarget

        target: object = PostgresTarget(PG)
        ref = TableRef("bench", ("public",), args.table)
    else:
        from runner.targets.mysql import MysqlTarget

        target = MysqlTarget(MY)
        ref = TableRef("bench", ("test",), args.table)
    request = PublishRequest("bench", ref, args.action, results, args.run_id, key=("id",))
    t0 = time.perf_counter()
    result = target.publish(request)  # type: ignore[attr-defined]
    seconds = time.perf_counter() - t0
    target.close()  # type: ignore[attr-defined]
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rows": result.rows_loaded, "rss_mb": rss_mb}))


def run_child(vendor: str, table: str, action: str, results: ResultSet, work: Path) -> dict:
    spec = work / f"results-{results.rows}-{results.files[0].parent.name}.json"
    spec.write_text(json.dumps(results.to_json(Path("/"))))
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            str(spec),
            "--vendor",
            vendor,
            "--table",
            table,
            "--action",
            action,
            "--run-id",
            f"bench-{time.time_ns()}",
        ],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"{vendor} {action} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- postgres --------------------------------------------------------------------------


def psql(command: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "test",
            "-c",
            command,
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t0


def pg_columns(results: ResultSet) -> str:
    from runner.targets.postgres import PostgresTarget

    t = PostgresTarget(PG)
    return ", ".join(f'"{c.name}" {t.sql_type(c.type)}' for c in results.schema.columns)


#: what the name of an action's measurement adds
NOTES = {
    "upsert": " (half new)",
    "upsert-changed": " (half new, half changed)",
    "load": " (into 1M rows + PK)",
}


def bench_postgres(
    base: ResultSet, overlap: ResultSet, changed: ResultSet, fresh: ResultSet, work: Path
) -> None:
    """Each action is timed right after a psql \\copy of the same rows (the machine is
    shared and noisy: a reference measured next to each run keeps the ratio honest)."""
    rows = base.rows
    cols = pg_columns(base)
    csv_path = base.files[0].parent / "all.csv"

    def reference() -> float:
        psql(f"drop table if exists {REF}; create table {REF} ({cols})")
        psql("checkpoint")
        return psql(f"\\copy {REF} from '{csv_path}' with (format csv)")

    print(
        f"\npostgres, {rows:,} rows x {len(base.schema.columns)} columns "
        f"(Avro parts of {PART_ROWS:,}); reference: psql \\copy of the same rows as CSV "
        "into a new table, run just before each action"
    )
    setups = {
        "create": f"drop table if exists {T}",
        "load": f"drop table if exists {T}; create table {T} as table {REF}; "
        f"alter table {T} add primary key (id)",
        "createAndLoad": f"drop table if exists {T}; create table {T} (like {REF})",
        "truncateAndLoad": f"drop table if exists {T}; create table {T} as table {REF}",
        "dropAndLoad": f"drop table if exists {T}; create table {T} as table {REF}",
        "upsert": f"drop table if exists {T}; create table {T} as table {REF}; "
        f"alter table {T} add primary key (id)",
    }
    setups["upsert-changed"] = setups["upsert"]
    for action, setup in setups.items():
        ref_s = reference()
        psql(setup)
        if action != "create":
            psql(f"vacuum analyze {T}")
        psql("checkpoint")
        results = {"upsert": overlap, "upsert-changed": changed, "load": fresh}.get(action, base)
        r = run_child("postgres", T, action.removesuffix("-changed"), results, work)
        note = NOTES.get(action, "")
        note = note.replace("1M", f"{rows:,}")
        print(
            f"  {action + note:34} {r['seconds']:6.2f} s {rows / r['seconds']:>9,.0f} rows/s"
            f" | psql {ref_s:5.2f} s {rows / ref_s:>9,.0f} rows/s"
            f" | {ref_s / r['seconds']:4.2f}x psql | peak {r['rss_mb']:4.0f} MB"
        )
        FIGURES.append(
            measurement(
                f"postgres/{action}",
                r["seconds"],
                rows=rows,
                reference="psql \\copy",
                reference_seconds=ref_s,
                peak_mb=r["rss_mb"],
            )
        )
    psql(f"drop table if exists {T}; drop table if exists {REF}")


# -- mysql ----------------------------------------------------------------------------


def mysql(command: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        ["mysql", "--local-infile=1", "-h", "127.0.0.1", "-u", "root", "test", "-e", command],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t0


def bench_mysql(
    base: ResultSet, overlap: ResultSet, changed: ResultSet, fresh: ResultSet, work: Path
) -> None:
    """As for Postgres, with ``mysql --local-infile=1`` LOAD DATA as the reference."""
    from runner.targets.mysql import MysqlTarget

    t = MysqlTarget(MY)
    cols = ", ".join(f"`{c.name}` {t.sql_type(c.type)}" for c in base.schema.columns)
    rows = base.rows
    csv_path = base.files[0].parent / "all.csv"

    def reference() -> float:
        mysql(f"drop table if exists {REF}; create table {REF} ({cols}) engine=innodb")
        return mysql(
            f"load data local infile '{csv_path}' into table {REF} fields terminated by ',' "
            "optionally enclosed by '\"' (id, customer, amount, quantity, status, created, "
            "@shipped, @paid, @note, weight) set shipped = nullif(@shipped, ''), "
            "paid = (@paid = 'true'), note = nullif(@note, '')"
        )

    print(
        f"\nmariadb, {rows:,} rows x {len(base.schema.columns)} columns; reference: mysql "
        "--local-infile=1 LOAD DATA LOCAL of the same rows as CSV, run just before each action"
    )
    copy = f"drop table if exists {T}; create table {T} like {REF}; "
    copy += f"insert into {T} select * from {REF}"
    setups = {
        "create": f"drop table if exists {T}",
        "load": copy + f"; alter table {T} add primary key (id)",
        "truncateAndLoad": copy,
        "dropAndLoad": copy,
        "upsert": copy + f"; alter table {T} add primary key (id)",
    }
    setups["upsert-changed"] = setups["upsert"]
    for action, setup in setups.items():
        ref_s = reference()
        mysql(setup)
        results = {"upsert": overlap, "upsert-changed": changed, "load": fresh}.get(action, base)
        r = run_child("mysql", T, action.removesuffix("-changed"), results, work)
        note = NOTES.get(action, "").replace("1M", f"{rows:,}")
        print(
            f"  {action + note:34} {r['seconds']:6.2f} s {rows / r['seconds']:>9,.0f} rows/s"
            f" | mysql {ref_s:5.2f} s {rows / ref_s:>9,.0f} rows/s"
            f" | {ref_s / r['seconds']:4.2f}x mysql | peak {r['rss_mb']:4.0f} MB"
        )
        FIGURES.append(
            measurement(
                f"mysql/{action}",
                r["seconds"],
                rows=rows,
                reference="LOAD DATA LOCAL",
                reference_seconds=ref_s,
                peak_mb=r["rss_mb"],
            )
        )
    mysql(f"drop table if exists {T}; drop table if exists {REF}")


def bench_memory(rows: int, work: Path, vendor: str = "postgres") -> None:
    data = generate(work / f"mem-{rows}", 0, rows, csv=False)
    drop = psql if vendor == "postgres" else mysql
    drop(f"drop table if exists {MEM}")
    r = run_child(vendor, MEM, "truncateAndLoad", data, work)
    verdict = "OK" if r["rss_mb"] < 500 else "OVER 500 MB"
    name = "Postgres" if vendor == "postgres" else "MariaDB"
    print(
        f"memory: {rows:,} rows Avro -> {name} truncateAndLoad (new table) in "
        f"{r['seconds']:.1f} s ({rows / r['seconds']:,.0f} rows/s), peak RSS "
        f"{r['rss_mb']:.0f} MB: {verdict}"
    )
    FIGURES.append(measurement(f"memory/{vendor}", r["seconds"], rows=rows, peak_mb=r["rss_mb"]))
    drop(f"drop table if exists {MEM}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--only", choices=("postgres", "mysql"))
    p.add_argument("--memory-rows", type=int, help="only check peak memory for this many rows")
    p.add_argument("--keep", action="store_true", help="keep the generated data")
    add_json_option(p)
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--vendor", help=argparse.SUPPRESS)
    p.add_argument("--table", help=argparse.SUPPRESS)
    p.add_argument("--action", help=argparse.SUPPRESS)
    p.add_argument("--run-id", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    data_root = ROOT / "bench" / ".data"
    data_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="load-", dir=data_root))
    try:
        if args.memory_rows:
            bench_memory(args.memory_rows, work, args.only or "postgres")
            write_json(args.json, "load", FIGURES)
            return
        t0 = time.perf_counter()
        base = generate(work / "base", 0, args.rows, csv=True)
        # upsert: the rows of the table's second half (the same values) and as many new
        # ones; upsert-changed: the same keys, the existing rows' values changed
        overlap = generate(work / "overlap", args.rows // 2, args.rows, csv=False)
        changed = generate(work / "changed", args.rows // 2, args.rows, csv=False, changed=True)
        fresh = generate(work / "fresh", args.rows, args.rows, csv=False)
        print(f"generated {args.rows:,} rows as Avro + CSV in {time.perf_counter() - t0:.1f} s")
        if args.only in (None, "postgres"):
            bench_postgres(base, overlap, changed, fresh, work)
        if args.only in (None, "mysql"):
            bench_mysql(base, overlap, changed, fresh, work)
        write_json(args.json, "load", FIGURES)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
