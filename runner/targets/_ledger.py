"""The ledger table ``_publish_ledger``: its columns and the statements on it.

One row per target and table: the run whose results the table holds now, keyed on
``(target, table_name)``. Publishing replaces the row in the same transaction as the
data, so "already published" means exactly "this table holds this run": a renamed
table, another environment or a reverted input never matches an older row.
Every target writes the same columns; a :class:`Dialect` says how its database spells
a bounded string, the row count, the timestamp, a quoted name and a bind marker. The
statements take the ledger's name as it should appear in SQL (already quoted), or
``{}`` for a target that composes it afterwards (psycopg's ``sql.SQL.format``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from runner.targets.base import PublishRequest

#: the string columns and their widths, in table order; then ``rows`` and published_at
_STRINGS = (("run_id", 200), ("target", 200), ("table_name", 255), ("action", 32))
COLUMNS = (*(name for name, _ in _STRINGS), "rows")


def _bare(name: str) -> str:
    return name


@dataclass(frozen=True)
class Dialect:
    text: Callable[[int], str]  #: a string column of at most N characters
    count: str  #: the type of ``rows``
    published_at: str  #: the whole definition of ``published_at`` after its name
    mark: str  #: a bind parameter
    quote: Callable[[str], str] = _bare  #: a column name as the statements spell it
    suffix: str = ""  #: after the closing parenthesis of CREATE TABLE


def create_sql(table: str, d: Dialect) -> str:
    cols = [f"{d.quote(name)} {d.text(width)} not null" for name, width in _STRINGS]
    cols.append(f"{d.quote('rows')} {d.count} not null")
    cols.append(f"{d.quote('published_at')} {d.published_at}")
    return (
        f"create table if not exists {table} ({', '.join(cols)}, "
        f"primary key ({d.quote('target')}, {d.quote('table_name')})){d.suffix}"
    )


def select_sql(table: str, d: Dialect) -> str:
    """The ``rows`` of the table's current publish when it is this run; bound to :func:`lookup`."""
    return (
        f"select {d.quote('rows')} from {table} "
        f"where {d.quote('target')} = {d.mark} and {d.quote('table_name')} = {d.mark} "
        f"and {d.quote('run_id')} = {d.mark}"
    )


def delete_sql(table: str, d: Dialect) -> str:
    """Forget the table's previous publish; bound to :func:`current`. Run before the insert."""
    return (
        f"delete from {table} "
        f"where {d.quote('target')} = {d.mark} and {d.quote('table_name')} = {d.mark}"
    )


def insert_sql(table: str, d: Dialect, extra: Sequence[str] = ()) -> str:
    """An insert of :data:`COLUMNS` (and ``extra`` after them), bound to :func:`values`."""
    names = (*COLUMNS, *extra)
    return (
        f"insert into {table} ({', '.join(map(d.quote, names))}) "
        f"values ({', '.join([d.mark] * len(names))})"
    )


def values(request: PublishRequest, rows: int, table_name: str | None = None) -> tuple[object, ...]:
    """The bind values of :func:`insert_sql`; ``table_name`` defaults to the full ref."""
    name = str(request.ref) if table_name is None else table_name
    return (request.run_id, request.target, name, request.action, rows)


def lookup(request: PublishRequest, table_name: str | None = None) -> tuple[str, str, str]:
    """The bind values of :func:`select_sql`; ``table_name`` defaults to the full ref."""
    name = str(request.ref) if table_name is None else table_name
    return (request.target, name, request.run_id)


def current(request: PublishRequest, table_name: str | None = None) -> tuple[str, str]:
    """The bind values of :func:`delete_sql`."""
    name = str(request.ref) if table_name is None else table_name
    return (request.target, name)


def upsert_sql_mysql(table: str, d: Dialect) -> str:
    """MySQL/MariaDB: replace the table's row in one statement (``delete`` + ``insert`` in
    parallel transactions deadlocks on InnoDB's gap locks); bound to :func:`values`."""
    names = [d.quote(n) for n in COLUMNS]
    updates = ", ".join(
        f"{n} = values({n})" for n in names if n not in (d.quote("target"), d.quote("table_name"))
    )
    return (
        f"insert into {table} ({', '.join(names)}) values ({', '.join([d.mark] * len(names))}) "
        f"on duplicate key update {updates}, {d.quote('published_at')} = current_timestamp(6)"
    )
