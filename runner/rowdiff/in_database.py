"""Counts of a diff computed inside the database, for tables above ``--diff-rows-limit``.

The results' compared columns go into a TEMP table of the table's own column types
(PostgreSQL: ``COPY`` with the loader's CSV; SQLite: the loader's bindable rows), so
each value is converted exactly as the publish would convert it. One query then counts
the classes over ``UNION ALL`` of both sides with ``GROUP BY`` (which treats NULLs as
equal, as the in-memory diff does):

- by key: rows grouped by (key, every compared column), then by key: a key on one side
  only is added or removed, on both sides in one group unchanged, in two groups changed;
- as a multiset: rows grouped by every compared column, each side's copies counted.

Nothing is kept in memory but one batch of the results; no sample rows are read. The
temporary table disappears with the transaction (PostgreSQL) or the connection (SQLite).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from runner.errors import TargetError
from runner.results import ResultSet
from runner.rowdiff.model import RowDiff, named_counts
from runner.targets.base import PublishRequest, TableInfo, TableRef, TableTarget

_TEMP = "publish_diff_"
#: (counts, the key rows were matched by, the side where the key asked for repeats)
Counted = tuple[dict[str, int], tuple[str, ...], str]


def diff(
    base: RowDiff,
    results: ResultSet,
    target: TableTarget,
    table: TableInfo,
    rows_limit: int,
    candidates: Sequence[str] = (),
) -> RowDiff:
    """``base`` with counts by the database itself (no samples), else skipped, saying why.

    Without ``base.key``, the first of ``candidates`` unique on both sides matches rows.
    """
    too_large = f"table too large ({table.rows:,} rows > --diff-rows-limit {rows_limit:,})"
    if not supports(target):
        return replace(base, skipped=f"{too_large}; raise --diff-rows-limit to compare rows")
    try:
        found, keys, repeated = counts(
            results, target, table.ref, base.compared, base.key, candidates
        )
    except TargetError as exc:
        return replace(base, skipped=f"{too_large}, and {exc}")
    note = (
        f"counted inside the database, without sample rows: {too_large}; "
        "raise --diff-rows-limit to see rows"
    )
    if base.key and not keys:
        where = f" in the {repeated}" if repeated else ""
        note = f"{', '.join(base.key)} is not unique{where}: rows matched as a multiset; {note}"
        base = replace(base, match="rows", key=(), duplicated=repeated)
    elif keys and not base.key:  # the rows line says so: "matched by id, unique on both sides"
        base = replace(base, match="inferred", key=keys)
    return replace(base, counts=named_counts(base.mode, found), note=note)


def supports(target: TableTarget) -> bool:
    """Whether this target's database can count a diff itself."""
    return target.vendor in ("sqlite", "postgres")


def _sides(table_sql: str, temp_sql: str, cols: Sequence[str]) -> str:
    picks = ", ".join(cols)
    return (
        f"SELECT {picks}, 1 AS o, 0 AS n FROM {table_sql} "
        f"UNION ALL SELECT {picks}, 0 AS o, 1 AS n FROM {temp_sql}"
    )


def keyed_sql(table_sql: str, temp_sql: str, cols: Sequence[str], keys: Sequence[str]) -> str:
    """added, removed, changed, unchanged, most rows of one key in the table, in the results."""
    k = ", ".join(keys)
    rows = (
        f"SELECT {k}, sum(o) AS so, sum(n) AS sn FROM ({_sides(table_sql, temp_sql, cols)}) u "
        f"GROUP BY {', '.join(cols)}"
    )
    per_key = f"SELECT count(*) AS v, sum(so) AS so, sum(sn) AS sn FROM ({rows}) r GROUP BY {k}"
    return (
        "SELECT sum(CASE WHEN so = 0 THEN 1 ELSE 0 END), sum(CASE WHEN sn = 0 THEN 1 ELSE 0 END), "
        "sum(CASE WHEN so = 1 AND sn = 1 AND v > 1 THEN 1 ELSE 0 END), "
        "sum(CASE WHEN so = 1 AND sn = 1 AND v = 1 THEN 1 ELSE 0 END), max(so), max(sn) "
        f"FROM ({per_key}) g"
    )


def multiset_sql(table_sql: str, temp_sql: str, cols: Sequence[str]) -> str:
    """added, removed, unchanged: the copies of each distinct row on each side."""
    rows = (
        f"SELECT sum(o) AS so, sum(n) AS sn FROM ({_sides(table_sql, temp_sql, cols)}) u "
        f"GROUP BY {', '.join(cols)}"
    )
    return (
        "SELECT sum(CASE WHEN sn > so THEN sn - so ELSE 0 END), "
        "sum(CASE WHEN so > sn THEN so - sn ELSE 0 END), "
        f"sum(CASE WHEN so < sn THEN so ELSE sn END) FROM ({rows}) g"
    )


