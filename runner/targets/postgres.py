"""PostgreSQL target: COPY FROM STDIN of polars-encoded CSV, one transaction per publish.

Every publish is ONE transaction: the ledger check, the load, the action's statements and
the ledger row commit together, so a crash, a killed connection or a bad row at any point
rolls everything back and readers (MVCC) see the old rows until the commit.

How each action loads (the data always arrives by a single ``COPY ... FROM STDIN`` of CSV
that polars writes in big batches, so row N of the results is line N of the COPY and a
bad value is reported with its row and column):

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
  fail at COPY with their row), create a unique index on the key if none exists, then
  ``INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE``.

The ledger ``_publish_ledger`` lives in the target's schema. Leftover ``_pub_*`` tables
of the same target (none survive a crash of this design, but older versions or other
writers may have left some) are dropped at the start.
"""

from __future__ import annotations

import contextlib
import io
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import polars as pl
import psycopg
from psycopg import sql

from runner.errors import TargetError
from runner.results import ResultSchema, iter_frames
from runner.spec.model import Connection
from runner.spec.secrets import reveal
from runner.targets import _common as common
from runner.targets import _ledger
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

NAME_LIMIT = 63  # bytes; Postgres silently truncates longer identifiers

_PG_TYPES: Mapping[str, str] = {
    "boolean": "boolean",
    "int8": "smallint",
    "int16": "smallint",
    "int32": "integer",
    "int64": "bigint",
    "float32": "real",
    "float64": "double precision",
    "string": "text",
    "binary": "bytea",
    "date": "date",
    "time": "time without time zone",
    "timestamp": "timestamp without time zone",
    "timestamptz": "timestamp with time zone",
}

_INT_WIDTH = {"smallint": 16, "integer": 32, "bigint": 64}
_LOGICAL_INT_WIDTH = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}
_STRING_TYPES = ("text", "character varying", "character", "varchar", "char")

_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S%.f"
_WRITE_CHUNK = 1 << 20  # bytes per copy.write: measured faster than one write per batch
#: rows per CSV batch for COPY (~15 MB of CSV), and batches prepared ahead: 600k rows
#: ahead let truncateAndLoad encode while its DELETE runs; smaller batches than the
#: reader's keep the peak lower (10M rows: ~300 MB, was ~460 MB with 3 x 250k)
COPY_BATCH_ROWS = 100_000
COPY_PREFETCH = 6

_LEDGER = _ledger.Dialect(
    text=lambda n: f"varchar({n})",
    count="bigint",
    published_at="timestamp with time zone default current_timestamp",
    mark="%s",
)

_COPY_LINE = re.compile(r"line (\d+)(?:, column ([^:]+))?")


def _base(sql_type: str) -> tuple[str, tuple[int, ...]]:
    """``numeric(12,2)`` -> ``("numeric", (12, 2))``."""
    m = re.match(r"^([a-z ]+?)\s*(?:\(([\d,\s]+)\))?(\s+with(?:out)? time zone)?$", sql_type)
    if not m:
        return sql_type, ()
    name = m.group(1) + (m.group(3) or "")
    args = tuple(int(a) for a in m.group(2).split(",")) if m.group(2) else ()
    return name, args


def pg_type_matches(sql_type: str, logical: str) -> bool:
    """Whether a column of ``sql_type`` holds every value of ``logical`` unchanged.

    The rule is conservative, "no value can be lost or altered":

    - integers fit an integer column at least as wide (int32 fits integer and bigint,
      int64 only bigint), or an unconstrained ``numeric``;
    - float32 fits real and double precision, float64 only double precision;
    - decimal(p,s) fits numeric(P,S) when S >= s and P - S >= p - s, or plain numeric;
    - string fits any character type (text, character varying(n), character(n)); the
      length of a bounded column cannot be checked before the load, so a value too long
      fails the load with its row and column instead;
    - everything else needs the same type (timestamp and timestamptz are not mixed).
    """
    name, args = _base(sql_type.strip().lower())
    logical = logical.strip().lower()
    if logical in _LOGICAL_INT_WIDTH:
        if name == "numeric":
            return not args
        return _INT_WIDTH.get(name, 0) >= max(_LOGICAL_INT_WIDTH[logical], 16)
    if logical == "float32":
        return name in ("real", "double precision")
    if logical == "float64":
        return name == "double precision"
    dec = common.decimal_parts(logical)
    if dec is not None:
        if name != "numeric":
            return False
        return not args or common.decimal_fits(dec, args[0], args[1] if len(args) > 1 else 0)
    if logical == "string":
        return name in _STRING_TYPES
    return _PG_TYPES.get(logical) == name


