"""What a publish will do to a table: schema diffs, plan errors and consequences.

The diff compares the columns the results carry (logical types) with the columns the
table has now (as the database spells them). It ignores column order, defaults,
constraints other than the key, and comments: only names and types decide.
"""

from __future__ import annotations

from dataclasses import dataclass

from runner.plan.model import SchemaChange
from runner.results import ResultSchema
from runner.targets.alter import (
    IMPLICIT_DDL_COMMIT,
    SchemaChangeRefused,
    alter_statements,
    destructive,
    schema_diff,
)
from runner.targets.base import TableInfo, TableTarget
from runner.targets.skeleton import TableTargetBase

__all__ = ["Outcome", "describe_diff", "outcome", "schema_diff"]


def describe_diff(diff: tuple[SchemaChange, ...]) -> str:
    parts = []
    for d in diff:
        if d.change == "added":
            parts.append(f"{d.column} is not in the table")
        elif d.change == "removed":
            parts.append(f"{d.column} is not in the results")
        else:
            parts.append(f"{d.column} is {d.from_type} in the table, {d.to_type} in the results")
    return "; ".join(parts)


@dataclass(frozen=True)
class Outcome:
    """What one publication would do, or why it cannot."""

    consequence: str
    destructive: bool
    diff: tuple[SchemaChange, ...] = ()
    error: str | None = None
    #: the target's field the error is about (its spec position is shown)
    error_field: str = "action"
    #: onSchemaChange: the ALTER statements run before the load
    alter: tuple[str, ...] = ()
    #: the rows of the table's ledger row when it holds this run already (apply only
    #: records the publish); None otherwise
    ledger: int | None = None


def _rows(n: int | None, estimated: bool = False) -> str:
    if n is None:
        return "the new run's rows"
    approx = "about " if estimated else ""
    return f"{approx}{n:,} row{'s' if n != 1 else ''}"


def outcome(
    *,
    address: str,
    action: str,
    table_name: str,
    table: TableInfo | None,
    results: ResultSchema | None,
    target: TableTarget | None,
    key: tuple[str, ...],
    incoming: int | None,
    on_schema_change: str = "fail",
) -> Outcome:
    """The consequence of publishing with ``action``, per the table in CONTRACT.md."""
    if results is not None and action == "upsert":
        missing = [k for k in key if k not in results.names]
        if missing:
            return Outcome(
                "",
                False,
                error=(
                    f"{address}: upsert key {', '.join(missing)} is not a column of the results "
                    f"(columns: {', '.join(results.names)}); fix `key`"
                ),
                error_field="key",
            )
    new_rows = _rows(incoming)
    if table is None:
        if action == "load":
            return Outcome(
                "",
                False,
                error=(
                    f"{address}: action load needs an existing table, and {table_name} does not "
                    "exist; use createAndLoad to create it on the first run"
                ),
            )
        return Outcome(f"create table {table_name} and load {new_rows}", False)

    if action == "create" or action == "dropAndLoad" or on_schema_change == "fail":
        return _into_existing(address, action, table_name, table, results, target, key, new_rows)
    return _with_alter(
        address, action, table_name, table, results, target, key, new_rows, on_schema_change
    )


def _with_alter(
    address: str,
    action: str,
    table_name: str,
    table: TableInfo,
    results: ResultSchema | None,
    target: TableTarget | None,
    key: tuple[str, ...],
    new_rows: str,
    mode: str,
) -> Outcome:
    """onSchemaChange appendNewColumns / syncAllColumns: ALTER the table, then publish."""
    diff = schema_diff(results, table, target) if results is not None and target is not None else ()
    if not diff or target is None:
        return _into_existing(address, action, table_name, table, results, target, key, new_rows)
    if not isinstance(target, TableTargetBase):
        return Outcome(
            "", False, diff, error=f"{address}: this target cannot change a table's columns"
        )
    try:
        alter = alter_statements(target.dialect, target.qualified(table.ref), table, diff, mode)
    except SchemaChangeRefused as exc:
        return Outcome("", False, diff, error=f"{address}: {exc}", error_field="onSchemaChange")
    for change in diff:
        refused = change.change == "retyped" and target.retype_problem(
            table.ref, change.column, change.to_type or ""
        )
        if refused:
            error = (
                f"{address}: onSchemaChange {mode} cannot retype column {change.column!r} of "
                f"{table_name} ({change.from_type} -> {change.to_type}): {refused}; change "
                "the recipe, or use dropAndLoad to recreate the table"
            )
            return Outcome("", False, diff, error=error, error_field="onSchemaChange")
    # the columns match once altered: the action's consequence without the diff
    base = _into_existing(address, action, table_name, table, None, target, key, new_rows)
    if base.error:
        return base
    note = ""
    if target.dialect.vendor in IMPLICIT_DDL_COMMIT:
        note = (
            f" ({target.dialect.title or target.dialect.vendor} commits DDL implicitly: the "
            "ALTER statements run before the load and are not undone if it fails)"
        )
    words = f"change the columns of {table_name} ({len(alter)} ALTER statement"
    words += f"{'s' if len(alter) != 1 else ''}{note}), then {base.consequence}"
    return Outcome(words, base.destructive or destructive(diff, mode), diff, alter=alter)


def _into_existing(
    address: str,
    action: str,
    table_name: str,
    table: TableInfo,
    results: ResultSchema | None,
    target: TableTarget | None,
    key: tuple[str, ...],
    new_rows: str,
) -> Outcome:
    """The consequence of publishing into a table that exists."""
    existing = _rows(table.rows, table.rows_estimated)
    diff = schema_diff(results, table, target) if results is not None and target is not None else ()
    if action == "create":
        return Outcome(
            "",
            False,
            error=(
                f"{address}: action create needs a new table, and {table_name} already exists "
                f"({existing}); use createAndLoad, truncateAndLoad or dropAndLoad to publish into "
                "it, or template the table name"
            ),
        )
    if action == "dropAndLoad":
        lossy = any(d.change_class == "destructive" for d in diff)
        return Outcome(
            f"drop {table_name} ({existing}), recreate it from the results' schema and load {new_rows}",
            table.rows > 0 or lossy,
            diff,
        )
    if diff:
        return Outcome(
            "",
            False,
            diff,
            error=(
                f"{address}: the results do not match the columns of {table_name} "
                f"({describe_diff(diff)}); action {action} keeps the table's definition: "
                "change the recipe, or use dropAndLoad to recreate the table"
            ),
        )
    if action == "upsert" and target is not None:
        missing_key = [k for k in key if table.column(k) is None]
        if missing_key:  # pragma: no cover - the diff above already reports it
            return Outcome("", False, error=f"{address}: key {missing_key} not in {table_name}")
    if action in ("load", "createAndLoad"):
        return Outcome(
            f"append {new_rows} to {table_name} ({existing} now); rows already there stay", False
        )
    if action == "truncateAndLoad":
        return Outcome(
            f"replace all {existing} of {table_name} with {new_rows}; keep its definition, "
            "grants and views",
            table.rows > 0,
        )
    # upsert
    return Outcome(
        f"insert new keys and update existing rows by ({', '.join(key)}) in {table_name} "
        f"({existing} now) from {new_rows}; rows no longer in the results stay in the table",
        False,
    )