def counts(
    results: ResultSet,
    target: TableTarget,
    ref: TableRef,
    compared: Sequence[str],
    keys: Sequence[str],
    candidates: Sequence[str] = (),
) -> Counted:
    """``({added, removed, changed, unchanged}, the key the rows were matched by, the side
    where a key repeats)``.

    Rows are matched by ``keys``, else by the first of ``candidates`` without NULLs or
    repeats on both sides, unless a key repeats (then as a multiset: no key). Raises
    TargetError when the database cannot (no TEMP privilege, a type without equality).
    """
    if target.vendor == "postgres":
        return _postgres(results, target, ref, compared, (keys, candidates))
    if target.vendor == "sqlite":
        path = Path(getattr(target, "path"))  # noqa: B009
        return _sqlite(results, path, ref, compared, (keys, candidates))
    raise TargetError(f"{ref}: {target.vendor} cannot count a diff in the database")


def _named(row: Sequence[Any], keyed: bool) -> dict[str, int]:
    values = [int(v or 0) for v in row]
    if keyed:
        added, removed, changed, unchanged = values[:4]
    else:
        added, removed, unchanged = values[:3]
        changed = 0
    return {"added": added, "removed": removed, "changed": changed, "unchanged": unchanged}


def _unique_sql(table_sql: str, temp_sql: str, col: str) -> str:
    """How many rows of each side are NULL or repeat in ``col``, and how many there are."""
    side = "SELECT count(*) - count(DISTINCT {c}) + count(*) - count({c}), count(*) FROM {t}"
    return (
        f"SELECT a.*, b.* FROM ({side.format(c=col, t=table_sql)}) a, "
        f"({side.format(c=col, t=temp_sql)}) b"
    )


def _run(
    execute: Any,
    table: str,
    temp: str,
    quote: Callable[[str], str],
    compared: Sequence[str],
    keys: Sequence[str],
    candidates: Sequence[str],
) -> Counted:
    cols = [quote(c) for c in compared]
    if not keys:  # a column without NULLs or repeats on both sides identifies rows
        for column in candidates:
            bad_old, n_old, bad_new, n_new = execute(_unique_sql(table, temp, quote(column)))
            if n_old and n_new and not bad_old and not bad_new:
                keys = (column,)
                break
    repeated = ""
    if keys:
        row = execute(keyed_sql(table, temp, cols, [quote(k) for k in keys]))
        if int(row[4] or 0) <= 1 and int(row[5] or 0) <= 1:
            return _named(row, True), tuple(keys), ""
        repeated = "table" if int(row[4] or 0) > 1 else "results"
    return _named(execute(multiset_sql(table, temp, cols)), False), (), repeated


def _request(results: ResultSet, ref: TableRef) -> PublishRequest:
    return PublishRequest("diff", ref, "truncateAndLoad", results, "diff")


def _postgres(
    results: ResultSet,
    target: TableTarget,
    ref: TableRef,
    compared: Sequence[str],
    keys: tuple[Sequence[str], Sequence[str]],
) -> Counted:
    import psycopg
    from psycopg import sql

    from runner.targets.frames import checked_batches
    from runner.targets.postgres_types import DIALECT, csv_bytes

    conn: Any = getattr(target, "conn")  # noqa: B009
    table = sql.Identifier(*ref.path, ref.table) if ref.path else sql.Identifier(ref.table)
    temp = sql.Identifier(_TEMP + uuid.uuid4().hex[:12])
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in compared)
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SET LOCAL TimeZone = 'UTC'")
            cur.execute(
                sql.SQL(
                    "CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA"
                ).format(temp, cols, table)
            )
            copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, NULL '')")
            with cur.copy(copy_sql.format(temp, cols)) as copy:
                for frame in checked_batches(_request(results, ref), DIALECT):
                    copy.write(csv_bytes(frame.select(compared)))

            def execute(query: str) -> Any:
                cur.execute(query)
                return cur.fetchone()

            def quote(name: str) -> str:
                return sql.Identifier(name).as_string(conn)

            names = (table.as_string(conn), temp.as_string(conn))
            return _run(execute, *names, quote, compared, *keys)
    except psycopg.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TargetError(f"{ref}: cannot count the diff in the database: {message}") from None


def _sqlite(
    results: ResultSet,
    path: Path,
    ref: TableRef,
    compared: Sequence[str],
    keys: tuple[Sequence[str], Sequence[str]],
) -> Counted:
    from runner.rowdiff.sqlite_rows import quote
    from runner.targets.frames import checked_batches
    from runner.targets.sqlite_types import DIALECT, bindable

    temp = quote(_TEMP + uuid.uuid4().hex[:12])
    cols = [quote(c) for c in compared]
    table = quote(ref.table)
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise TargetError(f"{ref}: cannot open {path} to count the diff: {exc}") from None
    try:
        conn.execute(f"CREATE TEMP TABLE {temp} AS SELECT {', '.join(cols)} FROM {table} WHERE 0")
        insert = f"INSERT INTO temp.{temp} VALUES ({', '.join('?' * len(cols))})"
        for frame in checked_batches(_request(results, ref), DIALECT):
            rows = bindable(frame, results.schema).select(list(compared))
            conn.executemany(insert, rows.iter_rows())

        def execute(query: str) -> Any:
            return conn.execute(query).fetchone()

        return _run(execute, table, f"temp.{temp}", quote, compared, *keys)
    except sqlite3.Error as exc:
        raise TargetError(f"{ref}: cannot count the diff in the database: {exc}") from None
    finally:
        conn.close()
