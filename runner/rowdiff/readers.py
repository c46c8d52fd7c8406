"""Stream a table's rows in the canonical form of :mod:`runner.rowdiff.canon`.

Each vendor's fastest read path, never writing anything:

- SQLite: a read-only connection of its own in a worker thread, one JSON array per column
  and batch built by SQLite (``json_group_array``, C speed, without the GIL) and decoded by
  polars while the next batch is read (WITHOUT ROWID tables: the cursor's rows);
- PostgreSQL: ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` into a temporary file that
  polars scans in batches (the same bytes ``psql \\copy`` writes);
- MySQL/MariaDB: an unbuffered cursor over ``CAST(... AS CHAR)`` (``HEX`` for binary).

Frames come in batches of at most ``batch_rows`` rows with the compared columns only.
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from runner.errors import TargetError
from runner.rowdiff import canon
from runner.targets._prefetch import Prefetch
from runner.targets.base import TableRef, TableTarget

#: rows per frame read from a table
BATCH_ROWS = 100_000
#: (column name, logical type of the results' column)
Columns = Sequence[tuple[str, str]]


def supports(target: TableTarget) -> bool:
    """Whether rows of this target's tables can be read for a diff."""
    return target.vendor in ("sqlite", "postgres", "mysql")


def table_frames(
    target: TableTarget, ref: TableRef, columns: Columns, batch_rows: int = BATCH_ROWS
) -> Iterator[pl.DataFrame]:
    """The table's rows, canonical, in batches."""
    if target.vendor == "sqlite":
        yield from _sqlite_frames(Path(getattr(target, "path")), ref, columns, batch_rows)  # noqa: B009
    elif target.vendor == "postgres":
        yield from _postgres_frames(target, ref, columns, batch_rows)
    elif target.vendor == "mysql":
        yield from _mysql_frames(target, ref, columns, batch_rows)
    else:
        raise TargetError(f"{ref}: a row-level diff cannot read {target.vendor} tables")


# --- SQLite ------------------------------------------------------------------------------


def _sqlite_quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _sqlite_open(path: Path, ref: TableRef) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30, isolation_level=None
        )
        conn.execute("BEGIN")  # one snapshot for every batch
    except sqlite3.Error as exc:
        raise TargetError(f"{ref}: cannot open {path} to compare rows: {exc}") from None
    return conn


def _sqlite_batches(
    path: Path, ref: TableRef, columns: Columns, batch_rows: int
) -> Iterator[tuple[Any, ...]]:
    """Batches of ``(json array per column..., count)``, keyset-paged by rowid.

    SQLite builds the arrays in C without the GIL (``json_group_array``), so this runs
    in a worker thread while polars decodes the previous batch.
    """
    picks = ", ".join(
        f"json_group_array({canon.sqlite_pick(_sqlite_quote(n), t)})" for n, t in columns
    )
    inner = ", ".join(_sqlite_quote(n) for n, _ in columns)
    query = (
        f"SELECT {picks}, max(rowid), count(*) FROM (SELECT rowid, {inner} "
        f"FROM {_sqlite_quote(ref.table)} WHERE rowid > ? ORDER BY rowid LIMIT ?)"
    )
    conn = _sqlite_open(path, ref)
    try:
        last = -(2**63)
        while True:
            row = conn.execute(query, (last, batch_rows)).fetchone()
            if not row[-1]:
                return
            last = row[-2]
            yield row
    finally:
        conn.close()


def _decode_json(name: str, text: str, logical: str) -> pl.Series:
    series = pl.Series(name, [text])
    try:
        return series.str.json_decode(pl.List(canon.sqlite_json_dtype(logical))).explode()
    except pl.exceptions.PolarsError:  # a value of another kind: read as text, then cast
        return series.str.json_decode(pl.List(pl.String)).explode()


def _sqlite_cursor_frames(
    path: Path, ref: TableRef, columns: Columns, batch_rows: int
) -> Iterator[pl.DataFrame]:
    """Tables WITHOUT ROWID: the cursor's rows, gathered column by column."""
    picks = ", ".join(canon.sqlite_pick(_sqlite_quote(n), t) for n, t in columns)
    conn = _sqlite_open(path, ref)
    exprs = [canon.sqlite_expr(n, t) for n, t in columns]
    try:
        cur = conn.execute(f"SELECT {picks} FROM {_sqlite_quote(ref.table)}")
        while rows := cur.fetchmany(batch_rows):
            series = [
                pl.Series(n, values, dtype=canon.sqlite_json_dtype(t), strict=False)
                for (n, t), values in zip(columns, zip(*rows, strict=True), strict=True)
            ]
            yield pl.DataFrame(series).select(exprs)
    finally:
        conn.close()


