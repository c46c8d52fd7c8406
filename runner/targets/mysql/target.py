"""MySQL / MariaDB target: LOAD DATA LOCAL INFILE into a staging table, then a swap.

The rows are loaded (:mod:`.load`) into a staging InnoDB table ``_pub_stg_<table>_<hash>``.
A staging table of an existing target is ``CREATE TABLE ... LIKE`` the target, so a value
that does not fit fails while staging, with its row (LOAD DATA counts rows like the
results, from 1), and the target is never touched. ``load`` / ``createAndLoad`` of an
existing table with LOCAL INFILE load straight into the target and write the ledger row
in one InnoDB transaction (any warning rolls it back); so does an upsert that
``LOAD DATA ... REPLACE`` does exactly (:meth:`.SwapPolicy.can_replace`), unless a key may
be repeated in the results (then the staging path fails on it). Otherwise the staged rows are
swapped or merged into place (:mod:`.swap`). Every publish of a table holds ``GET_LOCK``
on its name. Connections: :mod:`.connect`; types: :mod:`.types`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from typing import Any

import pymysql
import pymysql.cursors

from runner.errors import TargetError
from runner.spec.model import Connection
from runner.targets import _common as common
from runner.targets import _ledger, schemas
from runner.targets.base import ColumnInfo, Progress, PublishRequest, TableInfo, TableRef
from runner.targets.mysql.connect import local_infile_allowed, open_connection
from runner.targets.mysql.load import ROW, insert_rows, load_data, rows_pipe
from runner.targets.mysql.swap import CONNECTION_LOST, NAME_LIMIT, SwapPolicy
from runner.targets.mysql.types import DIALECT, mysql_type_matches, normalise_type, quote
from runner.targets.skeleton import TableTargetBase, place

_COLUMN = re.compile(r"column '([^']+)'")
#: the most rows an upsert takes by ``LOAD DATA ... REPLACE`` (16 MB of key hashes)
REPLACE_MAX_ROWS = 2_000_000

#: columns, row estimate, primary key and unique keys (other than the primary key, plain
#: columns only: names joined by \x1f, keys by \x1e) of named tables of one database
_CATALOG = """
    select c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, c.IS_NULLABLE = 'YES',
           coalesce(t.TABLE_ROWS, 0), c.COLUMN_KEY = 'PRI', u.uniq
      from information_schema.COLUMNS c
      join information_schema.TABLES t
        on t.TABLE_SCHEMA = c.TABLE_SCHEMA and t.TABLE_NAME = c.TABLE_NAME
      left join (
        select i.TABLE_NAME, group_concat(i.cols separator '\x1e') as uniq
          from (select s.TABLE_NAME,
                       group_concat(s.COLUMN_NAME order by s.SEQ_IN_INDEX separator '\x1f')
                         as cols
                  from information_schema.STATISTICS s
                 where s.TABLE_SCHEMA = %s and s.NON_UNIQUE = 0 and s.INDEX_NAME <> 'PRIMARY'
                 group by s.TABLE_NAME, s.INDEX_NAME
                having count(s.COLUMN_NAME) = count(*)) i
         group by i.TABLE_NAME) u
        on u.TABLE_NAME = c.TABLE_NAME
     where c.TABLE_SCHEMA = %s and c.TABLE_NAME in %s
     order by c.TABLE_NAME, c.ORDINAL_POSITION
