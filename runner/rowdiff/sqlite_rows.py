"""A SQLite table's rows for a diff, canonical, each with its rowid as locator.

A read-only connection of its own in a worker thread builds one JSON array per column
and batch (``json_group_array``, C speed, without the GIL), decoded by polars while the
next batch is read. Tables WITHOUT ROWID are read through the cursor (no locator).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from runner.errors import TargetError
from runner.rowdiff import canon, sqlite_arrow
from runner.rowdiff.staging import LOC
from runner.targets._prefetch import Prefetch
from runner.targets.base import TableRef

#: (column name, logical type of the results' column)
Columns = Sequence[tuple[str, str]]
log = logging.getLogger(__name__)


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _open(path: Path, ref: TableRef) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30, isolation_level=None
        )
        conn.execute("BEGIN")  # one snapshot for every batch
    except sqlite3.Error as exc:
        raise TargetError(f"{ref}: cannot open {path} to compare rows: {exc}") from None
    return conn


def _query(ref: TableRef, columns: Columns, where: str) -> str:
    picks = ", ".join(f"json_group_array({canon.sqlite_pick(quote(n), t)})" for n, t in columns)
    inner = ", ".join(quote(n) for n, _ in columns)
    return (
        f"SELECT json_group_array(rowid), {picks}, max(rowid), count(*) FROM (SELECT rowid, "
        f"{inner} FROM {quote(ref.table)} WHERE {where})"
    )


def _batches(
    path: Path, ref: TableRef, columns: Columns, batch_rows: int
) -> Iterator[tuple[Any, ...]]:
    """Batches of ``(rowids, json array per column..., max rowid, count)``, paged by rowid."""
    query = _query(ref, columns, "rowid > ? ORDER BY rowid LIMIT ?")
    conn = _open(path, ref)
    try:
        last = -(2**63)
        while True:
            row = conn.execute(query, (last, batch_rows)).fetchone()
            if not row[-1]:
                return
            last = row[-2]
            yield row
    finally:
        conn.close()


def _decode_json(name: str, text: str, dtype: pl.DataType) -> pl.Series:
    series = pl.Series(name, [text])
    try:
        return series.str.json_decode(pl.List(dtype)).explode()
    except pl.exceptions.PolarsError:  # a value of another kind: read as text, then cast
        return series.str.json_decode(pl.List(pl.String)).explode()


def _frame(columns: Columns, row: Sequence[Any], exprs: list[pl.Expr]) -> pl.DataFrame:
    names = [LOC, *(n for n, _ in columns)]
    dtypes = [pl.Int64(), *(canon.sqlite_json_dtype(t) for _, t in columns)]
    texts = pl.DataFrame(
        [pl.Series(n, [text], dtype=pl.String) for n, text in zip(names, row, strict=False)]
    )
    try:  # every column at once: polars decodes them in parallel
        decoded = texts.select(
            pl.col(n).str.json_decode(pl.List(d)) for n, d in zip(names, dtypes, strict=True)
        ).explode(names)
    except pl.exceptions.PolarsError:  # a value of another kind somewhere: column by column
        decoded = pl.DataFrame(
            [_decode_json(n, text, d) for n, text, d in zip(names, row, dtypes, strict=False)]
        )
    return decoded.select([pl.col(LOC), *exprs])


def _cursor_frames(
    path: Path, ref: TableRef, columns: Columns, batch_rows: int
) -> Iterator[pl.DataFrame]:
    """Tables WITHOUT ROWID: the cursor's rows, gathered column by column."""
    picks = ", ".join(canon.sqlite_pick(quote(n), t) for n, t in columns)
    conn = _open(path, ref)
    exprs = [canon.sqlite_expr(n, t) for n, t in columns]
    try:
        cur = conn.execute(f"SELECT {picks} FROM {quote(ref.table)}")
        while rows := cur.fetchmany(batch_rows):
            series = [
                pl.Series(n, values, dtype=canon.sqlite_json_dtype(t), strict=False)
                for (n, t), values in zip(columns, zip(*rows, strict=True), strict=True)
            ]
            yield pl.DataFrame(series).select(exprs)
    finally:
        conn.close()


def frames(
    path: Path, ref: TableRef, columns: Columns, batch_rows: int, arrow: bool = True
) -> Iterator[pl.DataFrame]:
    """The table's rows, canonical, with their rowid in :data:`LOC` (not WITHOUT ROWID).

    Through the ADBC driver when ``arrow`` and it reads the table (raising
    :class:`~runner.rowdiff.sqlite_arrow.ReadAgain` when it refuses a value after the
    first batches), else as JSON arrays.
    """
    if not columns:
        return
    if arrow and sqlite_arrow.available():
        try:
            yield from sqlite_arrow.frames(path, ref, columns, batch_rows)
        except sqlite_arrow.ReadAgain:
            raise
        except Exception as exc:  # the driver refused the table: JSON arrays instead
            log.debug("%s: read as JSON arrays (the ADBC driver: %s)", ref, exc)
        else:
            return
    exprs = [canon.sqlite_expr(n, t) for n, t in columns]
    try:
        with Prefetch(_batches(path, ref, columns, batch_rows), name="diff-read") as rows:
            for row in rows:
                yield _frame(columns, row, exprs)
    except sqlite3.OperationalError as exc:
        if "rowid" not in str(exc):
            raise TargetError(f"{ref}: cannot read the table to compare rows: {exc}") from None
        yield from _cursor_frames(path, ref, columns, batch_rows)
    except sqlite3.Error as exc:
        raise TargetError(f"{ref}: cannot read the table to compare rows: {exc}") from None


def rows_at(path: Path, ref: TableRef, columns: Columns, locs: Sequence[int]) -> pl.DataFrame:
    """The rows whose rowid is in ``locs``, canonical, with :data:`LOC`."""
    import json

    query = _query(ref, columns, "rowid IN (SELECT value FROM json_each(?))")
    conn = _open(path, ref)
    try:
        row = conn.execute(query, (json.dumps([int(v) for v in locs]),)).fetchone()
    except sqlite3.Error as exc:
        raise TargetError(f"{ref}: cannot read the table to compare rows: {exc}") from None
    finally:
        conn.close()
    if not row[-1]:
        return pl.DataFrame()
    return _frame(columns, row, [canon.sqlite_expr(n, t) for n, t in columns])