def _sqlite_frames(
    path: Path, ref: TableRef, columns: Columns, batch_rows: int
) -> Iterator[pl.DataFrame]:
    if not columns:
        return
    exprs = [canon.sqlite_expr(n, t) for n, t in columns]
    try:
        with Prefetch(_sqlite_batches(path, ref, columns, batch_rows), name="diff-read") as rows:
            for row in rows:
                series = [
                    _decode_json(n, text, t) for (n, t), text in zip(columns, row, strict=False)
                ]
                yield pl.DataFrame(series).select(exprs)
    except sqlite3.OperationalError as exc:
        if "rowid" not in str(exc):
            raise TargetError(f"{ref}: cannot read the table to compare rows: {exc}") from None
        yield from _sqlite_cursor_frames(path, ref, columns, batch_rows)
    except sqlite3.Error as exc:
        raise TargetError(f"{ref}: cannot read the table to compare rows: {exc}") from None


# --- PostgreSQL --------------------------------------------------------------------------


def _postgres_frames(
    target: TableTarget, ref: TableRef, columns: Columns, batch_rows: int
) -> Iterator[pl.DataFrame]:
    import psycopg
    from psycopg import sql

    names = [n for n, _ in columns]
    table = sql.Identifier(*ref.path, ref.table) if ref.path else sql.Identifier(ref.table)
    query = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT (FORMAT csv)").format(
        sql.SQL(", ").join(sql.Identifier(n) for n in names), table
    )
    conn: Any = getattr(target, "conn")  # noqa: B009
    with tempfile.NamedTemporaryFile(prefix="publish-diff-", suffix=".csv") as spool:
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(
                    "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; "
                    "SET LOCAL bytea_output = 'hex'; SET LOCAL extra_float_digits = 1"
                )
                with cur.copy(query) as copy:
                    for chunk in copy:
                        spool.write(chunk)
        except psycopg.Error as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise TargetError(f"{ref}: cannot read the table to compare rows: {message}") from None
        spool.flush()
        yield from _csv_batches(Path(spool.name), columns, "postgres", batch_rows)


def _csv_batches(
    path: Path, columns: Columns, vendor: str, batch_rows: int
) -> Iterator[pl.DataFrame]:
    if path.stat().st_size == 0:
        return
    schema = {n: pl.String() for n, _ in columns}
    lazy = pl.scan_csv(path, has_header=False, schema=schema, quote_char='"')
    exprs = [canon.text_expr(n, t, vendor=vendor) for n, t in columns]
    yield from lazy.select(exprs).collect_batches(chunk_size=batch_rows)


# --- MySQL / MariaDB ---------------------------------------------------------------------


def _mysql_quote(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def _mysql_frames(
    target: TableTarget, ref: TableRef, columns: Columns, batch_rows: int
) -> Iterator[pl.DataFrame]:
    import pymysql
    import pymysql.cursors

    picks = []
    for n, t in columns:
        q = _mysql_quote(n)
        if t == "binary":
            picks.append(f"HEX({q})")
        elif t == "float32":  # FLOAT prints 6 digits; as a double it is exact
            picks.append(f"CAST({q} + 0e0 AS CHAR)")
        else:
            picks.append(f"CAST({q} AS CHAR)")
    table = ".".join(_mysql_quote(p) for p in (*ref.path, ref.table))
    query = f"SELECT {', '.join(picks)} FROM {table}"
    exprs = [canon.text_expr(n, t, vendor="mysql") for n, t in columns]
    conn: Any = getattr(target, "conn")  # noqa: B009
    cur = conn.cursor(pymysql.cursors.SSCursor)
    try:
        cur.execute(query)
        while rows := cur.fetchmany(batch_rows):
            gathered = zip(*rows, strict=True)
            series = [
                pl.Series(n, values, dtype=pl.String, strict=False)
                for (n, _), values in zip(columns, gathered, strict=True)
            ]
            yield pl.DataFrame(series).select(exprs)
    except pymysql.MySQLError as exc:
        raise TargetError(f"{ref}: cannot read the table to compare rows: {exc}") from None
    finally:
        with contextlib.suppress(Exception):
            cur.close()