"""


class PublishCursor(pymysql.cursors.Cursor):  # type: ignore[misc]
    """The cursor of one publish, carrying how its rows go into place."""

    #: the staging table, when the rows were staged
    stage: str | None = None
    #: the staging table replaces the table by RENAME (else it is merged)
    swap: bool = False
    #: the table's rows when the database has just reported them: the staging table
    #: renamed into place holds exactly the rows LOAD DATA read into it
    rows_after: int | None = None


class MysqlTarget(TableTargetBase, SwapPolicy, common.PerThreadConnection):
    """A MySQL or MariaDB server reached through one connection of the spec."""

    vendor = "mysql"
    dialect = DIALECT

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
        self.collation = DIALECT.text_collation or "utf8mb4_bin"
        self._init_connections()

    @property
    def conn(self) -> Any:
        if self._conn is None or not self._conn.open:
            try:
                opened = open_connection(
                    self.connection,
                    local_infile=self.local_infile,
                    statement_timeout=self.statement_timeout,
                    connect_timeout=self.connect_timeout,
                )
            except pymysql.MySQLError as exc:
                raise common.driver_error(self.connection, exc, "cannot connect") from None
            self.mariadb, self.collation = opened.mariadb, opened.collation
            if not opened.local_infile:
                self.local_infile = False
            self._conn = opened.conn
        return self._conn

    def type_matches(self, column: ColumnInfo, logical: str) -> bool:
        return mysql_type_matches(column.sql_type, logical)

    # -- describe -----------------------------------------------------------------------

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
        cur.execute(_CATALOG, (db, db, tuple(sorted({r.table for r in refs}))))
        self._counted()
        cols: dict[str, list[ColumnInfo]] = {}
        estimates: dict[str, int] = {}
        pks: dict[str, list[str]] = {}
        unique: dict[str, tuple[tuple[str, ...], ...]] = {}
        for table, name, typ, nullable, rows, pk, uniq in cur.fetchall():
            cols.setdefault(table, []).append(ColumnInfo(name, normalise_type(typ), bool(nullable)))
            estimates[table] = int(rows)
            unique[table] = tuple(tuple(k.split("\x1f")) for k in (uniq or "").split("\x1e") if k)
            if pk:
                pks.setdefault(table, []).append(name)
        small = [t for t, n in estimates.items() if n < common.EXACT_COUNT_LIMIT]
        counts: dict[str, int] = {}
        if small:
            escape = cur.connection.escape  # literals, not parameters: names may hold %
            cur.execute(
                " union all ".join(
                    f"select {escape(t)}, count(*) from {quote(db)}.{quote(t)}" for t in small
                )
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
                unique_keys=unique[ref.table],
            )
            for ref in refs
            if ref.table in cols
        }

    # -- the publish hooks (see runner.targets.skeleton) ---------------------------------

    @contextlib.contextmanager
    def session(self, request: PublishRequest) -> Iterator[PublishCursor]:
        """The table's GET_LOCK; the staging table dropped and the lock released after."""
        conn = self.conn
        cur = conn.cursor(PublishCursor)
        lock = f"publish:{self._database(request.ref)}.{request.ref.table}"[:64]
        try:
            schemas.create_ledger(cur, self, request.ref)  # the database first, unless refused
            cur.execute("select get_lock(%s, %s)", (lock, int(self.statement_timeout)))
            if (cur.fetchone() or (0,))[0] != 1:
                raise TargetError(f"target.{request.target}: {request.ref} is locked by a publish")
            try:
                yield cur
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.rollback()
                raise
            finally:
                with contextlib.suppress(Exception):  # a lost connection: the next publish
                    if cur.stage is not None:  # drops the staging table, the server the lock
                        cur.execute(f"drop table if exists {self._name(request.ref, cur.stage)}")
                    cur.execute("select release_lock(%s)", (lock,))
        except pymysql.MySQLError as exc:
            raise self._load_error(request, exc) from None
        finally:
            with contextlib.suppress(Exception):
                cur.close()

    def table_in(self, cur: Any, ref: TableRef) -> TableInfo | None:
        db = self._database(ref)
        cur.execute(_CATALOG, (db, db, (ref.table,)))
        cols = [ColumnInfo(n, normalise_type(t), bool(nl)) for _, n, t, nl, *_ in cur.fetchall()]
        return TableInfo(ref, tuple(cols), -1, True) if cols else None

    def qualified(self, ref: TableRef, table: str | None = None) -> str:
        return self._name(ref, table)

    def load(
        self,
        cur: PublishCursor,
        request: PublishRequest,
        info: TableInfo | None,
        progress: Progress | None,
    ) -> int:
        # REPLACE keeps an 8-byte hash of each row's key to prove no key repeats: past
        # REPLACE_MAX_ROWS the staging path (whose check runs in the server) keeps the
        # publish's memory flat
        replace = request.results.rows <= REPLACE_MAX_ROWS
        return self._load(cur, request, info, progress, replace=replace)

    def _load(
        self,
        cur: PublishCursor,
        request: PublishRequest,
        info: TableInfo | None,
        progress: Progress | None,
        *,
        replace: bool,
    ) -> int:
        if not self.local_infile:
            return insert_rows(cur, request, self._stage(cur, request, info, False), progress)
        keys = request.key if replace and request.action == "upsert" else ()
        with rows_pipe(request, keys) as pipe:  # reading and encoding from now on
            table = self._stage(cur, request, info, replace)
            replacing = not table and request.action == "upsert"
            loaded, unique = load_data(
                cur, request, table or self._name(request.ref), pipe, replace=replacing
            )
        if not unique:  # a key may be repeated in the results: the staging path tells
            cur.connection.rollback()
            return self._load(cur, request, info, progress, replace=False)
        if progress is not None:
            progress(loaded)
        return loaded

    def _stage(
        self, cur: PublishCursor, request: PublishRequest, info: TableInfo | None, replace: bool
    ) -> str:
        """Where the rows go: ``""`` for straight into the table (in a transaction, with
        the ledger row; an upsert by REPLACE when ``replace`` and :meth:`can_replace`),
        else the staging table, created here (quoted, qualified)."""
        ref, action = request.ref, request.action
        cur.swap = info is None or (
            action in ("truncateAndLoad", "dropAndLoad") and self.can_swap(cur, request)
        )
        self._drop_leftovers(cur, ref)
        if (
            info is not None
            and self.local_infile
            and (
                action in ("load", "createAndLoad")
                or (action == "upsert" and replace and self.can_replace(cur, request, info))
            )
        ):
            cur.connection.begin()
            return ""
        cur.stage = common.staging_name("stg", ref.table, request.run_id, NAME_LIMIT)
        if info is not None and action != "dropAndLoad":
            cur.execute(f"create table {self._name(ref, cur.stage)} like {self._name(ref)}")
        else:
            self._create(cur, ref, cur.stage, request, request.key if action == "upsert" else ())
        return self._name(ref, cur.stage)

    def commit_rows(
        self, cur: PublishCursor, request: PublishRequest, info: TableInfo | None, loaded: int
    ) -> None:
        if cur.stage is None:  # loaded straight into the table in an open transaction
            _ledger.write(cur, self.ledger_name(request.ref), DIALECT.ledger, request, loaded)
            cur.connection.commit()
        elif cur.swap:
            self.swap(cur, request, cur.stage, loaded, replace=info is not None)
            cur.rows_after, cur.stage = loaded, None  # the staging table is the table now
        else:
            self.merge(cur, request, cur.stage, loaded)

    def count_in(self, cur: Any, ref: TableRef) -> int:
        """The swapped-in table's rows as LOAD DATA reported them (a ``count(*)`` of
        millions of rows takes a while), else ``count(*)``."""
        known = getattr(cur, "rows_after", None)
        return int(known) if known is not None else super().count_in(cur, ref)

    def _create(
        self, cur: Any, ref: TableRef, table: str, request: PublishRequest, key: Sequence[str]
    ) -> None:
        defs = [
            f"{quote(c.name)} {DIALECT.key_type(c.type) + ' not null' if c.name in key else DIALECT.sql_type(c.type)}"
            for c in request.results.schema.columns
        ]
        if key:
            defs.append(f"primary key ({', '.join(quote(k) for k in key)})")
        cur.execute(  # text compares exactly as in the results: a binary collation
            f"create table {self._name(ref, table)} ({', '.join(defs)}) "
            f"engine=InnoDB default charset=utf8mb4 collate {self.collation}"
        )

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

    def _load_error(self, request: PublishRequest, exc: pymysql.MySQLError) -> TargetError:
        text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        if (exc.args and exc.args[0] in CONNECTION_LOST) or isinstance(exc, pymysql.InterfaceError):
            self._forget_connection()
            return TargetError(
                f"{common.where(self.connection)}: {place(request)} failed: connection lost "
                f"({text or type(exc).__name__}); the table is unchanged; publish again",
                transient=True,
            )
        transient = common.is_transient(exc)
        row, col = ROW.search(text), _COLUMN.search(text)
        if row is None:  # a column is named only with its row
            return common.load_error(self.connection, request, text, transient=transient)
        column = col.group(1) if col else None
        return common.load_error(
            self.connection, request, text, int(row.group(1)), column, transient=transient
        )
