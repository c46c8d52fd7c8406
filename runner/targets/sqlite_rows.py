"""SQLite: the rows' way into a table, and upsert's staging (see :mod:`runner.targets.sqlite`).

From the staging file of :mod:`runner.targets.sqlite_stage` with one ``INSERT ... SELECT``
when there is one, otherwise bound row by row with ``executemany`` over the streamed
result frames, converted column by column to what sqlite3 binds natively
(:func:`~runner.targets.sqlite_types.bindable`).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import polars as pl

from runner.errors import TargetError
from runner.targets import sqlite_stage
from runner.targets._prefetch import Prefetch
from runner.targets.base import Progress, PublishRequest
from runner.targets.frames import checked_batches
from runner.targets.sqlite_types import DIALECT, bindable

#: rows per executemany call (and per progress report)
BATCH_ROWS = 100_000

quote = DIALECT.quote


def create_sql(request: PublishRequest, table: str) -> str:
    """The CREATE TABLE of a new table for the results (the staging table's too)."""
    cols = ", ".join(
        f"{quote(c.name)} {DIALECT.sql_type(c.type)}" for c in request.results.schema.columns
    )
    return f"CREATE TABLE {quote(table)} ({cols})"


def create_table(cur: sqlite3.Cursor, request: PublishRequest, table: str) -> None:
    cur.execute(create_sql(request, table))


def insert_rows(
    cur: sqlite3.Cursor,
    request: PublishRequest,
    table_sql: str,
    progress: Progress | None,
    staged: sqlite_stage.Staged | None,
) -> int:
    """Insert every row of the results into ``table_sql``; the rows SQLite reports.

    From the staging file when there is one: one ``INSERT ... SELECT``. When it fails (a
    NOT NULL or UNIQUE constraint), the statement is undone and the rows are bound one by
    one, which fails at the same row and names it. A staging table typed like the new,
    empty table ``table_sql`` (``staged.typed``) is copied with ``INSERT INTO t SELECT *``:
    SQLite then copies its records as they are, without decoding them (its transfer
    optimisation).
    """
    if staged is not None:
        names = ", ".join(quote(c.name) for c in request.results.schema.columns)
        source = f"{sqlite_stage.SCHEMA}.{sqlite_stage.TABLE}"
        sql = (
            f"INSERT INTO {table_sql} SELECT * FROM {source}"
            if staged.typed
            else f"INSERT INTO {table_sql} ({names}) SELECT {names} FROM {source}"
        )
        before = cur.connection.total_changes
        try:
            cur.execute(sql)
            return cur.connection.total_changes - before
        except sqlite3.IntegrityError:
            pass
    return _bind_rows(cur, request, table_sql, progress if staged is None else None)


def _bind_rows(
    cur: sqlite3.Cursor, request: PublishRequest, table_sql: str, progress: Progress | None
) -> int:
    """Bind the rows of the results one by one (``executemany``); the rows SQLite reports.

    A worker thread decodes and converts the next batch (polars releases the GIL) while
    SQLite inserts this one. Rows become tuples on this thread: doing that in the worker
    too makes both threads fight for the GIL on every row.
    """
    schema = request.results.schema
    names = ", ".join(quote(c.name) for c in schema.columns)
    marks = ", ".join("?" * len(schema.columns))
    sql = f"INSERT INTO {table_sql} ({names}) VALUES ({marks})"
    conn = cur.connection
    frames = bindable_frames(request)
    loaded = 0
    with Prefetch(frames, depth=1, name="sqlite-prefetch") as ready:
        for frame in ready:
            before = conn.total_changes
            try:
                cur.executemany(sql, frame.iter_rows())
            except sqlite3.Error as exc:
                row = loaded + (conn.total_changes - before) + 1
                raise TargetError(
                    f"target.{request.target}: {request.ref}: {exc} at row {row:,} of the "
                    "results; the table is unchanged"
                ) from None
            loaded += conn.total_changes - before
            if progress is not None:
                progress(loaded)
    return loaded


def bindable_frames(
    request: PublishRequest, frames: Iterable[pl.DataFrame] | None = None, *, dates: bool = True
) -> Iterator[pl.DataFrame]:
    """The result frames (or ``frames`` of them), checked (NaN: SQLite stores it as NULL)
    and bindable (``dates``: see :func:`~runner.targets.sqlite_types.bindable`)."""
    for frame in checked_batches(request, DIALECT, BATCH_ROWS, frames):
        yield bindable(frame, request.results.schema, dates=dates)


def staged_tables(
    request: PublishRequest, frames: Iterable[pl.DataFrame] | None = None
) -> Iterator[Any]:
    """:func:`bindable_frames` as the Arrow tables :func:`.sqlite_stage.stage` writes."""
    schema = request.results.schema
    return sqlite_stage.to_arrow(bindable_frames(request, frames, dates=False), schema)


class Upsert:
    """Stage the results in a TEMP table with a unique key, then INSERT ... ON CONFLICT."""

    def __init__(
        self,
        cur: sqlite3.Cursor,
        request: PublishRequest,
        progress: Progress | None,
        staged: sqlite_stage.Staged | None,
    ) -> None:
        self.cur, self.request, self.progress, self.staged = cur, request, progress, staged
        self.table = request.ref.table
        self.key = request.key

    def run(self, exists: bool) -> int:
        if not exists:
            create_table(self.cur, self.request, self.table)
            self.unique_index()
        elif not self.has_unique():
            self.unique_index()
        # stage first: a key twice in the results fails here, naming the row
        stage = _stage_name(self.table, self.request.run_id)
        self.cur.execute(f"DROP TABLE IF EXISTS temp.{quote(stage)}")
        cols = ", ".join(quote(c.name) for c in self.request.results.schema.columns)
        self.cur.execute(f"CREATE TEMP TABLE {quote(stage)} ({cols})")
        key_cols = ", ".join(quote(k) for k in self.key)
        self.cur.execute(
            f"CREATE UNIQUE INDEX temp.{quote(stage + '_key')} ON {quote(stage)} ({key_cols})"
        )
        loaded = insert_rows(
            self.cur, self.request, f"temp.{quote(stage)}", self.progress, self.staged
        )
        lowered = {k.lower() for k in self.key}
        updates = [
            f"{quote(c.name)} = excluded.{quote(c.name)}"
            for c in self.request.results.schema.columns
            if c.name.lower() not in lowered
        ]
        action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
        self.cur.execute(
            f"INSERT INTO {quote(self.table)} ({cols}) SELECT {cols} FROM temp.{quote(stage)} "
            f"WHERE true ON CONFLICT ({key_cols}) {action}"
        )
        self.cur.execute(f"DROP TABLE temp.{quote(stage)}")
        return loaded

    def has_unique(self) -> bool:
        wanted = {k.lower() for k in self.key}
        pk = self.cur.execute(
            "SELECT name FROM pragma_table_info(?) WHERE pk > 0", (self.table,)
        ).fetchall()
        if {n.lower() for (n,) in pk} == wanted:
            return True
        indexes = self.cur.execute(
            'SELECT name FROM pragma_index_list(?) WHERE "unique" AND NOT partial',
            (self.table,),
        ).fetchall()
        for (index,) in indexes:
            cols = self.cur.execute("SELECT name FROM pragma_index_info(?)", (index,)).fetchall()
            if {str(n).lower() for (n,) in cols} == wanted:
                return True
        return False

    def unique_index(self) -> None:
        name = _index_name(self.table, self.key)
        cols = ", ".join(quote(k) for k in self.key)
        try:
            self.cur.execute(f"CREATE UNIQUE INDEX {quote(name)} ON {quote(self.table)} ({cols})")
        except sqlite3.IntegrityError as exc:
            raise TargetError(
                f"target.{self.request.target}: {self.request.ref}: upsert needs a unique "
                f"index on ({', '.join(self.key)}) but the table holds duplicate keys: {exc}"
            ) from None


def _stage_name(table: str, run_id: str) -> str:
    digest = hashlib.sha256(f"{table}\0{run_id}".encode()).hexdigest()[:12]
    return f"_publish_stage_{digest}"


def _index_name(table: str, key: Sequence[str]) -> str:
    digest = hashlib.sha256("\0".join([table, *key]).encode()).hexdigest()[:8]
    readable = re.sub(r"[^A-Za-z0-9_]", "", table)[:40]
    return f"{readable}_publish_key_{digest}"
