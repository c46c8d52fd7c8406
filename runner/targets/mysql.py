"""MySQL / MariaDB target: LOAD DATA LOCAL INFILE into a staging table, then a swap.

The rows are spooled by polars to a temporary CSV, loaded with ``LOAD DATA LOCAL INFILE``
into a staging InnoDB table ``_pub_stg_<table>_<hash>`` (or, when the server forbids
LOCAL INFILE, by multi-row INSERTs of about 2 MB). A staging table of an existing target
is ``CREATE TABLE ... LIKE`` the target, so a value that does not fit fails while
staging, with its row (LOAD DATA counts rows like the results, from 1), and the target
is never touched. Then, per action:

- a missing table (any action but ``load``): ``RENAME TABLE staging TO target``;
- ``load`` / ``createAndLoad``: ``LOAD DATA`` straight into the target and the ledger
  row in one InnoDB transaction (any warning rolls it back), or with the INSERT path,
  ``INSERT INTO target SELECT ... FROM staging`` and the ledger row in one transaction;
- ``truncateAndLoad``: the staging table already is a copy of the target's columns and
  indexes; ``RENAME TABLE target TO old, staging TO target`` (one atomic statement),
  ledger row, ``DROP TABLE old``. Grants (per table name) and views (which name the
  table) survive. ``CREATE TABLE ... LIKE`` copies neither foreign keys nor triggers, and
  foreign keys of other tables follow a renamed table, so a table that has triggers,
  foreign keys of its own, or foreign keys of other tables pointing at it is not
  swapped: ``DELETE`` + ``INSERT ... SELECT`` from the staging table and the ledger row
  in one InnoDB transaction instead (triggers fire, foreign keys are checked: a
  violation is an error and the table keeps its rows). Foreign keys pointing at it
  with ``ON DELETE CASCADE`` / ``SET NULL`` would change the other tables' rows, so
  that case is refused;
- ``dropAndLoad``: the same swap, with a staging table built from the results' schema
  (its triggers and foreign keys go with the old table); refused, before anything is
  touched, when foreign keys of other tables point at the table;
- ``upsert``: a unique key on the key columns is added if missing (DDL, committed before
  the data step), then ``INSERT ... SELECT ... ON DUPLICATE KEY UPDATE`` and the ledger
  row in one transaction.

DDL commits implicitly in MySQL, so the swap and the ledger row cannot share a
transaction. The steps are ordered so that a crash before the ``RENAME`` leaves the old
table intact (and a leftover staging table that the next publish of this table drops),
and the ledger row is written right after it. The one window is between the ``RENAME``
and the ledger ``INSERT`` (one round trip): a crash there leaves the new rows published
without a ledger row, so a retry publishes the same rows again, which for the replacing
actions gives the same table. Every publish of a table holds ``GET_LOCK`` on its name.
An error after the swap says what state the table is in, never that it is unchanged.

``LOAD DATA LOCAL INFILE`` lets the server ask the client for any file it can read, so
the capability is only enabled (see :func:`local_infile_allowed`) when the server is on
this machine (``localhost``, 127.0.0.0/8, ``::1`` or a unix socket), or the connection
verifies the server's TLS certificate (``params.ssl_verify_cert`` or
``params.ssl_verify_identity`` true), or ``params.localInfile`` is ``true`` (the user
trusts the server and the network). ``params.localInfile: false`` turns it off.
Otherwise rows go by multi-row INSERTs.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import polars as pl
import pymysql

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

NAME_LIMIT = 64
INSERT_BYTES = 2 * 1024 * 1024  # multi-row INSERT size when LOCAL INFILE is forbidden

_TYPES: Mapping[str, str] = {
    "boolean": "tinyint(1)",
    "int8": "tinyint",
    "int16": "smallint",
    "int32": "int",
    "int64": "bigint",
    "float32": "float",
    "float64": "double",
    "string": "longtext",
    "binary": "longblob",
    "date": "date",
    "time": "time(6)",
    "timestamp": "datetime(6)",
    "timestamptz": "datetime(6)",  # stored as UTC: MySQL keeps no offset
}
_INT_WIDTH = {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "bigint": 64}
_LOGICAL_INT = {"boolean": 1, "int8": 8, "int16": 16, "int32": 32, "int64": 64}
_STRINGS = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext")
_BINARIES = ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob")
_ROW = re.compile(r"at row (\d+)")
_COLUMN = re.compile(r"column '([^']+)'")
_NO_ACTION = ("RESTRICT", "NO ACTION")
_CONNECTION_LOST = (2006, 2013, 2055)  # server gone away, lost during query / reading
_BOOL_PARAMS = {"ssl_verify_cert", "ssl_verify_identity", "ssl_disabled", "compress"}


def quote(name: str) -> str:
    """A MySQL identifier in backticks, any backtick inside doubled."""
    return "`" + name.replace("`", "``") + "`"


def _truthy(value: object) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` names this machine: ``localhost``, 127.0.0.0/8 or ``::1`` (no DNS)."""
    name = (host or "localhost").strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def local_infile_allowed(host: str | None, params: Mapping[str, object]) -> bool:
    """Whether a connection may enable ``LOAD DATA LOCAL INFILE`` (see the module doc).

    ``params.localInfile`` decides when given; else a loopback host or unix socket, or
    TLS that verifies the server's certificate (not disabled), allows it.
    """
    if "localInfile" in params:
        return _truthy(params["localInfile"])
    if params.get("unix_socket") or is_loopback(host):
        return True
    if _truthy(params.get("ssl_disabled", "")):
        return False
    return _truthy(params.get("ssl_verify_cert", "")) or _truthy(
        params.get("ssl_verify_identity", "")
    )


