"""Plan-time checks of an upsert's key: no NULL, no repeat in the results or the table.

Apply refuses both only after the job ran (PostgreSQL makes the key a NOT NULL primary
key; every vendor writes one row per key, so a repeated key fails the load), and SQLite
would store each NULL-keyed row again on every apply. The plan knows the rows already:
it names the key value and the result rows instead. Values pass through ``redact``.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from runner.spec.model import Target
from runner.spec.secrets import redact
from runner.targets.base import TableInfo

#: the column of result row numbers (from 1) the checks add
ROW = "__publish_row"


def _rows(numbers: Sequence[int], total: int) -> str:
    shown = ", ".join(str(n) for n in numbers)
    return ("row " if total == 1 else "rows ") + (
        f"{shown}, ..." if total > len(numbers) else shown
    )


def key_value(row: dict[str, object], cols: Sequence[str]) -> str:
    """``k=1, c='a'``: a key's value as the checks show it (redacted)."""
    return ", ".join(f"{c}={redact(repr(row[c]))}" for c in cols)


def null_rows(rows: pl.LazyFrame, col: str) -> str:
    """``N result row(s) (rows a, b, ...)`` where ``col`` is null, or ""."""
    nulls = rows.filter(pl.col(col).is_null()).select(ROW).collect()[ROW]
    if not len(nulls):
        return ""
    return f"{len(nulls):,} result row(s) ({_rows(nulls.head(5).to_list(), len(nulls))})"


def repeats(rows: pl.LazyFrame, cols: list[str]) -> str:
    """``N key value(s) on more than one row, such as k=1 in rows a, b``, or ""."""
    repeated = (
        rows.select(*cols, ROW)
        .drop_nulls(cols)
        .group_by(cols)
        .agg(pl.col(ROW).sort(), pl.len().alias("__n"))
        .filter(pl.col("__n") > 1)
        .sort(pl.col(ROW).list.first())
        .collect()
    )
    if not repeated.height:
        return ""
    first = repeated.row(0, named=True)
    value = key_value(first, cols)
    at = first[ROW]
    return (
        f"{repeated.height:,} key value(s) on more than one row, such as {value} in "
        f"{_rows(at[:5], len(at))}"
    )


def key_problems(address: str, key: Sequence[str], frame: pl.LazyFrame) -> list[str]:
    """What stops the results in ``frame`` from being upserted by ``key``."""
    names = frame.collect_schema().names()
    cols = [k for k in key if k in names]  # a key column the results lack is reported apart
    if not cols:
        return []
    rows = frame.select(cols).with_row_index(ROW, offset=1)
    problems: list[str] = []
    for col in cols:
        found = null_rows(rows, col)
        if found:
            problems.append(
                f"{address}: upsert key column {col!r} is null in {found}; a key identifies "
                "one row and NULL matches none: filter those rows out in the recipe, or "
                "choose another key"
            )
    found = repeats(rows, cols)
    if found:
        problems.append(
            f"{address}: upsert key ({', '.join(cols)}) repeats in the results: {found}; an "
            "upsert writes one row per key: keep one row per key in the recipe, or choose a "
            "key that is unique"
        )
    return problems


def upsert_table_problem(target: Target, info: TableInfo | None) -> str:
    """The key repeats in the table: apply's unique index on it cannot be created."""
    where = f" {info.ref}" if info is not None else ""
    return (
        f"{target.address}: upsert key ({', '.join(target.key)}) repeats in the table{where}, "
        "and an upsert needs it unique there (apply creates a unique index on it): remove "
        "the repeated rows from the table, publish once with dropAndLoad, or choose another key"
    )
