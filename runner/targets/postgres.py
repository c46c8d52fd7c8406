"""PostgreSQL target: COPY FROM STDIN (binary, else CSV), one transaction per publish.

Every publish is ONE transaction: the ledger check, the load, the action's statements and
the ledger row commit together, so a crash, a killed connection or a bad row at any point
rolls everything back and readers (MVCC) see the old rows until the commit.

How each action loads (the data always arrives by a single ``COPY ... FROM STDIN``,
binary when every column has an exact binary form, else CSV (:mod:`.postgres_copy`),
in batches encoded ahead by a worker thread; a bad value is reported with its row and
column):

- ``create`` / a missing table: CREATE TABLE, then ``COPY ... (FREEZE)`` straight into it.
- ``load`` / ``createAndLoad``: COPY straight into the target (appends; the transaction
  is the staging area, nobody sees the rows before the commit).
- ``truncateAndLoad``: ``DELETE FROM`` the target, then COPY into it. DELETE rather than
  TRUNCATE: TRUNCATE takes ACCESS EXCLUSIVE for the whole load and is not MVCC-safe, so
  readers would block (or see an empty table from an older snapshot); DELETE keeps the
  table, its grants, dependent views and its OID, and readers keep seeing the old rows.
  The price is dead tuples left for autovacuum.
- ``dropAndLoad``: CREATE a new table ``_pub_new_<table>_<hash>``, COPY into it, refuse
  if views depend on the old table (naming them), DROP the old table and RENAME the new
  one into place.
- ``upsert``: COPY into a TEMP staging table (``LIKE`` the target, so bad values still
  fail at COPY with their row), then :meth:`PostgresTarget.merge`: a unique index on the
  key if none exists, and ``MERGE`` (PostgreSQL 15+; else ``UPDATE ... FROM`` then
  ``INSERT ... SELECT``) that updates a row only where a value differs
  (:mod:`.postgres_merge`).

The ledger ``_publish_ledger`` lives in the target's schema. Leftover ``_pub_*`` tables
of the same target (older versions or other writers may have left some) are dropped.

Redshift (:mod:`.redshift`) reuses all of this and overrides the documented hooks:
``open_connection``, ``lock``, ``ledger_lock``, ``describe_schema``, ``table_in``,
``copy_rows``, ``merge`` and ``STAGE_LIKE``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from runner.errors import TargetError
from runner.spec.model import Connection
from runner.spec.secrets import reveal
from runner.targets import _common as common
from runner.targets import schemas
from runner.targets.base import ColumnInfo, Progress, PublishRequest, TableInfo, TableRef
from runner.targets.dialect import Dialect
from runner.targets.frames import batches
from runner.targets.postgres_catalog import (
    CATALOG,
    dependent_views,
    leftover_tables,
    retype_error,
    small_enough,
    unique_keys,
)
from runner.targets.postgres_copy import COPY_BATCH_ROWS, Copy, CopyFailed, copy_in
from runner.targets.postgres_merge import upsert
from runner.targets.postgres_types import DIALECT, pg_type_matches, row_of_line
from runner.targets.skeleton import TableTargetBase

NAME_LIMIT = 63  # bytes; Postgres silently truncates longer identifiers

_COPY_LINE = re.compile(r"line (\d+)(?:, column ([^:]+))?")


__all__ = ["Copy", "PostgresTarget"]


class PostgresTarget(TableTargetBase, common.PerThreadConnection):
    """A Postgres database reached through one connection of the spec."""

    vendor = "postgres"
    dialect: Dialect = DIALECT
    name_limit = NAME_LIMIT
    #: COPY in binary where every column allows it (Redshift has no binary COPY)
    binary_copy = True
    #: the upsert staging table: like the target, so bad values fail at COPY with their row
    STAGE_LIKE = "create temp table {} (like {} including defaults) on commit drop"

    def __init__(
        self,
        connection: Connection,
        *,
        statement_timeout: float = common.LOAD_TIMEOUT,
        connect_timeout: int = common.CONNECT_TIMEOUT,
    ) -> None:
        self.connection = connection
        self.introspection_queries = 0
        self.statement_timeout = statement_timeout
        self.connect_timeout = connect_timeout
        self._init_connections()

    # -- connection ---------------------------------------------------------------------

    def _connect_kwargs(self) -> dict[str, Any]:
        c = self.connection
        kwargs: dict[str, Any] = {
            "host": c.host or "localhost",
            "port": c.port or 5432,
            "dbname": c.database or "postgres",
            "user": c.username,
            "password": reveal(c.password),
            "connect_timeout": self.connect_timeout,
            "application_name": "publish",
            "autocommit": True,
        }
        params = common.params_of(c)
        for key in ("s3Staging", "iamRole", "region"):
            params.pop(key, None)
        kwargs.update(params)
        return {k: v for k, v in kwargs.items() if v is not None}

    def open_connection(self) -> psycopg.Connection[Any]:
        """Hook: a new autocommit connection in a UTC session with the load timeout."""
        kwargs = self._connect_kwargs()
        kwargs["options"] = (
            f"-c statement_timeout={int(self.statement_timeout * 1000)} -c TimeZone=UTC "
            "-c temp_buffers=128MB"  # upsert's staging table stays in memory
        )
        return psycopg.connect(**kwargs)

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            try:
                self._conn = self.open_connection()
            except psycopg.Error as exc:
                raise common.driver_error(self.connection, exc, "cannot connect") from None
        conn: psycopg.Connection[Any] = self._conn
        return conn

    def type_matches(self, column: ColumnInfo, logical: str) -> bool:
        return pg_type_matches(column.sql_type, logical)

    # -- describe -----------------------------------------------------------------------

    def describe(self, tables: Sequence[TableRef]) -> dict[TableRef, TableInfo | None]:
        out: dict[TableRef, TableInfo | None] = {t: None for t in tables}
        try:
            for schema, refs in common.by_path(tables, self._schema).items():
                out.update(self.describe_schema(schema, refs))
        except psycopg.Error as exc:
            raise common.driver_error(self.connection, exc, "cannot read the catalog") from None
        finally:
            if self._conn is not None and not self._conn.closed:
                with contextlib.suppress(psycopg.Error):
                    self._conn.rollback()
        return out

    def describe_schema(self, schema: str, refs: list[TableRef]) -> dict[TableRef, TableInfo]:
        """Hook: the tables of one schema that exist, in one catalog query (and one count)."""
        with self.conn.cursor() as cur:
            cur.execute(
                "select set_config('statement_timeout', %s, false)",
                (str(common.DESCRIBE_TIMEOUT * 1000),),
            )
            try:
                cur.execute(CATALOG, (schema, sorted({r.table for r in refs})))
                self._counted()
                cols: dict[str, list[ColumnInfo]] = {}
                meta: dict[str, tuple[int, int, tuple[str, ...], Any]] = {}
                for rel, att, typ, nullable, reltuples, size, pk, uniq in cur.fetchall():
                    cols.setdefault(rel, []).append(ColumnInfo(att, typ, bool(nullable)))
                    meta[rel] = (int(reltuples), int(size), tuple(pk), uniq)
                exact = [
                    r
                    for r, (n, s, *_) in meta.items()
                    if small_enough(n, s, common.EXACT_COUNT_LIMIT)
                ]
                counts = self._count(cur, schema, exact)
            finally:
                cur.execute(
                    "select set_config('statement_timeout', %s, false)",
                    (str(int(self.statement_timeout * 1000)),),
                )
        return {
            ref: TableInfo(
                ref=ref,
                columns=tuple(cols[ref.table]),
                rows=counts.get(ref.table, max(meta[ref.table][0], 0)),
                rows_estimated=ref.table not in counts,
                primary_key=meta[ref.table][2],
                unique_keys=tuple(tuple(k) for k in meta[ref.table][3]),
            )
            for ref in refs
            if ref.table in cols
        }

    def _count(self, cur: psycopg.Cursor[Any], schema: str, tables: list[str]) -> dict[str, int]:
        """Exact counts of ``tables`` in one UNION ALL query."""
        if not tables:
            return {}
        parts = [
            sql.SQL("select {} as t, count(*) from {}").format(
                sql.Literal(t), sql.Identifier(schema, t)
            )
            for t in tables
        ]
        cur.execute(sql.SQL(" union all ").join(parts))
        self._counted()
        return {str(t): int(n) for t, n in cur.fetchall()}

    # -- the publish hooks (see runner.targets.skeleton) ---------------------------------

    def _schema(self, ref: TableRef) -> str:
        return ref.path[0] if ref.path else "public"

    def _ident(self, ref: TableRef, table: str | None = None) -> sql.Identifier:
        return sql.Identifier(self._schema(ref), table or ref.table)

    @contextlib.contextmanager
    def session(self, request: PublishRequest) -> Iterator[psycopg.Cursor[Any]]:
        """One transaction holding the table's lock; a driver error names the row."""
        self._ensure_ledger(request.ref)
        conn = self.conn
        try:
            with conn.transaction(), conn.cursor() as cur:
                self.lock(cur, request.ref)
                yield cur
        except CopyFailed as exc:
            raise self._load_error(request, exc.error, binary=exc.binary) from None
        except psycopg.Error as exc:
            raise self._load_error(request, exc) from None

    def lock(self, cur: psycopg.Cursor[Any], ref: TableRef) -> None:
        """Hook: serialise publishes of one table (held until the transaction ends)."""
        cur.execute(
            "select pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"{self._schema(ref)}.{ref.table}",),
        )

    def retype_problem(self, ref: TableRef, column: str, to_type: str) -> str | None:
        return retype_error(self.conn, self._ident(ref), column, to_type)

    def table_in(self, cur: psycopg.Cursor[Any], ref: TableRef) -> TableInfo | None:
        cur.execute(CATALOG, (self._schema(ref), [ref.table]))
        cols = [ColumnInfo(att, typ, bool(nul)) for _, att, typ, nul, *_ in cur.fetchall()]
        return TableInfo(ref, tuple(cols), -1, True) if cols else None

    def qualified(self, ref: TableRef, table: str | None = None) -> str:
        return self._ident(ref, table).as_string(None)

    def load(
        self,
        cur: psycopg.Cursor[Any],
        request: PublishRequest,
        info: TableInfo | None,
        progress: Progress | None,
    ) -> int:
        self._drop_leftovers(cur, request.ref)
        action, target = request.action, self._ident(request.ref)
        if info is None:
            keys = request.key if action == "upsert" else ()
            self._create_table(cur, target, request, keys)
            return self.copy_rows(cur, Copy(target, request, progress, fresh=True))
        if action == "dropAndLoad":
            return self._drop_and_load(cur, request, progress)
        types = {c.name: c.sql_type for c in info.columns}
        if action in ("load", "createAndLoad"):
            return self.copy_rows(cur, Copy(target, request, progress, columns=types))
        if action == "truncateAndLoad":
            # DELETE, never TRUNCATE (see the module doc); the rows are prepared meanwhile
            delete = sql.SQL("delete from {}").format(target)
            before = lambda: cur.execute(delete)  # noqa: E731
            return self.copy_rows(cur, Copy(target, request, progress, False, before, types))
        stage = sql.Identifier(
            common.staging_name("stg", request.ref.table, request.run_id, self.name_limit)
        )
        cur.execute(sql.SQL(self.STAGE_LIKE).format(stage, target))
        rows = self.copy_rows(cur, Copy(stage, request, progress, columns=types))
        self.merge(cur, request, stage, types)
        return rows

    def _create_table(
        self,
        cur: psycopg.Cursor[Any],
        target: sql.Composable,
        request: PublishRequest,
        key: Sequence[str] = (),
    ) -> None:
        defs: list[sql.Composable] = [
            sql.SQL("{} {}{}").format(
                sql.Identifier(c.name),
                sql.SQL(self.sql_type(c.type)),
                sql.SQL(" not null" if c.name in key else ""),
            )
            for c in request.results.schema.columns
        ]
        if key:
            defs.append(
                sql.SQL("primary key ({})").format(sql.SQL(", ").join(map(sql.Identifier, key)))
            )
        cur.execute(sql.SQL("create table {} ({})").format(target, sql.SQL(", ").join(defs)))

    def copy_rows(self, cur: psycopg.Cursor[Any], job: Copy) -> int:
        """Hook: every row of the results into ``job.table``; the rows the database reports.

        A worker thread encodes the first batches while ``job.before`` runs.
        """
        return copy_in(cur, job, self.dialect, binary=self.binary_copy)

    def _drop_and_load(
        self, cur: psycopg.Cursor[Any], request: PublishRequest, progress: Progress | None
    ) -> int:
        ref = request.ref
        new = self._ident(
            ref, common.staging_name("new", ref.table, request.run_id, self.name_limit)
        )
        self._create_table(cur, new, request)
        rows = self.copy_rows(cur, Copy(new, request, progress, fresh=True))
        views = dependent_views(cur, self._schema(ref), ref.table)
        if views:
            raise TargetError(
                f"target.{request.target}: dropAndLoad cannot drop {ref}: views depend on it "
                f"({', '.join(views)}); use truncateAndLoad to keep them, or drop them first. "
                "The table is unchanged."
            )
        cur.execute(sql.SQL("drop table {}").format(self._ident(ref)))
        cur.execute(sql.SQL("alter table {} rename to {}").format(new, sql.Identifier(ref.table)))
        return rows

    def merge(
        self,
        cur: psycopg.Cursor[Any],
        request: PublishRequest,
        stage: sql.Identifier,
        types: Mapping[str, str],
    ) -> None:
        """Hook (upsert): the staged rows into the table, replacing rows with their key
        (:mod:`.postgres_merge`)."""
        ref, key = request.ref, request.key
        if sorted(key) not in unique_keys(cur, self._schema(ref), ref.table):
            index = common.staging_name("key", ref.table, "", self.name_limit)
            cur.execute(
                sql.SQL("create unique index {} on {} ({})").format(
                    sql.Identifier(index),
                    self._ident(ref),
                    sql.SQL(", ").join(map(sql.Identifier, key)),
                )
            )
        upsert(cur, self._ident(ref), stage, request.results.schema.names, key, types)

    def _drop_leftovers(self, cur: psycopg.Cursor[Any], ref: TableRef) -> None:
        (new, size), (stg, _) = (
            common.staging_prefix(kind, ref.table, self.name_limit) for kind in ("new", "stg")
        )
        for name in leftover_tables(cur, self._schema(ref), size, (new, stg)):
            cur.execute(sql.SQL("drop table if exists {}").format(self._ident(ref, name)))

    # -- ledger -------------------------------------------------------------------------

    def _ensure_ledger(self, ref: TableRef) -> None:
        conn = self.conn
        try:
            with conn.transaction():
                self.ledger_lock(conn, ref)
                schemas.create_ledger(conn, self, ref)  # the schema first, unless refused
        except (
            psycopg.errors.UniqueViolation,
            psycopg.errors.DuplicateTable,
            psycopg.errors.DuplicateObject,
        ):
            pass  # created at the same moment by another publish: it exists now
        except psycopg.Error as exc:
            raise common.driver_error(self.connection, exc, "cannot create the ledger") from None

    def ledger_lock(self, conn: psycopg.Connection[Any], ref: TableRef) -> None:
        """Hook: serialise creating the ledger (concurrent CREATE IF NOT EXISTS collide)."""
        conn.execute(
            "select pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"publish-ledger:{self._schema(ref)}",),
        )

    # -- errors -------------------------------------------------------------------------

    def _load_error(
        self, request: PublishRequest, exc: psycopg.Error, *, binary: bool = False
    ) -> TargetError:
        """A TargetError naming the target, and the row and column when COPY gives them
        (``binary``: the COPY was binary, where its line N is row N of the results)."""
        diag = exc.diag
        primary = diag.message_primary or (str(exc).splitlines() or [type(exc).__name__])[0]
        row, column = None, diag.column_name
        m = _COPY_LINE.search(diag.context or "")
        if m and (diag.context or "").startswith("COPY"):
            line = int(m.group(1))
            row = line if binary else row_of_line(batches(request, COPY_BATCH_ROWS), line)
            column = m.group(2).strip() if m.group(2) else column
        hint = ""
        if isinstance(exc, psycopg.errors.CardinalityViolation):
            hint = " (the results hold the same key more than once)"
        return common.load_error(
            self.connection,
            request,
            f"{primary}{hint}",
            row,
            column,
            transient=common.is_transient(exc),
        )
