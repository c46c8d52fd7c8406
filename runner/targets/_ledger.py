"""The ledger table ``_publish_ledger``: its columns and the statements on it.

One row per target and table: the run whose results the table holds now, keyed on
``(target, table_name)``. Publishing replaces the row in the same transaction as the
data, so "already published" means exactly "this table holds this run": a renamed
table, another environment or a reverted input never matches an older row.
Every target writes the same columns; a :class:`LedgerDialect` says how its database
spells a bounded string, the row count, the timestamp, a quoted name and a bind marker.
The statements take the ledger's name as it should appear in SQL (already quoted).
:func:`lookup` and :func:`write` run them on any DB-API cursor.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runner.errors import TargetError

#: the string columns and their widths, in table order; then ``rows`` and published_at
_STRINGS = (("run_id", 200), ("target", 200), ("table_name", 255), ("action", 32))
COLUMNS = (*(name for name, _ in _STRINGS), "rows")


def _bare(name: str) -> str:
    return name


@dataclass(frozen=True)
class LedgerDialect:
    text: Callable[[int], str]  #: a string column of at most N characters
    count: str  #: the type of ``rows``
    published_at: str  #: the whole definition of ``published_at`` after its name
    mark: str  #: a bind parameter
    quote: Callable[[str], str] = _bare  #: a column name as the statements spell it
    suffix: str = ""  #: after the closing parenthesis of CREATE TABLE
    #: ``published_at`` is written by the client (the column has no default)
    client_stamp: bool = False
    #: one ``insert ... on duplicate key update`` instead of ``delete`` + ``insert``
    #: (MySQL: the two in parallel transactions deadlock on InnoDB's gap locks)
    upsert: bool = False
    #: the ledger's ``table_name``: the table alone rather than ``connection.path.table``
    table_only: bool = False


def create_sql(table: str, d: LedgerDialect) -> str:
    cols = [f"{d.quote(name)} {d.text(width)} not null" for name, width in _STRINGS]
    cols.append(f"{d.quote('rows')} {d.count} not null")
    cols.append(f"{d.quote('published_at')} {d.published_at}")
    return (
        f"create table if not exists {table} ({', '.join(cols)}, "
        f"primary key ({d.quote('target')}, {d.quote('table_name')})){d.suffix}"
    )


def _select_sql(table: str, d: LedgerDialect) -> str:
    return (
        f"select {d.quote('rows')} from {table} "
        f"where {d.quote('target')} = {d.mark} and {d.quote('table_name')} = {d.mark} "
        f"and {d.quote('run_id')} = {d.mark}"
    )


def _delete_sql(table: str, d: LedgerDialect) -> str:
    return (
        f"delete from {table} "
        f"where {d.quote('target')} = {d.mark} and {d.quote('table_name')} = {d.mark}"
    )


def _insert_sql(table: str, d: LedgerDialect) -> str:
    names = [*COLUMNS, "published_at"] if d.client_stamp else list(COLUMNS)
    quoted = [d.quote(n) for n in names]
    sql = f"insert into {table} ({', '.join(quoted)}) values ({', '.join([d.mark] * len(names))})"
    if d.upsert:
        keys = (d.quote("target"), d.quote("table_name"))
        updates = ", ".join(f"{n} = values({n})" for n in quoted if n not in keys)
        sql += (
            f" on duplicate key update {updates}, {d.quote('published_at')} = current_timestamp(6)"
        )
    return sql


def _named(table: str, d: LedgerDialect) -> str:
    """The ledger's SQL name where ``%`` would be read as a bind marker (``%s`` drivers)."""
    return table.replace("%", "%%") if d.mark == "%s" else table


def _table_name(request: Any, d: LedgerDialect) -> str:
    return str(request.ref.table if d.table_only else request.ref)


def lookup(cur: Any, table: str, d: LedgerDialect, request: Any) -> int | None:
    """The rows of the table's current publish when it holds ``request``'s run, else None."""
    cur.execute(
        _select_sql(_named(table, d), d), (request.target, _table_name(request, d), request.run_id)
    )
    row = cur.fetchone()
    return int(row[0]) if row else None


def write(cur: Any, table: str, d: LedgerDialect, request: Any, rows: int) -> None:
    """Make ``request``'s run the table's current publish (in the caller's transaction)."""
    name, table = _table_name(request, d), _named(table, d)
    if not d.upsert:
        cur.execute(_delete_sql(table, d), (request.target, name))
    values: tuple[object, ...] = (request.run_id, request.target, name, request.action, rows)
    if d.client_stamp:
        values += (datetime.now(UTC).isoformat(timespec="seconds"),)
    cur.execute(_insert_sql(table, d), values)


def write_alone(
    cur: Any, table: str, d: LedgerDialect, request: Any, rows: int, deadlock: int
) -> None:
    """:func:`write` in a transaction of its own, retrying a deadlock victim (MySQL)."""
    conn = cur.connection
    for attempt in range(1, 6):
        conn.begin()
        try:
            write(cur, table, d, request, rows)
            conn.commit()
            return
        except Exception as exc:
            with contextlib.suppress(Exception):
                conn.rollback()
            code = exc.args[0] if exc.args else None
            if code != deadlock or attempt == 5:
                raise
            time.sleep(0.05 * attempt)


@dataclass(frozen=True)
class Published:
    """A ledger row found at plan: the table holds this run of this target already."""

    target: str
    ref: Any  # runner.targets.base.TableRef
    run_id: str


def published(table: Any, target: str, ref: Any, run_id: str) -> int | None:
    """The rows ``ref``'s ledger records for ``target``'s run ``run_id``, else None.

    What the planner asks so that it says what apply will do: apply finds the same row and
    records the publish without touching the table. Read only; ``table`` is the open
    target (:class:`~runner.targets.skeleton.TableTargetBase`), whose ``describe`` says
    first whether the schema has a ledger at all.
    """
    from runner.targets.base import LEDGER_TABLE, TableRef

    ledger_ref = TableRef(ref.connection, ref.path, LEDGER_TABLE)
    if table.describe([ledger_ref]).get(ledger_ref) is None:
        return None
    try:
        with contextlib.closing(_reading_cursor(table)) as cur:
            return lookup(
                cur, table.ledger_name(ref), table.dialect.ledger, Published(target, ref, run_id)
            )
    except Exception as exc:  # the driver's own error types: sqlite3, psycopg, pymysql
        raise TargetError(f"{ref}: cannot read the ledger {LEDGER_TABLE}: {exc}") from None


def _reading_cursor(table: Any) -> Any:
    """A cursor that only reads: SQLite's own read-only connection, else the target's."""
    if table.vendor == "sqlite":
        import sqlite3

        conn = sqlite3.connect(f"{table.path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        return _ClosingCursor(conn)
    return table.conn.cursor()


class _ClosingCursor:
    """A SQLite cursor that closes its connection with it."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._cur = conn.cursor()

    def execute(self, *args: Any) -> Any:
        return self._cur.execute(*args)

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def close(self) -> None:
        self._cur.close()
        self._conn.close()
