"""Plan-time checks of the results against an existing table's constraints.

A load into a table that exists (every action but dropAndLoad, which recreates it) fails
at apply when the results hold NULL in a NOT NULL column or repeat the table's primary
key or one of its unique keys (the upsert's own key is checked in
:mod:`runner.plan.upsert_keys`), and an append fails when it brings a key the table
already holds (:mod:`runner.rowdiff.clash`). The plan knows the rows already: it names
the column, the value and the rows instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from runner.plan.upsert_keys import ROW, key_value, null_rows, repeats
from runner.results import ResultSet
from runner.rowdiff.clash import clash, unique_keys
from runner.rowdiff.staging import LOC
from runner.targets.base import TableInfo, TableTarget


def constraint_problems(
    address: str, action: str, key: Sequence[str], info: TableInfo | None, frame: pl.LazyFrame
) -> list[str]:
    """What in the results the existing table ``info`` refuses, or nothing."""
    if info is None or action == "dropAndLoad":
        return []
    names = set(frame.collect_schema().names())
    checked = set(key) if action == "upsert" else set()  # reported as the upsert key's
    rows = frame.with_row_index(ROW, offset=1)
    problems: list[str] = []
    for col in info.columns:
        if col.nullable or col.name not in names or col.name in checked:
            continue
        found = null_rows(rows, col.name)
        if found:
            problems.append(
                f"{address}: column {col.name!r} of {info.ref} is NOT NULL, and the results "
                f"hold null in it in {found}; fill it in the recipe, or publish with "
                "dropAndLoad to recreate the table"
            )
    if action == "upsert":
        return problems
    for unique in unique_keys(info, list(names)):
        found = repeats(rows, list(unique))
        if found:
            what = _what(info, unique)
            problems.append(
                f"{address}: the {what} ({', '.join(unique)}) of {info.ref} repeats in the "
                f"results: {found}; keep one row per key in the recipe, or publish with "
                "dropAndLoad to recreate the table without it"
            )
    return problems


def append_problems(
    address: str, action: str, info: TableInfo | None, results: ResultSet, target: TableTarget
) -> list[str]:
    """Incoming keys an append brings that the existing table already holds."""
    if info is None or not info.rows or action not in ("load", "createAndLoad"):
        return []
    problems = []
    for unique in unique_keys(info, results.schema.names):
        hits = clash(results, target, info, unique)
        if hits is None:
            continue
        what = _what(info, unique)
        names = ", ".join(unique)
        rows = ", ".join(str(r + 1) for r in hits[LOC].head(5).to_list())
        more = f" and {hits.height - 5:,} more" if hits.height > 5 else ""
        problems.append(
            f"{address}: {info.ref} already holds rows under its {what} ({names}): "
            f"{hits.height:,} result row(s) hold a value of ({names}) that the table already "
            f"holds, such as {key_value(hits.row(0, named=True), unique)} (result row(s) "
            f"{rows}{more}); {action} appends, so apply would fail. Leave those rows out in "
            f"the recipe, or publish with upsert (key: [{names}]) to update them"
        )
    return problems


def _what(info: TableInfo, unique: tuple[str, ...]) -> str:
    return "primary key" if unique == info.primary_key else "unique key"
