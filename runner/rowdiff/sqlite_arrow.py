"""A SQLite table's rows as Arrow batches through the ADBC SQLite driver (C, no JSON).

The driver builds Arrow columns from ``sqlite3_column_*`` values, about 3x less CPU
than SQLite writing JSON arrays and polars decoding them. It infers each column's type
from its first batch and refuses a later value of another storage class ("Type
mismatch") rather than converting it: such a table (SQLite's dynamic typing) is read
again through :mod:`runner.rowdiff.sqlite_rows`. Integers of a float or decimal column
are cast to REAL in SQL (NUMERIC affinity stores 2.00 as the integer 2), exactly;
anything else stays as stored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from runner.results import decimal_of
from runner.rowdiff import canon
from runner.rowdiff.staging import LOC
from runner.targets._prefetch import Prefetch
from runner.targets.base import TableRef

Columns = Sequence[tuple[str, str]]


class ReadAgain(Exception):
    """The driver refused a value after batches were already handed out."""


def _driver() -> Any | None:
    """The driver's low-level API (its DB-API module imports pandas when installed)."""
    try:
        import adbc_driver_manager
        import adbc_driver_sqlite
    except ImportError:
        return None
    return adbc_driver_sqlite, adbc_driver_manager


def available() -> bool:
    return _driver() is not None


def _pick(quoted: str, logical: str) -> str:
    if logical in ("float32", "float64") or decimal_of(logical) is not None:
        return (
            f"CASE WHEN typeof({quoted}) = 'integer' THEN CAST({quoted} AS REAL) ELSE {quoted} END"
        )
    return quoted


def _expr(name: str, logical: str) -> pl.Expr:
    """A column as the driver returns it (int64, double, string, binary), canonical."""
    col = pl.col(name)
    if logical == "boolean":
        return (col.cast(pl.Int64, strict=False) != 0).alias(name)
    if logical == "binary":
        return col.cast(pl.Binary, strict=False).alias(name)
    return col.cast(canon.vendor_dtype(logical, "sqlite"), strict=False).alias(name)


def _batches(path: Path, ref: TableRef, columns: Columns, batch_rows: int) -> Iterator[Any]:
    import pyarrow as pa

    from runner.rowdiff.sqlite_rows import quote

    found = _driver()
    assert found is not None
    sqlite, manager = found
    picks = ", ".join(f"{_pick(quote(n), t)} AS {quote(n)}" for n, t in columns)
    query = f"SELECT rowid AS {quote(LOC)}, {picks} FROM {quote(ref.table)} ORDER BY rowid"
    with contextlib.ExitStack() as stack:
        database = stack.enter_context(sqlite.connect(f"{path.resolve().as_uri()}?mode=ro"))
        conn = stack.enter_context(manager.AdbcConnection(database))
        statement = stack.enter_context(manager.AdbcStatement(conn))
        statement.set_options(**{"adbc.sqlite.query.batch_rows": str(batch_rows)})
        statement.set_sql_query(query)
        stream, _ = statement.execute_query()
        reader = stack.enter_context(pa.RecordBatchReader._import_from_c(stream.address))
        yield from reader


def frames(path: Path, ref: TableRef, columns: Columns, batch_rows: int) -> Iterator[pl.DataFrame]:
    """The table's rows, canonical, with their rowid in :data:`LOC`.

    Raises OSError (or the driver's error) before the first frame when the driver cannot
    read the table at all, :class:`ReadAgain` when it refuses a value later.
    """
    exprs = [pl.col(LOC).cast(pl.Int64), *(_expr(n, t) for n, t in columns)]
    handed = False
    try:
        with Prefetch(
            _batches(path, ref, columns, batch_rows), depth=1, name="diff-read"
        ) as batches:
            for batch in batches:
                frame = pl.DataFrame(pl.from_arrow(batch))
                handed = True
                yield frame.select(exprs)
    except Exception as exc:
        if handed and not isinstance(exc, ReadAgain):
            raise ReadAgain(str(exc)) from exc
        raise