def csv_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with every column in a form Postgres's CSV COPY reads back exactly.

    Binary becomes ``\\x`` hex; time-zone-aware timestamps become UTC wall time (the
    session runs with ``TimeZone=UTC``, so Postgres reads them back as the same
    instant); everything else polars writes in a form Postgres parses (ISO dates and
    timestamps, true/false, NaN/inf). Nulls are empty unquoted fields and empty strings
    are ``""``, which ``FORMAT csv, NULL ''`` tells apart.
    """
    exprs: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Binary):
            exprs.append(pl.concat_str([pl.lit("\\x"), pl.col(name).bin.encode("hex")]).alias(name))
        elif isinstance(dtype, pl.Datetime) and dtype.time_zone:
            exprs.append(
                pl.col(name).dt.convert_time_zone("UTC").dt.replace_time_zone(None).alias(name)
            )
    return frame.with_columns(exprs) if exprs else frame


def encode_csv(frame: pl.DataFrame) -> bytes:
    """The frame as CSV bytes for ``COPY ... (FORMAT csv, NULL '')`` in a UTC session."""
    buf = io.BytesIO()
    # chrono's default ISO format with "T" costs ~2x this one; Postgres reads both
    csv_frame(frame).write_csv(buf, include_header=False, datetime_format=_DATETIME_FORMAT)
    return buf.getvalue()


class PostgresTarget(common.PerThreadConnection):
    """A Postgres database reached through one connection of the spec."""

    vendor = "postgres"
    name_limit = NAME_LIMIT

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

    def _open(self) -> psycopg.Connection[Any]:
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
                self._conn = self._open()
            except psycopg.Error as exc:
                raise common.driver_error(self.connection, exc, "cannot connect") from None
        conn: psycopg.Connection[Any] = self._conn
        return conn

    # -- types --------------------------------------------------------------------------

    def sql_type(self, logical: str) -> str:
        return common.mapped_type(self.vendor, _PG_TYPES, logical, "numeric")

    def type_matches(self, column: ColumnInfo, logical: str) -> bool:
        return pg_type_matches(column.sql_type, logical)

    # -- describe -----------------------------------------------------------------------

    _CATALOG = """
        select c.relname, a.attname, lower(format_type(a.atttypid, a.atttypmod)),
               not a.attnotnull, c.reltuples::bigint, pg_relation_size(c.oid),
               coalesce((select array_agg(pa.attname::text order by k.ord)
                           from pg_index i
                           cross join unnest(i.indkey) with ordinality as k(attnum, ord)
                           join pg_attribute pa
                             on pa.attrelid = i.indrelid and pa.attnum = k.attnum
                          where i.indrelid = c.oid and i.indisprimary), '{}')
          from pg_class c
          join pg_namespace n on n.oid = c.relnamespace
          join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
         where n.nspname = %s and c.relname = any(%s) and c.relkind in ('r','p','v','m','f')
         order by c.relname, a.attnum
    """

    def _estimate_is_small(self, reltuples: int, size: int) -> bool:
        if reltuples >= 0:
            return reltuples < common.EXACT_COUNT_LIMIT
        return size < 64 * 1024 * 1024  # never analysed: count it when it is small on disk

    def describe(self, tables: Sequence[TableRef]) -> dict[TableRef, TableInfo | None]:
        out: dict[TableRef, TableInfo | None] = {t: None for t in tables}
        try:
            for schema, refs in common.by_path(tables, self._schema).items():
                out.update(self._describe_schema(schema, refs))
        except psycopg.Error as exc:
            raise common.driver_error(self.connection, exc, "cannot read the catalog") from None
        finally:
            self._rollback_quietly()
        return out

    def _describe_schema(self, schema: str, refs: list[TableRef]) -> dict[TableRef, TableInfo]:
        names = sorted({r.table for r in refs})
        with self.conn.cursor() as cur:
            cur.execute(
                "select set_config('statement_timeout', %s, false)",
                (str(common.DESCRIBE_TIMEOUT * 1000),),
            )
            try:
                cur.execute(self._CATALOG, (schema, names))
                self._counted()
                rows = cur.fetchall()
                cols: dict[str, list[ColumnInfo]] = {}
                meta: dict[str, tuple[int, int, tuple[str, ...]]] = {}
                for rel, att, typ, nullable, reltuples, size, pk in rows:
                    cols.setdefault(rel, []).append(ColumnInfo(att, typ, bool(nullable)))
                    meta[rel] = (int(reltuples), int(size), tuple(pk))
                exact = [r for r, (n, s, _) in meta.items() if self._estimate_is_small(n, s)]
                counts = self._count(cur, schema, exact)
            finally:
                cur.execute(
                    "select set_config('statement_timeout', %s, false)",
                    (str(int(self.statement_timeout * 1000)),),
                )
        out: dict[TableRef, TableInfo] = {}
        for ref in refs:
            if ref.table not in cols:
                continue
            reltuples, _, pk = meta[ref.table]
            estimated = ref.table not in counts
            out[ref] = TableInfo(
                ref=ref,
                columns=tuple(cols[ref.table]),
                rows=max(reltuples, 0) if estimated else counts[ref.table],
                rows_estimated=estimated,
                primary_key=pk,
            )
        return out

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

    def _rollback_quietly(self) -> None:
        if self._conn is not None and not self._conn.closed:
            with contextlib.suppress(psycopg.Error):
                self._conn.rollback()

    # -- publish ------------------------------------------------------------------------

    def _schema(self, ref: TableRef) -> str:
        return ref.path[0] if ref.path else "public"

    def _ident(self, ref: TableRef, table: str | None = None) -> sql.Composable:
        return sql.Identifier(self._schema(ref), table or ref.table)

    def publish(self, request: PublishRequest, progress: Progress | None = None) -> PublishResult:
        if request.action not in _ACTIONS:
            raise TargetError(f"target.{request.target}: unknown action {request.action!r}")
        common.check_key(request)
        started = time.monotonic()
        self._ensure_ledger(request.ref)
        conn = self.conn
        try:
            with conn.transaction():
                cur = conn.cursor()
                self._lock(cur, request.ref)
                info = self._describe_in(cur, request.ref)
                done = self._ledger_rows(cur, request) if info is not None else None
                if done is not None and info is not None:  # the table holds this run already
                    return PublishResult(
                        rows_loaded=0,
                        rows_after=self._count_table(cur, self._ident(request.ref)),
                        columns=info.columns,
                        already_published=True,
                        seconds=time.monotonic() - started,
                    )
                self._drop_leftovers(cur, request.ref)
                info = self._describe_in(cur, request.ref)
                common.check_columns(request, info)
                loaded, after = self._apply(cur, request, info, progress)
                self._write_ledger(cur, request, loaded)
                final = self._describe_in(cur, request.ref)
        except psycopg.Error as exc:
            raise self._load_error(request, exc) from None
        return PublishResult(
            rows_loaded=loaded,
            rows_after=after,
            columns=final.columns if final else (),
            seconds=time.monotonic() - started,
        )

    def _lock(self, cur: psycopg.Cursor[Any], ref: TableRef) -> None:
        """Serialise publishes of one table (held until the transaction ends)."""
        cur.execute(
            "select pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"{self._schema(ref)}.{ref.table}",),
        )

    def _describe_in(self, cur: psycopg.Cursor[Any], ref: TableRef) -> TableInfo | None:
        cur.execute(self._CATALOG, (self._schema(ref), [ref.table]))
        cols = [ColumnInfo(att, typ, bool(nul)) for _, att, typ, nul, *_ in cur.fetchall()]
        if not cols:
            return None
        return TableInfo(ref=ref, columns=tuple(cols), rows=-1, rows_estimated=True)

    def _apply(
        self,
        cur: psycopg.Cursor[Any],
        request: PublishRequest,
        info: TableInfo | None,
        progress: Progress | None,
    ) -> tuple[int, int]:
        ref, action, schema = request.ref, request.action, request.results.schema
        target = self._ident(ref)
        if info is None:
            if action == "load":
                raise TargetError(
                    f"target.{request.target}: table {ref} does not exist; "
                    "use createAndLoad to create it"
                )
            self._create_table(cur, target, schema, request.key if action == "upsert" else ())
            rows = self._load(cur, target, request, progress, fresh=True)
            return rows, rows
        if action == "create":
            raise TargetError(
                f"target.{request.target}: table {ref} already exists; create only makes a "
                "new table (use load, truncateAndLoad or dropAndLoad)"
            )
        if action in ("load", "createAndLoad"):
            rows = self._load(cur, target, request, progress, fresh=False)
            return rows, self._count_table(cur, target)
        if action == "truncateAndLoad":
            # the first batches are decoded and encoded while the server deletes
            early = self._early_batches(request)
            try:
                self._empty_table(cur, target)
            except BaseException:
                if early is not None:
                    early.close()
                raise
            rows = self._load(cur, target, request, progress, fresh=False, batches=early)
            return rows, rows
        if action == "dropAndLoad":
            return self._drop_and_load(cur, request, progress)
        return self._upsert(cur, request, info, progress)

    def _empty_table(self, cur: psycopg.Cursor[Any], target: sql.Composable) -> None:
        cur.execute(sql.SQL("delete from {}").format(target))

    def _count_table(self, cur: psycopg.Cursor[Any], target: sql.Composable) -> int:
        cur.execute(sql.SQL("select count(*) from {}").format(target))
        row = cur.fetchone()
        return int(row[0]) if row else 0

    def _column_defs(self, schema: ResultSchema, key: Sequence[str]) -> sql.Composable:
        defs: list[sql.Composable] = [
            sql.SQL("{} {}{}").format(
                sql.Identifier(c.name),
                sql.SQL(self.sql_type(c.type)),
                sql.SQL(" not null" if c.name in key else ""),
            )
            for c in schema.columns
        ]
        if key:
            defs.append(
                sql.SQL("primary key ({})").format(sql.SQL(", ").join(map(sql.Identifier, key)))
            )
        return sql.SQL(", ").join(defs)

    def _create_table(
        self,
        cur: psycopg.Cursor[Any],
        target: sql.Composable,
        schema: ResultSchema,
        key: Sequence[str] = (),
    ) -> None:
        cur.execute(sql.SQL("create table {} ({})").format(target, self._column_defs(schema, key)))

    def _frames(self, request: PublishRequest) -> Iterator[pl.DataFrame]:
        return iter_frames(request.results, common.BATCH_ROWS)

    def _encoder(self, request: PublishRequest) -> Prefetch[tuple[int, bytes]]:
        """CSV batches for COPY, prepared in a background thread from now on."""
        frames = iter_frames(request.results, COPY_BATCH_ROWS)
        return Prefetch(((len(f), encode_csv(f)) for f in frames), COPY_PREFETCH)

    def _early_batches(self, request: PublishRequest) -> Prefetch[tuple[int, bytes]] | None:
        """Batches to start preparing before the statements that precede the load."""
        return self._encoder(request)

    def _load(
        self,
        cur: psycopg.Cursor[Any],
        table: sql.Composable,
        request: PublishRequest,
        progress: Progress | None,
        *,
        fresh: bool,
        batches: Prefetch[tuple[int, bytes]] | None = None,
    ) -> int:
        """COPY every row of the results into ``table``; returns the row count."""
        names = sql.SQL(", ").join(map(sql.Identifier, request.results.schema.names))
        options = "format csv, null '', freeze" if fresh else "format csv, null ''"
        statement = sql.SQL("copy {} ({}) from stdin ({})").format(table, names, sql.SQL(options))
        rows = 0
        chunks = batches if batches is not None else self._encoder(request)
        with chunks, cur.copy(statement) as copy:
            for n, data in chunks:
                view = memoryview(data)
                for i in range(0, len(view), _WRITE_CHUNK):
                    copy.write(view[i : i + _WRITE_CHUNK])
                rows += n
                if progress is not None:
                    progress(rows)
        return rows

    def _drop_and_load(
        self, cur: psycopg.Cursor[Any], request: PublishRequest, progress: Progress | None
    ) -> tuple[int, int]:
        ref = request.ref
        new = common.staging_name("new", ref.table, request.run_id, self.name_limit)
        new_ident = self._ident(ref, new)
        self._create_table(cur, new_ident, request.results.schema)
        rows = self._load(cur, new_ident, request, progress, fresh=True)
        views = self._dependent_views(cur, ref)
        if views:
            raise TargetError(
                f"target.{request.target}: dropAndLoad cannot drop {ref}: views depend on it "
                f"({', '.join(views)}); use truncateAndLoad to keep them, or drop them first. "
                "The table is unchanged."
            )
        cur.execute(sql.SQL("drop table {}").format(self._ident(ref)))
        cur.execute(
            sql.SQL("alter table {} rename to {}").format(new_ident, sql.Identifier(ref.table))
        )
        return rows, rows

    def _dependent_views(self, cur: psycopg.Cursor[Any], ref: TableRef) -> list[str]:
        cur.execute(
            """
            select distinct vn.nspname || '.' || v.relname
              from pg_depend d
              join pg_rewrite r on r.oid = d.objid
              join pg_class v on v.oid = r.ev_class
              join pg_namespace vn on vn.oid = v.relnamespace
             where d.refobjid = (select c.oid from pg_class c
                                   join pg_namespace n on n.oid = c.relnamespace
                                  where n.nspname = %s and c.relname = %s)
               and v.oid <> d.refobjid
             order by 1
            """,
            (self._schema(ref), ref.table),
        )
        return [str(r[0]) for r in cur.fetchall()]

    def _upsert(
        self,
        cur: psycopg.Cursor[Any],
        request: PublishRequest,
        info: TableInfo,
        progress: Progress | None,
    ) -> tuple[int, int]:
        ref, key = request.ref, request.key
        target = self._ident(ref)
        stage = sql.Identifier(common.staging_name("stg", ref.table, request.run_id, NAME_LIMIT))
        cur.execute(
            sql.SQL("create temp table {} (like {} including defaults) on commit drop").format(
                stage, target
            )
        )
        rows = self._load(cur, stage, request, progress, fresh=False)
        self._ensure_unique(cur, request)
        names = request.results.schema.names
        cols = sql.SQL(", ").join(map(sql.Identifier, names))
        updates = [n for n in names if n not in key]
        action = (
            sql.SQL("do update set {}").format(
                sql.SQL(", ").join(
                    sql.SQL("{} = excluded.{}").format(sql.Identifier(n), sql.Identifier(n))
                    for n in updates
                )
            )
            if updates
            else sql.SQL("do nothing")
        )
        cur.execute(
            sql.SQL("insert into {} ({}) select {} from {} on conflict ({}) {}").format(
                target,
                cols,
                cols,
                stage,
                sql.SQL(", ").join(map(sql.Identifier, key)),
                action,
            )
        )
        return rows, self._count_table(cur, target)

    def _ensure_unique(self, cur: psycopg.Cursor[Any], request: PublishRequest) -> None:
        """A unique index on exactly the key columns, created in the transaction if missing."""
        ref, key = request.ref, list(request.key)
        cur.execute(
            """
            select array_agg(a.attname::text order by k.ord)
              from pg_index i
              cross join unnest(i.indkey) with ordinality as k(attnum, ord)
              join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
             where i.indrelid = (select c.oid from pg_class c
                                   join pg_namespace n on n.oid = c.relnamespace
                                  where n.nspname = %s and c.relname = %s)
               and i.indisunique and i.indpred is null
             group by i.indexrelid
            """,
            (self._schema(ref), ref.table),
        )
        if any(sorted(r[0]) == sorted(key) for r in cur.fetchall()):
            return
        index = common.staging_name("key", ref.table, "", NAME_LIMIT)
        cur.execute(
            sql.SQL("create unique index {} on {} ({})").format(
                sql.Identifier(index),
                self._ident(ref),
                sql.SQL(", ").join(map(sql.Identifier, key)),
            )
        )

    def _drop_leftovers(self, cur: psycopg.Cursor[Any], ref: TableRef) -> None:
        (new, size), (stg, _) = (
            common.staging_prefix(kind, ref.table, self.name_limit) for kind in ("new", "stg")
        )
        cur.execute(
            """
            select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
             where n.nspname = %s and c.relkind = 'r' and length(c.relname) = %s
               and (left(c.relname, %s) = %s or left(c.relname, %s) = %s)
            """,
            (self._schema(ref), size, len(new), new, len(stg), stg),
        )
        for (name,) in cur.fetchall():
            cur.execute(sql.SQL("drop table if exists {}").format(self._ident(ref, name)))

    # -- ledger -------------------------------------------------------------------------

    def _ledger_ident(self, ref: TableRef) -> sql.Composable:
        return sql.Identifier(self._schema(ref), LEDGER_TABLE)

    def _ensure_ledger(self, ref: TableRef) -> None:
        conn = self.conn
        try:
            with conn.transaction():
                self._ledger_lock(conn, ref)
                conn.execute(
                    sql.SQL(_ledger.create_sql("{}", _LEDGER)).format(self._ledger_ident(ref))
                )
        except (
            psycopg.errors.UniqueViolation,
            psycopg.errors.DuplicateTable,
            psycopg.errors.DuplicateObject,
        ):
            pass  # created at the same moment by another publish: it exists now
        except psycopg.Error as exc:
            raise common.driver_error(self.connection, exc, "cannot create the ledger") from None

    def _ledger_lock(self, conn: psycopg.Connection[Any], ref: TableRef) -> None:
        """Serialise creating the ledger: concurrent CREATE IF NOT EXISTS can collide."""
        conn.execute(
            "select pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"publish-ledger:{self._schema(ref)}",),
        )

    def _ledger_rows(self, cur: psycopg.Cursor[Any], request: PublishRequest) -> int | None:
        cur.execute(
            sql.SQL(_ledger.select_sql("{}", _LEDGER)).format(self._ledger_ident(request.ref)),
            _ledger.lookup(request),
        )
        row = cur.fetchone()
        return int(row[0]) if row else None

    def _write_ledger(self, cur: psycopg.Cursor[Any], request: PublishRequest, rows: int) -> None:
        cur.execute(
            sql.SQL(_ledger.delete_sql("{}", _LEDGER)).format(self._ledger_ident(request.ref)),
            _ledger.current(request),
        )
        cur.execute(
            sql.SQL(_ledger.insert_sql("{}", _LEDGER)).format(self._ledger_ident(request.ref)),
            _ledger.values(request, rows),
        )

    # -- errors -------------------------------------------------------------------------

    def _load_error(self, request: PublishRequest, exc: psycopg.Error) -> TargetError:
        """A TargetError naming the target, and the row and column when COPY gives them."""
        diag = exc.diag
        primary = diag.message_primary or (str(exc).splitlines() or [type(exc).__name__])[0]
        row, column = None, diag.column_name
        m = _COPY_LINE.search(diag.context or "")
        if m:
            row = int(m.group(1))
            column = m.group(2).strip() if m.group(2) else column
        hint = ""
        if isinstance(exc, psycopg.errors.CardinalityViolation):
            hint = " (the results hold the same key more than once)"
        return common.load_error(self.connection, request, f"{primary}{hint}", row, column)


_ACTIONS = ("create", "load", "createAndLoad", "truncateAndLoad", "dropAndLoad", "upsert")
