"""Stream a table's rows in the canonical form of :mod:`runner.rowdiff.canon`.

Each vendor's fastest read path, never writing anything:

- SQLite (:mod:`runner.rowdiff.sqlite_rows`): JSON arrays built by SQLite in a worker
  thread, each row with its rowid as locator;
- PostgreSQL (:mod:`runner.rowdiff.postgres_rows`): ``COPY ... TO STDOUT (FORMAT csv)``
  parsed by polars in a worker thread, each row with its ctid as locator;
- MySQL/MariaDB: an unbuffered cursor over ``CAST(... AS CHAR)`` (``HEX`` for binary),
  without locator.

Frames come in batches of at most ``batch_rows`` rows with the compared columns only,
plus :data:`runner.rowdiff.staging.LOC` when the rows can be read again by locator
(:func:`rows_at`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from runner.errors import TargetError
from runner.rowdiff import canon, postgres_arrow, postgres_rows, sqlite_rows
from runner.rowdiff.sqlite_arrow import ReadAgain
from runner.targets.base import TableRef, TableTarget

#: rows per frame read from a table
BATCH_ROWS = 25_000  # peak memory follows the batch; fewer rows cost no more CPU
#: (column name, logical type of the results' column)
Columns = Sequence[tuple[str, str]]
log = logging.getLogger(__name__)


def supports(target: TableTarget) -> bool:
    """Whether rows of this target's tables can be read for a diff."""
    return target.vendor in ("sqlite", "postgres", "mysql")


def table_frames(
    target: TableTarget,
    ref: TableRef,
    columns: Columns,
    batch_rows: int | None = None,
    *,
    arrow: bool = True,
) -> Iterator[pl.DataFrame]:
    """The table's rows, canonical, in batches (of :data:`BATCH_ROWS` unless told).

    SQLite: through Arrow when ``arrow`` (see :mod:`runner.rowdiff.sqlite_arrow`; it
    raises ``ReadAgain`` when a value of another type shows up after the first frames:
    read the table again with ``arrow=False``).
    """
    batch_rows = batch_rows or BATCH_ROWS
    if target.vendor == "sqlite":
        path = _sqlite_path(target)
        yield from sqlite_rows.frames(path, ref, columns, batch_rows, arrow=arrow)
    elif target.vendor == "postgres":
        yield from _postgres_frames(target, ref, columns, batch_rows, arrow=arrow)
    elif target.vendor == "mysql":
        yield from _mysql_frames(target, ref, columns, batch_rows)
    else:
        raise TargetError(f"{ref}: a row-level diff cannot read {target.vendor} tables")


def _postgres_frames(
    target: TableTarget, ref: TableRef, columns: Columns, batch_rows: int, *, arrow: bool
) -> Iterator[pl.DataFrame]:
    """Through the ADBC driver when it is there and connects, else psycopg's COPY."""
    if arrow and columns and postgres_arrow.available():
        handed = False
        try:
            for frame in postgres_arrow.frames(target, ref, columns):
                handed = True
                yield frame
        except Exception as exc:
            if handed:  # part of the table was read: read all of it again
                raise ReadAgain(f"{ref}: the PostgreSQL driver failed midway") from exc
            log.debug("%s: read through psycopg (the ADBC driver failed)", ref)
        else:
            return
    yield from postgres_rows.frames(target, ref, columns, batch_rows)


def rows_at(
    target: TableTarget, ref: TableRef, columns: Columns, locs: Sequence[int]
) -> pl.DataFrame:
    """The rows at these locators (as :func:`table_frames` yielded them), canonical."""
    if not locs:
        return pl.DataFrame()
    if target.vendor == "sqlite":
        return sqlite_rows.rows_at(_sqlite_path(target), ref, columns, locs)
    if target.vendor == "postgres":
        return postgres_rows.rows_at(target, ref, columns, locs)
    raise TargetError(f"{ref}: rows of {target.vendor} tables have no locator")


def _sqlite_path(target: TableTarget) -> Path:
    return Path(getattr(target, "path"))  # noqa: B009


# --- MySQL / MariaDB ---------------------------------------------------------------------


def _mysql_quote(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def _mysql_frames(
    target: TableTarget, ref: TableRef, columns: Columns, batch_rows: int
) -> Iterator[pl.DataFrame]:
    import pymysql
    import pymysql.cursors

    picks = []
    for n, t in columns:
        q = _mysql_quote(n)
        if t == "binary":
            picks.append(f"HEX({q})")
        elif t == "float32":  # FLOAT prints 6 digits; as a double it is exact
            picks.append(f"CAST({q} + 0e0 AS CHAR)")
        else:
            picks.append(f"CAST({q} AS CHAR)")
    table = ".".join(_mysql_quote(p) for p in (*ref.path, ref.table))
    query = f"SELECT {', '.join(picks)} FROM {table}"
    exprs = [canon.text_expr(n, t, vendor="mysql") for n, t in columns]
    conn: Any = getattr(target, "conn")  # noqa: B009
    cur = conn.cursor(pymysql.cursors.SSCursor)
    try:
        cur.execute(query)
        while rows := cur.fetchmany(batch_rows):
            gathered = zip(*rows, strict=True)
            series = [
                pl.Series(n, values, dtype=pl.String, strict=False)
                for (n, _), values in zip(columns, gathered, strict=True)
            ]
            yield pl.DataFrame(series).select(exprs)
    except pymysql.MySQLError as exc:
        raise TargetError(f"{ref}: cannot read the table to compare rows: {exc}") from None
    finally:
        with contextlib.suppress(Exception):
            cur.close()
