"""The schema (PostgreSQL, Redshift) or database (MySQL) a target's table lives in.

The planner asks :func:`missing` which of the schemas it is about to publish into do not
exist yet, and whether the connection's user may create them, so that a plan shows their
creation as a step of its own (or refuses, with ``createSchemas: false`` on the
connection) and apply never fails on "schema does not exist". At apply,
:func:`create_ledger` creates the schema (``IF NOT EXISTS``, unless the connection says
``createSchemas: false``) and then the ledger, before the first table.
SQLite has no schemas to create: ``main`` always exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from runner.errors import TargetError
from runner.targets import _ledger
from runner.targets.base import TableRef

#: the vendors whose targets live in a schema (or database) publish can create
CREATES = ("postgres", "redshift", "mysql")

_PG_MISSING = """
    select s.name, has_database_privilege(current_database(), 'CREATE')
      from unnest(%s::text[]) as s(name)
     where not exists (select 1 from pg_namespace n where n.nspname = s.name)
"""
_MYSQL_MISSING = "select schema_name from information_schema.schemata where schema_name = %s"


def missing(table: Any, names: Iterable[str]) -> dict[str, bool]:
    """The schemas of ``names`` that do not exist -> whether the user may create them."""
    wanted = sorted(set(names))
    if table.vendor not in CREATES or not wanted:
        return {}
    try:
        with table.conn.cursor() as cur:
            if table.vendor == "mysql":
                found: dict[str, bool] = {}
                for name in wanted:
                    cur.execute(_MYSQL_MISSING, (name,))
                    if cur.fetchone() is None:
                        found[name] = True  # the server says at create if it may not
                return found
            cur.execute(_PG_MISSING, (wanted,))
            return {str(name): bool(may) for name, may in cur.fetchall()}
    except Exception as exc:  # the driver's own errors (psycopg, pymysql)
        raise TargetError(f"{table.connection.address}: cannot list its schemas: {exc}") from None


def create_sql(table: Any, ref: TableRef) -> str | None:
    """``create schema|database if not exists`` for ``ref``'s schema, or None when the
    connection says ``createSchemas: false`` or the vendor has no schemas."""
    if table.vendor not in CREATES or not table.connection.create_schemas or not ref.path:
        return None
    kind = "database" if table.vendor == "mysql" else "schema"
    return f"create {kind} if not exists {table.dialect.quote(ref.path[0])}"


def create_ledger(cur: Any, table: Any, ref: TableRef) -> None:
    """The schema (see :func:`create_sql`), then the ledger table, on ``cur``."""
    statement = create_sql(table, ref)
    if statement is not None:
        cur.execute(statement)
    cur.execute(_ledger.create_sql(table.ledger_name(ref), table.dialect.ledger))
