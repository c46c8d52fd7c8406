"""A PostgreSQL table's rows as Arrow batches through the ADBC PostgreSQL driver.

The driver reads ``COPY ... TO STDOUT (FORMAT binary)`` in C++ straight into Arrow
columns: no Python per row, about a third of the CPU of psycopg's COPY rows parsed as
CSV. Integers, floats, booleans, bytea, dates, times and timestamps come as their Arrow
types (exact); text-like and decimal columns are cast to text in SQL and parsed as the
CSV path parses them (:func:`runner.rowdiff.canon.text_expr`), so a column of another
type than the results' (a uuid, a json, a numeric) compares as its text, as before.
Each row's ctid (as text) is its locator. Without the driver, or when it cannot
connect, :mod:`runner.rowdiff.postgres_rows` reads the table.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import polars as pl

from runner.rowdiff import canon
from runner.rowdiff.staging import LOC
from runner.targets._prefetch import Prefetch
from runner.targets.base import TableRef, TableTarget

Columns = Sequence[tuple[str, str]]
log = logging.getLogger(__name__)
#: logical types read in their binary form (the rest as text)
_NATIVE = frozenset(
    {"int8", "int16", "int32", "int64", "float32", "float64", "boolean", "binary", "date"}
    | {"time", "timestamp", "timestamptz"}
)


def _driver() -> Any | None:
    try:
        import adbc_driver_manager
        import adbc_driver_postgresql
    except ImportError:
        return None
    return adbc_driver_postgresql, adbc_driver_manager


def available() -> bool:
    return _driver() is not None


def _conninfo(target: TableTarget) -> str:
    from psycopg.conninfo import make_conninfo

    kwargs = dict(getattr(target, "_connect_kwargs")())  # noqa: B009
    kwargs.pop("autocommit", None)
    return make_conninfo(**kwargs)


def _query(ref: TableRef, columns: Columns) -> str:
    from psycopg import sql

    table = sql.Identifier(*ref.path, ref.table) if ref.path else sql.Identifier(ref.table)
    picks = []
    for name, logical in columns:
        ident = sql.Identifier(name)
        pick = ident if logical in _NATIVE else sql.SQL("{}::text").format(ident)
        picks.append(sql.SQL("{} AS {}").format(pick, ident))
    return (
        sql.SQL("SELECT ctid::text AS {}, {} FROM {}")
        .format(sql.Identifier(LOC), sql.SQL(", ").join(picks), table)
        .as_string(None)
    )


def _batches(target: TableTarget, ref: TableRef, columns: Columns) -> Iterator[Any]:
    import pyarrow as pa

    found = _driver()
    assert found is not None
    driver, manager = found
    with contextlib.ExitStack() as stack:
        database = stack.enter_context(driver.connect(_conninfo(target)))
        conn = stack.enter_context(manager.AdbcConnection(database))
        statement = stack.enter_context(manager.AdbcStatement(conn))
        statement.set_sql_query(_query(ref, columns))
        stream, _ = statement.execute_query()
        reader = stack.enter_context(pa.RecordBatchReader._import_from_c(stream.address))
        yield from reader


def _expr(name: str, logical: str, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:
        return canon.text_expr(name, logical, vendor="postgres")
    return pl.col(name).cast(canon.canonical_dtype(logical), strict=False).alias(name)


def _loc() -> pl.Expr:
    tid = pl.col(LOC).str.strip_chars("()").str.split_exact(",", 1)
    block = tid.struct.field("field_0").cast(pl.Int64)
    return (block * 65536 + tid.struct.field("field_1").cast(pl.Int64)).alias(LOC)


def frames(target: TableTarget, ref: TableRef, columns: Columns) -> Iterator[pl.DataFrame]:
    """The table's rows, canonical, with their ctid in :data:`LOC`.

    Raises the driver's error before the first frame when it cannot read the table.
    """
    with Prefetch(_batches(target, ref, columns), depth=1, name="diff-read") as batches:
        for batch in batches:
            frame = pl.DataFrame(pl.from_arrow(batch))
            exprs = [_expr(n, t, frame.schema[n]) for n, t in columns]
            yield frame.select(_loc(), *exprs)
