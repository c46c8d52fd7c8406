"""Plan-time checks of the results against an existing table's constraints.

A load into a table that exists (every action but dropAndLoad, which recreates it) fails
at apply when the results hold NULL in a NOT NULL column or repeat the table's primary
key (the upsert's own key is checked in :mod:`runner.plan.upsert_keys`). The plan knows
the rows already: it names the column, the value and the rows instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from runner.plan.upsert_keys import ROW, null_rows, repeats
from runner.targets.base import TableInfo


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
    pk = list(info.primary_key)
    if action != "upsert" and pk and all(k in names for k in pk):
        found = repeats(rows, pk)
        if found:
            problems.append(
                f"{address}: the primary key ({', '.join(pk)}) of {info.ref} repeats in the "
                f"results: {found}; keep one row per key in the recipe, or publish with "
                "dropAndLoad to recreate the table without it"
            )
    return problems