_DEADLOCK = 1213  # ER_LOCK_DEADLOCK: the victim's transaction was rolled back

_LEDGER = _ledger.Dialect(
    text=lambda n: f"varchar({n})",
    count="bigint",
    published_at="timestamp(6) default current_timestamp(6)",
    mark="%s",
    quote=quote,  # `rows` is a reserved word in MySQL 8
    suffix=" engine=InnoDB default charset=utf8mb4",
)


def normalise_type(column_type: str) -> str:
    """``int(11)`` -> ``int`` (display widths mean nothing); ``tinyint(1)`` stays."""
    t = column_type.strip().lower()
    if t.startswith("tinyint(1)"):
        return t
    return re.sub(r"^(tinyint|smallint|mediumint|int|bigint)\(\d+\)", r"\1", t)


def mysql_type_matches(sql_type: str, logical: str) -> bool:
    """Whether a MySQL column holds every value of ``logical`` unchanged.

    Conservative: integers (and booleans, stored as 0/1) need a signed integer column
    at least as wide; float32 fits float and double, float64 only double;
    decimal(p,s) needs decimal(P,S) with S >= s and P - S >= p - s; strings fit any
    char/text column (a bounded length is checked by the load, which fails with the
    row); binary fits any binary/blob column; timestamps need datetime(6) or
    timestamp(6) (fewer fractional digits would round); time needs time(6).
    """
    t = normalise_type(sql_type)
    m = re.match(r"^([a-z]+)(?:\(([\d,]+)\))?(\s+unsigned)?", t)
    if not m:
        return False
    name, args = m.group(1), tuple(int(a) for a in (m.group(2) or "").split(",") if a)
    unsigned = bool(m.group(3))
    logical = logical.strip().lower()
    if logical in _LOGICAL_INT:
        return not unsigned and _INT_WIDTH.get(name, 0) >= _LOGICAL_INT[logical]
    if logical == "float32":
        return name in ("float", "double")
    if logical == "float64":
        return name == "double"
    dec = common.decimal_parts(logical)
    if dec is not None:
        if name != "decimal" or not args:
            return False
        return common.decimal_fits(dec, args[0], args[1] if len(args) > 1 else 0)
    if logical == "string":
        return name in _STRINGS
    if logical == "binary":
        return name in _BINARIES
    if logical == "date":
        return name == "date"
    if logical == "time":
        return name == "time" and args == (6,)
    if logical in ("timestamp", "timestamptz"):
        return name in ("datetime", "timestamp") and args == (6,)
    return False


