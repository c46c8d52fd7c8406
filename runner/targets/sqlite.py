"""SQLite: every action in one transaction, with the ledger row in the same transaction.

The connection runs with ``isolation_level=None`` so that Python never opens or commits
a transaction behind our back; each publish is ``BEGIN IMMEDIATE ... COMMIT`` (DDL
included, which SQLite makes transactional) and ``ROLLBACK`` on any error, so a reader
sees the table as it was or as it is after, and a killed process leaves it as it was
(WAL journal). Rows reach SQLite through ``executemany`` over the streamed result
frames, after a columnar conversion of every value to what sqlite3 binds natively.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from runner.errors import TargetError
from runner.results import ResultSchema, decimal_of, iter_frames
from runner.spec.model import ACTIONS, Connection
from runner.targets import _ledger
from runner.targets._common import decimal_fits
from runner.targets._prefetch import Prefetch
from runner.targets.base import (
    LEDGER_TABLE,
    ColumnInfo,
    Progress,
    PublishRequest,
    PublishResult,
    TableInfo,
    TableRef,
)

#: rows per executemany call (and per progress report)
BATCH_ROWS = 100_000
#: SQLite's default limit on the terms of one compound SELECT
_COMPOUND_LIMIT = 500
_SQL_TYPES = {
    "boolean": "boolean",
    "int8": "smallint",
    "int16": "smallint",
    "int32": "integer",
    "int64": "bigint",
    "float32": "real",
    "float64": "double precision",
    "string": "text",
    "binary": "blob",
    "date": "date",
    "time": "time",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
}
_LEDGER = _ledger.Dialect(
    text=lambda _: "text", count="integer", published_at="text not null", mark="?"
)
_NUMERIC = re.compile(r"^(numeric|decimal)(?:\((\d+)(?:,(\d+))?\))?$")


def quote(identifier: str) -> str:
    """An SQLite identifier, double-quoted with embedded quotes doubled."""
    return '"' + identifier.replace('"', '""') + '"'


def normalise_type(declared: str) -> str:
    """A declared column type in lower case with single spaces and none inside parentheses."""
    text = " ".join(declared.lower().split())
    return re.sub(r"\s*([(),])\s*", r"\1", text)


def affinity(declared: str) -> str:
    """SQLite's column affinity for a declared type (section 3.1 of its datatype docs)."""
    upper = declared.upper()
    if "INT" in upper:
        return "INTEGER"
    if any(s in upper for s in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if not upper or "BLOB" in upper:
        return "BLOB"
    if any(s in upper for s in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def _to_bindable(schema: ResultSchema) -> list[pl.Expr]:
    """Columnar conversion of each column to a type sqlite3 binds without adapters."""
    exprs: list[pl.Expr] = []
    for c in schema.columns:
        col = pl.col(c.name)
        if c.type == "boolean":
            col = col.cast(pl.Int8)
        elif (dec := decimal_of(c.type)) is not None:
            # NUMERIC affinity turns decimal text into REAL (INTEGER when whole), so up to
            # 15 digits a bound float stores the same value for less work; wider decimals
            # go as text and SQLite's own conversion decides (it keeps 15 significant digits)
            col = col.cast(pl.Float64) if dec[0] <= 15 else col.cast(pl.String)
        elif c.type == "date":
            col = col.dt.to_string("%Y-%m-%d")
        elif c.type == "time":
            col = col.dt.to_string("%H:%M:%S%.6f")
        elif c.type == "timestamp":
            col = col.dt.to_string("%Y-%m-%d %H:%M:%S%.6f")
        elif c.type == "timestamptz":
            col = col.dt.to_string("%Y-%m-%d %H:%M:%S%.6f+00:00")
        elif c.type == "float32":
            col = col.cast(pl.Float64)
        exprs.append(col)
    return exprs


class SqliteTarget:
    """The SQLite database file of one connection."""

    vendor = "sqlite"

    def __init__(self, connection: Connection, base_dir: Path) -> None:
        if not connection.database:
            raise TargetError(f"{connection.address}: sqlite needs database: a file path")
        self.connection = connection
        self.path = base_dir / connection.database
        self.introspection_queries = 0
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None

    # --- connection ---------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    self.path, timeout=30, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA cache_size=-65536")
                conn.execute("PRAGMA temp_store=MEMORY")
            except (sqlite3.Error, OSError) as exc:
                raise TargetError(
                    f"{self.connection.address}: cannot open SQLite database {self.path}: {exc}"
                ) from None
            self._conn = conn
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _check_path(self, ref: TableRef) -> None:
        if ref.path not in ((), ("main",)):
            raise TargetError(
                f"{ref}: path {list(ref.path)} is not valid for SQLite; "
                "use path: [main] or leave it out"
            )

    # --- describe -----------------------------------------------------------------------
    def describe(self, tables: Sequence[TableRef]) -> dict[TableRef, TableInfo | None]:
        for ref in tables:
            self._check_path(ref)
        out: dict[TableRef, TableInfo | None] = dict.fromkeys(tables)
        if not tables or (self._conn is None and not self.path.exists()):
            return out  # no database file yet: no table exists (and none is created here)
        with self._lock:
            try:
                found = self._columns(self._connect(), sorted({r.table.lower() for r in tables}))
                counts = self._counts(self._connect(), sorted(hit[0] for hit in found.values()))
            except sqlite3.Error as exc:
                raise TargetError(
                    f"{self.connection.address}: cannot describe tables in {self.path}: {exc}"
                ) from None
        for ref in tables:
            hit = found.get(ref.table.lower())
            if hit is not None:
                name, columns, pk = hit
                out[ref] = TableInfo(ref, columns, counts[name], primary_key=pk)
        return out

    def _columns(
        self, conn: sqlite3.Connection, lowered: Sequence[str]
    ) -> dict[str, tuple[str, tuple[ColumnInfo, ...], tuple[str, ...]]]:
        """Columns and primary key of each named table, in one query."""
        marks = ",".join("?" * len(lowered))
        rows = conn.execute(
            'SELECT m.name, p.name, p.type, p."notnull", p.pk '
            "FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p "
            f"WHERE m.type = 'table' AND lower(m.name) IN ({marks}) "
            "ORDER BY m.name, p.cid",
            list(lowered),
        ).fetchall()
        self.introspection_queries += 1
        columns: dict[str, list[ColumnInfo]] = {}
        keys: dict[str, list[tuple[int, str]]] = {}
        for table, name, declared, notnull, pk in rows:
            columns.setdefault(table, []).append(
                ColumnInfo(name, normalise_type(declared or ""), not notnull)
            )
            if pk:
                keys.setdefault(table, []).append((pk, name))
        return {
            t.lower(): (t, tuple(cols), tuple(n for _, n in sorted(keys.get(t, []))))
            for t, cols in columns.items()
        }

    def _counts(self, conn: sqlite3.Connection, names: Sequence[str]) -> dict[str, int]:
        """Exact row counts, one UNION ALL query per 500 tables."""
        counts: dict[str, int] = {}
        for start in range(0, len(names), _COMPOUND_LIMIT):
            chunk = names[start : start + _COMPOUND_LIMIT]
            sql = " UNION ALL ".join(
                f"SELECT {i}, count(*) FROM {quote(n)}" for i, n in enumerate(chunk)
            )
            for index, count in conn.execute(sql):
                counts[chunk[index]] = int(count)
            self.introspection_queries += 1
        return counts

    # --- types --------------------------------------------------------------------------
    def sql_type(self, logical: str) -> str:
        dec = decimal_of(logical)
        if dec is not None:
            return f"numeric({dec[0]},{dec[1]})"
        return _SQL_TYPES.get(logical, "text")

    def type_matches(self, column: ColumnInfo, logical: str) -> bool:
        declared = normalise_type(column.sql_type)
        if not declared or declared == self.sql_type(logical):
            return True  # a column without a type holds anything unchanged
        aff = affinity(declared)
        if logical.startswith("int"):
            numeric = _NUMERIC.match(declared)
            return aff == "INTEGER" or bool(numeric and (numeric[3] in (None, "0")))
        if logical == "boolean":
            return declared in ("boolean", "bool") or aff == "INTEGER"
        if logical.startswith("float"):
            return aff == "REAL"
        dec = decimal_of(logical)
        if dec is not None:
            numeric = _NUMERIC.match(declared)
            if numeric is None:
                return False
            if numeric[2] is None:
                return True
            return decimal_fits(dec, int(numeric[2]), int(numeric[3] or 0))
        if logical == "string":
            return aff == "TEXT"
        if logical == "binary":
            return aff == "BLOB"
        if logical == "timestamp":
            return declared in ("timestamp", "datetime")
        if logical == "timestamptz":
            return declared in ("timestamptz", "timestamp with time zone")
        return False

    # --- publish ------------------------------------------------------------------------
    def publish(self, request: PublishRequest, progress: Progress | None = None) -> PublishResult:
        self._check_path(request.ref)
        if request.action not in ACTIONS:
            raise TargetError(
                f"target.{request.target}: unknown action {request.action!r}; "
                f"use one of {', '.join(ACTIONS)}"
            )
        started = time.monotonic()
        with self._lock:
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = _Publication(self, conn, request, progress).run()
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise TargetError(
                    f"target.{request.target}: {request.ref}: {exc}; the table was left as it was"
                ) from None
            except (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError) as exc:
                where = request.results.files[0].parent if request.results.files else "?"
                raise TargetError(
                    f"target.{request.target}: cannot read the {request.results.format} results "
                    f"in {where}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}"
                    "; the table was left as it was"
                ) from None
        seconds = time.monotonic() - started
        return PublishResult(
            result.rows_loaded,
            result.rows_after,
            result.columns,
            result.already_published,
            seconds,
        )


class _Publication:
    """One publish, inside the open transaction of ``conn``."""

    def __init__(
        self,
        target: SqliteTarget,
        conn: sqlite3.Connection,
        request: PublishRequest,
        progress: Progress | None,
    ) -> None:
        self.target = target
        self.conn = conn
        self.request = request
        self.progress = progress
        self.table = request.ref.table
        self.schema = request.results.schema
        self.where = f"target.{request.target}: {request.ref}"

    def fail(self, message: str) -> TargetError:
        return TargetError(f"{self.where}: {message}")

    def run(self) -> PublishResult:
        req = self.request
        ledger = quote(LEDGER_TABLE)
        self.conn.execute(_ledger.create_sql(ledger, _LEDGER))
        done = self.conn.execute(
            _ledger.select_sql(ledger, _LEDGER), _ledger.lookup(req, table_name=self.table)
        ).fetchone()
        existing = self.columns()
        if done is not None and existing:  # the table holds this run already
            return PublishResult(int(done[0]), self.count(), existing, already_published=True)
        loaded = self.apply(req.action, existing)
        self.conn.execute(
            _ledger.delete_sql(ledger, _LEDGER), _ledger.current(req, table_name=self.table)
        )
        self.conn.execute(
            _ledger.insert_sql(ledger, _LEDGER, extra=("published_at",)),
            (
                *_ledger.values(req, loaded, table_name=self.table),
                datetime.now(UTC).isoformat(timespec="seconds"),
            ),
        )
        return PublishResult(loaded, self.count(), self.columns())

    def apply(self, action: str, existing: tuple[ColumnInfo, ...]) -> int:
        exists = bool(existing)
        q = quote(self.table)
        if action == "create" and exists:
            raise self.fail(
                "the table already exists and create makes a new table; choose another "
                "table name, or use createAndLoad, truncateAndLoad or dropAndLoad"
            )
        if action == "load" and not exists:
            raise self.fail("the table does not exist and load appends to one; use createAndLoad")
        if action == "upsert":
            return self.upsert(existing)
        if action == "dropAndLoad" and exists:
            self.conn.execute(f"DROP TABLE {q}")
            exists = False
        if exists:
            self.check_columns(existing)
            if action == "truncateAndLoad":
                self.conn.execute(f"DELETE FROM {q}")
        else:
            self.create(self.table)
        return self.insert(self.insert_sql(q))

    def columns(self) -> tuple[ColumnInfo, ...]:
        rows = self.conn.execute(
            'SELECT name, type, "notnull" FROM pragma_table_info(?) ORDER BY cid', (self.table,)
        ).fetchall()
        return tuple(ColumnInfo(n, normalise_type(t or ""), not nn) for n, t, nn in rows)

    def count(self) -> int:
        return int(self.conn.execute(f"SELECT count(*) FROM {quote(self.table)}").fetchone()[0])

    def create(self, table: str, *, typed: bool = True) -> None:
        cols = ", ".join(
            f"{quote(c.name)} {self.target.sql_type(c.type)}" if typed else quote(c.name)
            for c in self.schema.columns
        )
        self.conn.execute(f"CREATE TABLE {quote(table)} ({cols})")

    def check_columns(self, existing: tuple[ColumnInfo, ...]) -> None:
        by_name = {c.name.lower(): c for c in existing}
        problems: list[str] = []
        for col in self.schema.columns:
            have = by_name.pop(col.name.lower(), None)
            if have is None:
                problems.append(f"column {col.name} of the results is not in the table")
            elif not self.target.type_matches(have, col.type):
                problems.append(
                    f"column {col.name} is {have.sql_type} in the table but {col.type} "
                    "in the results"
                )
        for rest in by_name.values():
            if not rest.nullable:
                problems.append(f"column {rest.name} is NOT NULL but not in the results")
        if problems:
            raise self.fail(
                "the columns do not match: "
                + "; ".join(problems)
                + "; use dropAndLoad to recreate the table from the results"
            )

    def insert_sql(self, table_sql: str, suffix: str = "") -> str:
        names = ", ".join(quote(c.name) for c in self.schema.columns)
        marks = ", ".join("?" * len(self.schema.columns))
        return f"INSERT INTO {table_sql} ({names}) VALUES ({marks}){suffix}"

    def insert(self, sql: str) -> int:
        """Load every row of the results with ``sql``; returns the rows loaded.

        A worker thread decodes and converts the next batch (polars releases the GIL)
        while SQLite inserts this one. Rows become tuples on this thread: doing that in
        the worker too makes both threads fight for the GIL on every row.
        """
        exprs = _to_bindable(self.schema)
        frames = (frame.select(exprs) for frame in iter_frames(self.request.results, BATCH_ROWS))
        loaded = 0
        with Prefetch(frames, depth=1, name="sqlite-prefetch") as ready:
            for frame in ready:
                before = self.conn.total_changes
                try:
                    self.conn.executemany(sql, frame.iter_rows())
                except sqlite3.Error as exc:
                    row = loaded + (self.conn.total_changes - before) + 1
                    raise self.fail(
                        f"{exc} at row {row:,} of the results; the table was left as it was"
                    ) from None
                loaded += frame.height
                if self.progress is not None:
                    self.progress(loaded)
        return loaded

    def upsert(self, existing: tuple[ColumnInfo, ...]) -> int:
        key = self.request.key
        names = {c.name.lower() for c in self.schema.columns}
        missing = [k for k in key if k.lower() not in names]
        if not key or missing:
            raise self.fail(
                "upsert needs key: columns of the results"
                + (f" ({', '.join(missing)} not in the results)" if missing else "")
            )
        if existing:
            self.check_columns(existing)
            if not self.has_unique(key):
                self.unique_index(key)
        else:
            self.create(self.table)
            self.unique_index(key)
        # stage first: a key twice in the results fails here, naming the row
        stage = _stage_name(self.table, self.request.run_id)
        self.conn.execute(f"DROP TABLE IF EXISTS temp.{quote(stage)}")
        cols = ", ".join(quote(c.name) for c in self.schema.columns)
        self.conn.execute(f"CREATE TEMP TABLE {quote(stage)} ({cols})")
        key_cols = ", ".join(quote(k) for k in key)
        self.conn.execute(
            f"CREATE UNIQUE INDEX temp.{quote(stage + '_key')} ON {quote(stage)} ({key_cols})"
        )
        loaded = self.insert(self.insert_sql(f"temp.{quote(stage)}"))
        lowered = {k.lower() for k in key}
        updates = [
            f"{quote(c.name)} = excluded.{quote(c.name)}"
            for c in self.schema.columns
            if c.name.lower() not in lowered
        ]
        action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
        self.conn.execute(
            f"INSERT INTO {quote(self.table)} ({cols}) SELECT {cols} FROM temp.{quote(stage)} "
            f"WHERE true ON CONFLICT ({key_cols}) {action}"
        )
        self.conn.execute(f"DROP TABLE temp.{quote(stage)}")
        return loaded

    def has_unique(self, key: Sequence[str]) -> bool:
        wanted = {k.lower() for k in key}
        pk = self.conn.execute(
            "SELECT name FROM pragma_table_info(?) WHERE pk > 0", (self.table,)
        ).fetchall()
        if {n.lower() for (n,) in pk} == wanted:
            return True
        indexes = self.conn.execute(
            'SELECT name FROM pragma_index_list(?) WHERE "unique" AND NOT partial',
            (self.table,),
        ).fetchall()
        for (index,) in indexes:
            cols = self.conn.execute("SELECT name FROM pragma_index_info(?)", (index,)).fetchall()
            if {str(n).lower() for (n,) in cols} == wanted:
                return True
        return False

    def unique_index(self, key: Sequence[str]) -> None:
        name = _index_name(self.table, key)
        cols = ", ".join(quote(k) for k in key)
        try:
            self.conn.execute(f"CREATE UNIQUE INDEX {quote(name)} ON {quote(self.table)} ({cols})")
        except sqlite3.IntegrityError as exc:
            raise self.fail(
                f"upsert needs a unique index on ({', '.join(key)}) but the table holds "
                f"duplicate keys: {exc}"
            ) from None


def _stage_name(table: str, run_id: str) -> str:
    digest = hashlib.sha256(f"{table}\0{run_id}".encode()).hexdigest()[:12]
    return f"_publish_stage_{digest}"


def _index_name(table: str, key: Sequence[str]) -> str:
    digest = hashlib.sha256("\0".join([table, *key]).encode()).hexdigest()[:8]
    readable = re.sub(r"[^A-Za-z0-9_]", "", table)[:40]
    return f"{readable}_publish_key_{digest}"
