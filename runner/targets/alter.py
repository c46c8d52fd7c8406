"""``onSchemaChange``: the schema diff of results and table, and the ALTER statements.

The planner shows the statements; the publish sequence (:mod:`runner.targets.skeleton`)
computes them again from the table it sees in its session and runs them before the load.

- ``fail`` (the default): any difference is a plan error (nothing here runs).
- ``appendNewColumns``: result columns the table lacks are added (nullable); columns the
  results lack stay and get NULL in new rows (so they must be nullable); a retyped column
  is refused.
- ``syncAllColumns``: also drops the columns the results lack and retypes columns
  (both destructive).
"""

from __future__ import annotations

from typing import Literal, Protocol

from runner.errors import TargetError
from runner.plan.model import SchemaChange
from runner.results import ResultSchema
from runner.targets.base import ColumnInfo, TableInfo
from runner.targets.dialect import Dialect

OnSchemaChange = Literal["fail", "appendNewColumns", "syncAllColumns"]
ON_SCHEMA_CHANGE: tuple[str, ...] = ("fail", "appendNewColumns", "syncAllColumns")
#: vendors whose DDL commits implicitly (not atomic with the load)
IMPLICIT_DDL_COMMIT: frozenset[str] = frozenset({"mysql"})


class Types(Protocol):
    """What the diff asks of a target: its column types."""

    def sql_type(self, logical: str) -> str: ...

    def type_matches(self, column: ColumnInfo, logical: str) -> bool: ...


class SchemaChangeRefused(TargetError):
    """The table's columns cannot be changed as ``onSchemaChange`` asks."""


def schema_diff(results: ResultSchema, table: TableInfo, target: Types) -> tuple[SchemaChange, ...]:
    """Columns added (only in the results), removed (only in the table) and retyped."""
    changes: list[SchemaChange] = []
    for col in results.columns:
        existing = table.column(col.name)
        wanted = target.sql_type(col.type)
        if existing is None:
            changes.append(SchemaChange(col.name, "added", None, wanted, "additive"))
        elif not target.type_matches(existing, col.type):
            changes.append(
                SchemaChange(col.name, "retyped", existing.sql_type, wanted, "destructive")
            )
    names = set(results.names)
    for existing in table.columns:
        if existing.name not in names:
            changes.append(
                SchemaChange(existing.name, "removed", existing.sql_type, None, "destructive")
            )
    return tuple(changes)


def _retype(dialect: Dialect, table_sql: str, change: SchemaChange) -> str:
    col, typ = dialect.quote(change.column), change.to_type
    if dialect.vendor == "postgres":
        return f"ALTER TABLE {table_sql} ALTER COLUMN {col} TYPE {typ} USING {col}::{typ}"
    if dialect.vendor == "mysql":
        return f"ALTER TABLE {table_sql} MODIFY COLUMN {col} {typ}"
    raise SchemaChangeRefused(
        f"onSchemaChange syncAllColumns cannot retype column {change.column!r} "
        f"({change.from_type} -> {typ}): {dialect.title or dialect.vendor} has no ALTER COLUMN "
        "TYPE for it; use dropAndLoad to recreate the table"
    )


def alter_statements(
    dialect: Dialect,
    table_sql: str,
    table: TableInfo,
    diff: tuple[SchemaChange, ...],
    mode: str,
) -> tuple[str, ...]:
    """The ALTER statements ``mode`` runs for ``diff`` (in order), or SchemaChangeRefused."""
    if mode == "fail" or not diff:
        return ()
    out: list[str] = []
    for change in diff:
        col = dialect.quote(change.column)
        if change.change == "added":
            out.append(f"ALTER TABLE {table_sql} ADD COLUMN {col} {change.to_type}")
        elif change.change == "retyped":
            if mode != "syncAllColumns":
                raise SchemaChangeRefused(
                    f"column {change.column!r} is {change.from_type} in the table, "
                    f"{change.to_type} in the results, and onSchemaChange appendNewColumns "
                    "never retypes a column: change the recipe, use syncAllColumns or dropAndLoad"
                )
            out.append(_retype(dialect, table_sql, change))
        elif mode == "syncAllColumns":
            out.append(f"ALTER TABLE {table_sql} DROP COLUMN {col}")
        else:
            have = table.column(change.column)
            if have is not None and not have.nullable:
                raise SchemaChangeRefused(
                    f"column {change.column!r} is NOT NULL and not in the results, so "
                    "onSchemaChange appendNewColumns cannot fill it with NULL in new rows: "
                    "make it nullable, add it to the recipe, or use syncAllColumns to drop it"
                )
    return tuple(out)


def destructive(diff: tuple[SchemaChange, ...], mode: str) -> bool:
    """Whether running ``mode`` for ``diff`` loses values (drops or retypes columns)."""
    return mode == "syncAllColumns" and any(d.change != "added" for d in diff)