def mysql_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Booleans as 0/1, binary as hex (UNHEX on load), aware timestamps as UTC wall time."""
    exprs: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Boolean):
            exprs.append(pl.col(name).cast(pl.Int8))
        elif isinstance(dtype, pl.Binary):
            exprs.append(pl.col(name).bin.encode("hex"))
        elif isinstance(dtype, pl.Datetime) and dtype.time_zone:
            exprs.append(pl.col(name).dt.convert_time_zone("UTC").dt.replace_time_zone(None))
    return frame.with_columns(exprs) if exprs else frame


def write_csv(frame: pl.DataFrame, out: Any) -> None:
    """CSV that LOAD DATA reads back exactly: strings quoted, NULL as a bare word."""
    mysql_frame(frame).write_csv(
        out,
        include_header=False,
        quote_style="non_numeric",
        null_value="NULL",
        datetime_format="%Y-%m-%d %H:%M:%S%.6f",
        time_format="%H:%M:%S%.6f",
    )


class MysqlTarget(common.PerThreadConnection):
    """A MySQL or MariaDB server reached through one connection of the spec."""

    vendor = "mysql"

    def __init__(
        self,
        connection: Connection,
        *,
        statement_timeout: float = common.LOAD_TIMEOUT,
        connect_timeout: int = common.CONNECT_TIMEOUT,
        local_infile: bool = True,
    ) -> None:
        self.connection = connection
        self.introspection_queries = 0
        self.statement_timeout = statement_timeout
        self.connect_timeout = connect_timeout
        #: LOAD DATA LOCAL when the connection allows it (:func:`local_infile_allowed`) and
        #: the server does; False forces the multi-row INSERT path
        self.local_infile = local_infile and local_infile_allowed(
            connection.host, common.params_of(connection)
        )
        self.mariadb = False
        self._init_connections()

    # -- connection ---------------------------------------------------------------------

    def _open(self) -> Any:
        c = self.connection
        params: dict[str, Any] = dict(common.params_of(c))
        params.pop("localInfile", None)
        for k in _BOOL_PARAMS & params.keys():
            params[k] = str(params[k]).lower() in ("1", "true", "yes", "on")
        conn = pymysql.connect(
            host=c.host or "localhost",
            port=c.port or 3306,
            user=c.username or "root",
            password=reveal(c.password) or "",
            database=c.database or None,
            connect_timeout=self.connect_timeout,
            read_timeout=int(self.statement_timeout) + 60,
            write_timeout=int(self.statement_timeout) + 60,
            local_infile=self.local_infile,
            charset="utf8mb4",
            autocommit=True,
            **params,
        )
        with conn.cursor() as cur:
            cur.execute("select version(), @@local_infile")
            row = cur.fetchone()
            self.mariadb = "mariadb" in str(row[0]).lower()
            if not int(row[1] or 0):
                self.local_infile = False
            cur.execute(
                "set session sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,"
                "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', time_zone = '+00:00'"
            )
            if self.mariadb:
                cur.execute("set session max_statement_time = %s", (self.statement_timeout,))
        return conn

    @property
    def conn(self) -> Any:
        if self._conn is None or not self._conn.open:
            try:
                self._conn = self._open()
            except pymysql.MySQLError as exc:
                raise common.driver_error(self.connection, exc, "cannot connect") from None
        return self._conn

    # -- types --------------------------------------------------------------------------

    def sql_type(self, logical: str) -> str:
        return common.mapped_type(self.vendor, _TYPES, logical, "decimal")

    def type_matches(self, column: ColumnInfo, logical: str) -> bool:
        return mysql_type_matches(column.sql_type, logical)

    # -- describe -----------------------------------------------------------------------

    _CATALOG = """
        select c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, c.IS_NULLABLE = 'YES',
               coalesce(t.TABLE_ROWS, 0), c.COLUMN_KEY = 'PRI'
          from information_schema.COLUMNS c
          join information_schema.TABLES t
            on t.TABLE_SCHEMA = c.TABLE_SCHEMA and t.TABLE_NAME = c.TABLE_NAME
         where c.TABLE_SCHEMA = %s and c.TABLE_NAME in %s
         order by c.TABLE_NAME, c.ORDINAL_POSITION
    """

    def _database(self, ref: TableRef) -> str:
        if ref.path:
            return ref.path[0]
        if self.connection.database:
            return self.connection.database
        raise TargetError(f"{ref}: give the database in the target's path")

    def describe(self, tables: Sequence[TableRef]) -> dict[TableRef, TableInfo | None]:
        out: dict[TableRef, TableInfo | None] = {t: None for t in tables}
        groups = common.by_path(tables, self._database)
        try:
            with self.conn.cursor() as cur:
                for db, refs in groups.items():
                    out.update(self._describe_db(cur, db, refs))
        except pymysql.MySQLError as exc:
            raise common.driver_error(self.connection, exc, "cannot read the catalog") from None
        return out

    def _describe_db(self, cur: Any, db: str, refs: list[TableRef]) -> dict[TableRef, TableInfo]:
        cur.execute(self._CATALOG, (db, tuple(sorted({r.table for r in refs}))))
        self._counted()
        cols: dict[str, list[ColumnInfo]] = {}
        estimates: dict[str, int] = {}
        pks: dict[str, list[str]] = {}
        for table, name, typ, nullable, rows, pk in cur.fetchall():
            cols.setdefault(table, []).append(ColumnInfo(name, normalise_type(typ), bool(nullable)))
            estimates[table] = int(rows)
            if pk:
                pks.setdefault(table, []).append(name)
        small = [t for t, n in estimates.items() if n < common.EXACT_COUNT_LIMIT]
        counts: dict[str, int] = {}
        if small:
            cur.execute(
                " union all ".join(
                    f"select %s, count(*) from {quote(db)}.{quote(t)}" for t in small
                ),
                tuple(small),
            )
            self._counted()
            counts = {str(t): int(n) for t, n in cur.fetchall()}
        return {
            ref: TableInfo(
                ref=ref,
                columns=tuple(cols[ref.table]),
                rows=counts.get(ref.table, estimates[ref.table]),
                rows_estimated=ref.table not in counts,
                primary_key=tuple(pks.get(ref.table, ())),
            )
            for ref in refs
            if ref.table in cols
        }

    # -- publish ------------------------------------------------------------------------

    def _name(self, ref: TableRef, table: str | None = None) -> str:
        return f"{quote(self._database(ref))}.{quote(table or ref.table)}"

    def publish(self, request: PublishRequest, progress: Progress | None = None) -> PublishResult:
        common.check_key(request)
        started = time.monotonic()
        conn = self.conn
        cur = conn.cursor()
        lock = f"publish:{self._database(request.ref)}.{request.ref.table}"[:64]
        try:
            self._ensure_ledger(cur, request.ref)
            cur.execute("select get_lock(%s, %s)", (lock, int(self.statement_timeout)))
            if (cur.fetchone() or (0,))[0] != 1:
                raise TargetError(f"target.{request.target}: {request.ref} is locked by a publish")
            try:
                result = self._publish_locked(cur, request, progress)
            finally:
                with contextlib.suppress(pymysql.MySQLError):
                    cur.execute("select release_lock(%s)", (lock,))
        except pymysql.MySQLError as exc:
            with contextlib.suppress(pymysql.MySQLError):
                conn.rollback()
            raise self._load_error(request, exc) from None
        finally:
            cur.close()
        return PublishResult(
            rows_loaded=result[0],
            rows_after=result[1],
            columns=result[2],
            already_published=result[3],
            seconds=time.monotonic() - started,
        )

    def _publish_locked(
        self, cur: Any, request: PublishRequest, progress: Progress | None
    ) -> tuple[int, int, tuple[ColumnInfo, ...], bool]:
        ref = request.ref
        info = self._describe_one(cur, ref)
        done = self._ledger_rows(cur, request) if info is not None else None
        if done is not None and info is not None:  # the table holds this run already
            return 0, self._count(cur, ref), info.columns, True
        common.check_columns(request, info)
        action = request.action
        if info is None and action == "load":
            raise TargetError(
                f"target.{request.target}: table {ref} does not exist; "
                "use createAndLoad to create it"
            )
        if info is not None and action == "create":
            raise TargetError(
                f"target.{request.target}: table {ref} already exists; create only makes a "
                "new table (use load, truncateAndLoad or dropAndLoad)"
            )
        swap = info is not None and action in ("truncateAndLoad", "dropAndLoad")
        if swap and not self._can_swap(cur, request):
            swap = False  # truncateAndLoad of a table with triggers or foreign keys
        self._drop_leftovers(cur, ref)
        if info is not None and action in ("load", "createAndLoad") and self.local_infile:
            return self._append_direct(cur, request, progress)
        stage = common.staging_name("stg", ref.table, request.run_id, NAME_LIMIT)
        like = info is not None and action != "dropAndLoad"
        if like:
            cur.execute(f"create table {self._name(ref, stage)} like {self._name(ref)}")
        else:
            keys = request.key if action == "upsert" else ()
            self._create(cur, ref, stage, request.results.schema, keys)
        try:
            rows = self._stage(cur, request, stage, progress)
            if info is None or swap:
                self._swap(cur, request, stage, rows, replace=info is not None)
                after = rows
            else:
                if action == "upsert":
                    self._ensure_unique(cur, request)
                self._merge(cur, request, stage, rows)
                after = self._count(cur, ref)
        finally:
            # best effort: on a broken connection the next publish drops the leftover
            with contextlib.suppress(pymysql.MySQLError):
                cur.execute(f"drop table if exists {self._name(ref, stage)}")
        final = self._describe_one(cur, ref)
        return rows, after, final.columns if final else (), False

    def _can_swap(self, cur: Any, request: PublishRequest) -> bool:
        """Whether truncateAndLoad / dropAndLoad may replace the table by RENAME.

        dropAndLoad of a table that other tables' foreign keys point at is refused (the
        keys would follow the renamed old table and block its DROP); truncateAndLoad of a
        table with triggers or foreign keys (its own or pointing at it) is done by
        DELETE + INSERT instead (False), refused when a key pointing at it would cascade.
        """
        ref, db = request.ref, self._database(request.ref)
        cur.execute(
            "select CONSTRAINT_SCHEMA, TABLE_NAME, UNIQUE_CONSTRAINT_SCHEMA, "
            "REFERENCED_TABLE_NAME, DELETE_RULE from information_schema.REFERENTIAL_CONSTRAINTS "
            "where (UNIQUE_CONSTRAINT_SCHEMA = %s and REFERENCED_TABLE_NAME = %s) "
            "or (CONSTRAINT_SCHEMA = %s and TABLE_NAME = %s)",
            (db, ref.table, db, ref.table),
        )
        keys = cur.fetchall()
        incoming = sorted(
            {
                (f"{s}.{t}", str(rule).upper())
                for s, t, rs, rt, rule in keys
                if (rs, rt) == (db, ref.table) and (s, t) != (db, ref.table)
            }
        )
        if request.action == "dropAndLoad":
            if incoming:
                raise TargetError(
                    f"target.{request.target}: dropAndLoad cannot drop {ref}: foreign keys of "
                    f"{', '.join(sorted({t for t, _ in incoming}))} reference it; use "
                    "truncateAndLoad to keep it, or drop those foreign keys first. "
                    "The table is unchanged."
                )
            return True
        cascading = [f"{t} (on delete {r.lower()})" for t, r in incoming if r not in _NO_ACTION]
        if cascading:
            raise TargetError(
                f"target.{request.target}: truncateAndLoad would delete every row of {ref}, "
                f"and foreign keys of {', '.join(cascading)} would change those tables' "
                "rows too; use upsert, or change those foreign keys. The table is unchanged."
            )
        cur.execute(
            "select count(*) from information_schema.TRIGGERS "
            "where EVENT_OBJECT_SCHEMA = %s and EVENT_OBJECT_TABLE = %s",
            (db, ref.table),
        )
        triggers = int(cur.fetchone()[0])
        return not keys and not triggers

    def _swap(
        self, cur: Any, request: PublishRequest, stage: str, rows: int, *, replace: bool
    ) -> None:
        """RENAME the staging table into place (swapping out the old table), then the
        ledger row, then DROP the old table. Errors after the RENAME say what is where."""
        ref = request.ref
        old = common.staging_name("old", ref.table, request.run_id, NAME_LIMIT)
        renames = [f"{self._name(ref, stage)} to {self._name(ref)}"]
        if replace:
            renames.insert(0, f"{self._name(ref)} to {self._name(ref, old)}")
        doing = f"target.{request.target}: {request.action} into {ref}"
        try:
            cur.execute("rename table " + ", ".join(renames))
        except pymysql.OperationalError as exc:
            if exc.args and exc.args[0] in _CONNECTION_LOST:
                raise TargetError(
                    f"{common.where(self.connection)}: {doing}: the connection was lost during "
                    f"the RENAME swap ({self._message(exc)}); RENAME TABLE is atomic, so {ref} "
                    "holds either its previous rows or the new ones; publish again to be sure"
                ) from None
            raise
        try:
            self._write_ledger(cur, request, rows, transaction=True)
        except pymysql.MySQLError as exc:
            raise TargetError(
                f"{common.where(self.connection)}: {doing}: {ref} now holds the {rows} new "
                f"rows, but the ledger row could not be written ({self._message(exc)}); "
                "publishing again loads the same rows again"
                + (f"; the previous table is kept as {old}" if replace else "")
            ) from None
        if not replace:
            return
        try:
            cur.execute(f"drop table if exists {self._name(ref, old)}")
        except pymysql.MySQLError as exc:
            raise TargetError(
                f"{common.where(self.connection)}: {doing}: published: {ref} holds the {rows} "
                f"new rows and the ledger says so, but the previous table, renamed to {old}, "
                f"could not be dropped ({self._message(exc)}); drop it by hand (the next "
                "publish of this table tries again)"
            ) from None

    @staticmethod
    def _message(exc: pymysql.MySQLError) -> str:
        return str(exc.args[1]) if len(exc.args) > 1 else str(exc)

    def _append_direct(
        self, cur: Any, request: PublishRequest, progress: Progress | None
    ) -> tuple[int, int, tuple[ColumnInfo, ...], bool]:
        """Append by LOAD DATA straight into the target, with the ledger, in one transaction.

        LOAD DATA is DML, so InnoDB rolls it back with the transaction; LOCAL turns bad
        values and duplicate keys into warnings, and any warning rolls everything back.
        """
        conn = cur.connection
        conn.begin()
        try:
            rows = self._load_data(cur, request, request.ref.table, progress)
            self._write_ledger(cur, request, rows)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        final = self._describe_one(cur, request.ref)
        return rows, self._count(cur, request.ref), final.columns if final else (), False

    def _merge(self, cur: Any, request: PublishRequest, stage: str, rows: int) -> None:
        """INSERT ... SELECT (ON DUPLICATE KEY UPDATE for upsert) + ledger, one transaction."""
        ref, names = request.ref, request.results.schema.names
        cols = ", ".join(quote(n) for n in names)
        sql = f"insert into {self._name(ref)} ({cols}) select {cols} from {self._name(ref, stage)}"
        if request.action == "upsert":
            updates = [n for n in names if n not in request.key] or list(request.key[:1])
            sql += " on duplicate key update " + ", ".join(
                f"{quote(n)} = values({quote(n)})" for n in updates
            )
        conn = cur.connection
        conn.begin()
        try:
            if request.action == "truncateAndLoad":
                self._delete_all(cur, request)
            cur.execute(sql)
            self._write_ledger(cur, request, rows)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise

    def _delete_all(self, cur: Any, request: PublishRequest) -> None:
        """DELETE every row (in the caller's transaction); a row other tables reference
        fails with their names."""
        try:
            cur.execute(f"delete from {self._name(request.ref)}")
        except pymysql.IntegrityError as exc:
            raise TargetError(
                f"{common.where(self.connection)}: target.{request.target}: truncateAndLoad "
                f"into {request.ref} failed: it deletes every row first, and rows of another "
                f"table reference them ({self._message(exc)}); use upsert, or delete those "
                "rows first. The table is unchanged."
            ) from None

    def _create(
        self, cur: Any, ref: TableRef, table: str, schema: ResultSchema, key: Sequence[str]
    ) -> None:
        defs = []
        for c in schema.columns:
            typ = self.sql_type(c.type)
            if c.name in key:
                # a key needs a bounded length to be indexed
                typ = {"longtext": "varchar(255)", "longblob": "varbinary(255)"}.get(typ, typ)
                typ += " not null"
            defs.append(f"{quote(c.name)} {typ}")
        if key:
            defs.append(f"primary key ({', '.join(quote(k) for k in key)})")
        cur.execute(
            f"create table {self._name(ref, table)} ({', '.join(defs)}) "
            "engine=InnoDB default charset=utf8mb4"
        )

    def _frames(self, request: PublishRequest) -> Iterator[pl.DataFrame]:
        return iter_frames(request.results, common.BATCH_ROWS)

    def _stage(
        self, cur: Any, request: PublishRequest, stage: str, progress: Progress | None
    ) -> int:
        if self.local_infile:
            return self._load_data(cur, request, stage, progress)
        return self._insert_rows(cur, request, stage, progress)

    def _load_data(
        self, cur: Any, request: PublishRequest, stage: str, progress: Progress | None
    ) -> int:
        schema = request.results.schema
        fd, path = tempfile.mkstemp(prefix="publish-", suffix=".csv")
        rows = 0
        try:
            with os.fdopen(fd, "wb") as out, Prefetch(self._frames(request)) as frames:
                for frame in frames:
                    write_csv(frame, out)
                    rows += len(frame)
            targets, sets = [], []
            for i, c in enumerate(schema.columns):
                if c.type == "binary":
                    targets.append(f"@v{i}")
                    sets.append(f"{quote(c.name)} = unhex(@v{i})")
                else:
                    targets.append(quote(c.name))
            sql = (
                f"load data local infile %s into table {self._name(request.ref, stage)} "
                "character set utf8mb4 fields terminated by ',' optionally enclosed by '\"' "
                f"escaped by '' lines terminated by '\\n' ({', '.join(targets)})"
            )
            if sets:
                sql += " set " + ", ".join(sets)
            cur.execute(sql, (path,))
            self._raise_warnings(cur)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
        if progress is not None:
            progress(rows)
        return rows

    def _raise_warnings(self, cur: Any, offset: int = 0) -> None:
        """LOCAL loads turn bad values into warnings: any warning fails the load."""
        cur.execute("show warnings limit 1")
        row = cur.fetchone()
        if row and str(row[0]).lower() in ("warning", "error"):
            raise pymysql.err.DataError(int(row[1]), str(row[2]))

    def _insert_rows(
        self, cur: Any, request: PublishRequest, stage: str, progress: Progress | None
    ) -> int:
        schema = request.results.schema
        head = (
            f"insert into {self._name(request.ref, stage)} "
            f"({', '.join(quote(n) for n in schema.names)}) values "
        )
        conn = cur.connection
        rows = 0
        for frame in self._frames(request):
            prepared = mysql_frame(frame)
            binary = [c.type == "binary" for c in schema.columns]
            batch: list[str] = []
            size, first = 0, rows
            for values in prepared.iter_rows():
                row = (
                    "("
                    + ", ".join(
                        f"unhex({conn.escape(v)})" if b and v is not None else conn.escape(v)
                        for v, b in zip(values, binary, strict=True)
                    )
                    + ")"
                )
                batch.append(row)
                size += len(row)
                rows += 1
                if size >= INSERT_BYTES:
                    self._insert_batch(cur, head, batch, first)
                    batch, size, first = [], 0, rows
            if batch:
                self._insert_batch(cur, head, batch, first)
            if progress is not None:
                progress(rows)
        return rows

    def _insert_batch(self, cur: Any, head: str, batch: list[str], first: int) -> None:
        try:
            cur.execute(head + ", ".join(batch))
        except pymysql.MySQLError as exc:
            m = _ROW.search(str(exc))
            if m and exc.args and isinstance(exc.args[0], int):
                text = _ROW.sub(f"at row {first + int(m.group(1))}", str(exc.args[1]))
                raise type(exc)(exc.args[0], text) from None
            raise

    def _ensure_unique(self, cur: Any, request: PublishRequest) -> None:
        ref, key = request.ref, sorted(request.key)
        cur.execute(
            "select INDEX_NAME, group_concat(COLUMN_NAME order by SEQ_IN_INDEX separator '\\0') "
            "from information_schema.STATISTICS where TABLE_SCHEMA = %s and TABLE_NAME = %s "
            "and NON_UNIQUE = 0 group by INDEX_NAME",
            (self._database(ref), ref.table),
        )
        if any(sorted(str(cols).split("\0")) == key for _, cols in cur.fetchall()):
            return
        index = common.staging_name("key", ref.table, "", NAME_LIMIT)
        cur.execute(
            f"alter table {self._name(ref)} add unique key {quote(index)} "
            f"({', '.join(quote(k) for k in request.key)})"
        )

    def _describe_one(self, cur: Any, ref: TableRef) -> TableInfo | None:
        cur.execute(self._CATALOG, (self._database(ref), (ref.table,)))
        cols = [ColumnInfo(n, normalise_type(t), bool(nl)) for _, n, t, nl, _, _ in cur.fetchall()]
        return TableInfo(ref, tuple(cols), -1, True) if cols else None

    def _count(self, cur: Any, ref: TableRef) -> int:
        cur.execute(f"select count(*) from {self._name(ref)}")
        return int(cur.fetchone()[0])

    def _drop_leftovers(self, cur: Any, ref: TableRef) -> None:
        (stg, size), (old, _) = (
            common.staging_prefix(k, ref.table, NAME_LIMIT) for k in ("stg", "old")
        )
        cur.execute(
            "select TABLE_NAME from information_schema.TABLES where TABLE_SCHEMA = %s "
            "and char_length(TABLE_NAME) = %s "
            "and (left(TABLE_NAME, %s) = %s or left(TABLE_NAME, %s) = %s)",
            (self._database(ref), size, len(stg), stg, len(old), old),
        )
        for (name,) in cur.fetchall():
            cur.execute(f"drop table if exists {self._name(ref, name)}")

    # -- ledger -------------------------------------------------------------------------

    def _ensure_ledger(self, cur: Any, ref: TableRef) -> None:
        cur.execute(_ledger.create_sql(self._name(ref, LEDGER_TABLE), _LEDGER))

    def _ledger_rows(self, cur: Any, request: PublishRequest) -> int | None:
        cur.execute(
            _ledger.select_sql(self._name(request.ref, LEDGER_TABLE), _LEDGER),
            _ledger.lookup(request),
        )
        row = cur.fetchone()
        return int(row[0]) if row else None

    def _write_ledger(
        self, cur: Any, request: PublishRequest, rows: int, *, transaction: bool = False
    ) -> None:
        """Replace the table's ledger row: in the caller's transaction, or (after a
        RENAME, which commits) in one of its own."""
        statement = _ledger.upsert_sql_mysql(self._name(request.ref, LEDGER_TABLE), _LEDGER)
        if not transaction:
            cur.execute(statement, _ledger.values(request, rows))
            return
        for attempt in range(1, 6):  # its own transaction: safe to retry a deadlock victim
            cur.connection.begin()
            try:
                cur.execute(statement, _ledger.values(request, rows))
                cur.connection.commit()
                return
            except pymysql.MySQLError as exc:
                with contextlib.suppress(pymysql.MySQLError):
                    cur.connection.rollback()
                if exc.args[0] != _DEADLOCK or attempt == 5:
                    raise
                time.sleep(0.05 * attempt)

    # -- errors -------------------------------------------------------------------------

    def _load_error(self, request: PublishRequest, exc: pymysql.MySQLError) -> TargetError:
        text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        row, col = _ROW.search(text), _COLUMN.search(text)
        if row is None:  # a column is named only with its row
            return common.load_error(self.connection, request, text)
        column = col.group(1) if col else None
        return common.load_error(self.connection, request, text, int(row.group(1)), column)
