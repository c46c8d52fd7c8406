"""SQLite: every action in one transaction, with the ledger row in the same transaction.

The connection runs with ``isolation_level=None`` so that Python never opens or commits
a transaction behind our back; each publish is ``BEGIN IMMEDIATE ... COMMIT`` (DDL
included, which SQLite makes transactional) and ``ROLLBACK`` on any error, so a reader
sees the table as it was or as it is after, and a killed process leaves it as it was
(WAL journal). The result frames are converted column by column to what sqlite3 binds
natively (:func:`~runner.targets.sqlite_types.bindable`); with the ADBC SQLite driver they
are written into a staging file before the write lock is taken and copied with one
``INSERT ... SELECT`` in the transaction (:mod:`runner.targets.sqlite_stage`), otherwise
bound row by row with ``executemany``.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from runner.errors import TargetError
from runner.results import opened_frames
from runner.spec.model import Connection
from runner.targets import _ledger, sqlite_ahead, sqlite_stage
from runner.targets._prefetch import Prefetch
from runner.targets.base import (
    ColumnInfo,
    Progress,
    PublishRequest,
    PublishResult,
    TableInfo,
    TableRef,
)
from runner.targets.skeleton import TableTargetBase, column_problems, refuse_columns
from runner.targets.sqlite_rows import (
    BATCH_ROWS,
    Upsert,
    create_sql,
    create_table,
    insert_rows,
    staged_tables,
)
from runner.targets.sqlite_types import (
    DIALECT,
    normalise_type,
    type_matches,
)

#: SQLite's default limit on the terms of one compound SELECT
_COMPOUND_LIMIT = 500
UniqueKeys = tuple[tuple[str, ...], ...]
#: the table's unique indexes other than the primary key, as a JSON array of column-name
#: arrays (partial indexes and indexes over expressions left out)
_UNIQUE_KEYS = """(
    SELECT json_group_array(json(k.cols)) FROM (
        SELECT (SELECT json_group_array(ii.name) FROM (
                    SELECT name FROM pragma_index_info(il.name) ORDER BY seqno) AS ii) AS cols
          FROM pragma_index_list(m.name) AS il
         WHERE il."unique" AND il.origin <> 'pk' AND NOT il.partial
           AND NOT EXISTS (SELECT 1 FROM pragma_index_info(il.name) WHERE name IS NULL)
    ) AS k)"""

quote = DIALECT.quote


class SqliteTarget(TableTargetBase):
    """The SQLite database file of one connection."""

    vendor = "sqlite"
    dialect = DIALECT
    #: stage rows through the ADBC driver when it is installed (False: bind row by row)
    stage_rows = True

    def __init__(self, connection: Connection, base_dir: Path) -> None:
        if not connection.database:
            raise TargetError(f"{connection.address}: sqlite needs database: a file path")
        self.connection = connection
        self.path = base_dir / connection.database
        self.introspection_queries = 0
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        #: the publishing thread's progress callback and staging file (see :meth:`session`)
        self._local = threading.local()

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
                name, columns, pk, unique = hit
                out[ref] = TableInfo(ref, columns, counts[name], primary_key=pk, unique_keys=unique)
        return out

    def _columns(
        self, conn: sqlite3.Connection, lowered: Sequence[str]
    ) -> dict[str, tuple[str, tuple[ColumnInfo, ...], tuple[str, ...], UniqueKeys]]:
        """Columns, primary key and unique keys of each named table, in one query."""
        marks = ",".join("?" * len(lowered))
        rows = conn.execute(
            f'SELECT m.name, p.name, p.type, p."notnull", p.pk, {_UNIQUE_KEYS} '
            "FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p "
            f"WHERE m.type = 'table' AND lower(m.name) IN ({marks}) "
            "ORDER BY m.name, p.cid",
            list(lowered),
        ).fetchall()
        self.introspection_queries += 1
        columns: dict[str, list[ColumnInfo]] = {}
        keys: dict[str, list[tuple[int, str]]] = {}
        unique: dict[str, UniqueKeys] = {}
        for table, name, declared, notnull, pk, indexes in rows:
            unique[table] = tuple(tuple(k) for k in json.loads(indexes or "[]"))
            columns.setdefault(table, []).append(
                ColumnInfo(name, normalise_type(declared or ""), not notnull)
            )
            if pk:
                keys.setdefault(table, []).append((pk, name))
        return {
            t.lower(): (t, tuple(cols), tuple(n for _, n in sorted(keys.get(t, []))), unique[t])
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
    def type_matches(self, column: ColumnInfo, logical: str) -> bool:
        return type_matches(column.sql_type, logical)

    # --- the publish hooks (see runner.targets.skeleton) --------------------------------
    def publish(self, request: PublishRequest, progress: Progress | None = None) -> PublishResult:
        self._local.progress = progress  # the staging in session() reports through it
        try:
            return super().publish(request, progress)
        finally:
            self._local.progress = None

    @contextlib.contextmanager
    def session(self, request: PublishRequest) -> Iterator[sqlite3.Cursor]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` under the target's lock; ROLLBACK on error.

        The rows are staged first (:meth:`_stage`), outside the lock, and attached.
        """
        self._check_path(request.ref)
        staged = self._stage(request)
        self._local.staged = staged
        self._local.fresh = None
        try:
            with self._lock:
                yield from self._transaction(request, staged)
        finally:
            self._local.staged = self._local.fresh = None
            if staged is not None:
                staged.discard()

    def _transaction(
        self, request: PublishRequest, staged: sqlite_stage.Staged | None
    ) -> Iterator[sqlite3.Cursor]:
        conn = self._connect()
        try:
            if staged is not None:
                conn.execute(f"ATTACH DATABASE ? AS {sqlite_stage.SCHEMA}", (str(staged.path),))
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    cur = conn.cursor()
                    cur.execute(_ledger.create_sql(self.ledger_name(request.ref), DIALECT.ledger))
                    yield cur
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            finally:
                if staged is not None:
                    self._detach(conn)
        except sqlite3.Error as exc:
            raise TargetError(
                f"target.{request.target}: {request.ref}: {exc}; the table is unchanged"
            ) from None

    def _detach(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute(f"DETACH DATABASE {sqlite_stage.SCHEMA}")
        except sqlite3.Error:  # still in use: a new connection next time
            self.close()

    def _stage(self, request: PublishRequest) -> sqlite_stage.Staged | None:
        """The rows in a staging file (None: they are bound row by row in the transaction)."""
        if not self.stage_rows or not sqlite_stage.available():
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        progress = getattr(self._local, "progress", None)
        create = self._new_table_sql(request)
        ahead = sqlite_ahead.take(self.path, request.results.sha256, create)
        if ahead is not None:
            try:
                if progress is not None:
                    progress(ahead.rows)  # staged while apply planned: all rows at once
            except BaseException:
                ahead.discard()
                raise
            return ahead
        frames = staged_tables(request)
        with Prefetch(frames, depth=1, name="sqlite-prefetch") as ready:
            try:
                return sqlite_stage.stage(self.path, ready, progress, create)
            except sqlite_stage.StageError as exc:
                raise TargetError(
                    f"target.{request.target}: {request.ref}: cannot stage the rows beside "
                    f"{self.path}: {exc}; the table is unchanged"
                ) from None

    def stage_ahead(self, request: PublishRequest) -> sqlite_ahead.Ahead | None:
        """Start staging the rows of ``request`` (parquet results) in a worker thread, for a
        publish of the same rows later in this apply (see :mod:`runner.targets.sqlite_ahead`)."""
        if not (sqlite_ahead.active() and self.stage_rows and sqlite_stage.available()):
            return None
        try:
            self._check_path(request.ref)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            create = self._new_table_sql(request)
        except (TargetError, sqlite3.Error, OSError):
            return None  # the publish meets it
        frames = staged_tables(request, opened_frames(request.results, BATCH_ROWS))
        return sqlite_ahead.start(self.path, create, frames)

    def _new_table_sql(self, request: PublishRequest) -> str | None:
        """The staging table's CREATE TABLE when the publish will create the target table.

        Typed like it, the rows are copied without being decoded (see ``insert_rows``). Only
        then: into an existing table, affinity applied twice could change a value.
        """
        if request.action == "upsert":
            return None
        if request.action != "dropAndLoad" and self.path.exists():
            with self._lock:
                if self.table_in(self._connect().cursor(), request.ref) is not None:
                    return None
        return create_sql(request, sqlite_stage.TABLE)

    def table_in(self, cur: sqlite3.Cursor, ref: TableRef) -> TableInfo | None:
        rows = cur.execute(
            'SELECT name, type, "notnull" FROM pragma_table_info(?) ORDER BY cid', (ref.table,)
        ).fetchall()
        cols = tuple(ColumnInfo(n, normalise_type(t or ""), not nn) for n, t, nn in rows)
        return TableInfo(ref, cols, -1, True) if cols else None

    def qualified(self, ref: TableRef, table: str | None = None) -> str:
        return quote(table or ref.table)

    def check_table(self, request: PublishRequest, info: TableInfo) -> None:
        """SQLite stores any value in any column, so the types are checked here too."""
        by_name = {c.name.lower(): c for c in info.columns}
        problems = column_problems(request, info, self.dialect)
        for col in request.results.schema.columns:
            have = by_name.pop(col.name.lower(), None)
            if have is not None and not self.type_matches(have, col.type):
                problems.append(
                    f"column {col.name!r} is {have.sql_type} in the table but {col.type} "
                    "in the results"
                )
        problems += [
            f"column {rest.name!r} is NOT NULL but not in the results"
            for rest in by_name.values()
            if not rest.nullable
        ]
        refuse_columns(request, problems)

    def load(
        self,
        cur: sqlite3.Cursor,
        request: PublishRequest,
        info: TableInfo | None,
        progress: Progress | None,
    ) -> int:
        table = quote(request.ref.table)
        if request.action == "upsert":
            return Upsert(cur, request, progress, self._local.staged).run(info is not None)
        if request.action == "dropAndLoad" and info is not None:
            cur.execute(f"DROP TABLE {table}")
            info = None
        if info is None:
            create_table(cur, request, request.ref.table)
        elif request.action == "truncateAndLoad":
            cur.execute(f"DELETE FROM {table}")
        staged = self._local.staged
        if staged is not None and staged.typed and info is not None:
            staged = None  # typed for a new table, but the table was there: bind the rows
        loaded = insert_rows(cur, request, table, progress, staged)
        # a table made in this transaction holds exactly the rows just inserted: no
        # count(*) pass over it afterwards (see count_in)
        self._local.fresh = (request.ref, loaded) if info is None else None
        return loaded

    def count_in(self, cur: sqlite3.Cursor, ref: TableRef) -> int:
        fresh = getattr(self._local, "fresh", None)
        if fresh is not None and fresh[0] == ref:
            return int(fresh[1])
        return super().count_in(cur, ref)
