"""A PostgreSQL table's rows for a diff, canonical, each with its ctid as locator.

``COPY (SELECT ctid, ...) TO STDOUT (FORMAT csv)`` in a UTC session (the bytes
``psql \\copy`` writes): this thread gathers the rows into blocks while a worker thread
parses the previous block with polars (which releases the GIL), nothing spooled to disk.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import polars as pl

from runner.errors import TargetError
from runner.rowdiff import canon
from runner.rowdiff.staging import LOC
from runner.targets.base import TableRef, TableTarget

#: (column name, logical type of the results' column)
Columns = Sequence[tuple[str, str]]
_SESSION = (
    "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; "
    "SET LOCAL bytea_output = 'hex'; SET LOCAL extra_float_digits = 1"
)


def _query(ref: TableRef, columns: Columns, where: Any = None) -> Any:
    from psycopg import sql

    table = sql.Identifier(*ref.path, ref.table) if ref.path else sql.Identifier(ref.table)
    picks = sql.SQL(", ").join(sql.Identifier(n) for n, _ in columns)
    return sql.SQL("COPY (SELECT ctid, {} FROM {}{}) TO STDOUT (FORMAT csv)").format(
        picks, table, where if where is not None else sql.SQL("")
    )


def _blocks(target: TableTarget, ref: TableRef, query: Any, batch_rows: int) -> Iterator[bytes]:
    """The COPY's rows, ``batch_rows`` rows a block (a COPY chunk is one row)."""
    import psycopg

    conn: Any = getattr(target, "conn")  # noqa: B009
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(_SESSION)
            with cur.copy(query) as copy:
                rows: list[Any] = []
                for chunk in copy:
                    rows.append(chunk)
                    if len(rows) >= batch_rows:
                        yield b"".join(rows)
                        rows = []
                if rows:
                    yield b"".join(rows)
    except psycopg.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TargetError(f"{ref}: cannot read the table to compare rows: {message}") from None


def _parse(block: bytes, columns: Columns) -> pl.DataFrame:
    schema = {LOC: pl.String(), **{n: pl.String() for n, _ in columns}}
    raw = pl.read_csv(io.BytesIO(block), has_header=False, schema=schema, quote_char='"')
    tid = pl.col(LOC).str.strip_chars("()").str.split_exact(",", 1)
    loc = tid.struct.field("field_0").cast(pl.Int64) * 65536 + tid.struct.field("field_1").cast(
        pl.Int64
    )
    exprs = [canon.text_expr(n, t, vendor="postgres") for n, t in columns]
    return raw.select(loc.alias(LOC), *exprs)


def frames(
    target: TableTarget, ref: TableRef, columns: Columns, batch_rows: int
) -> Iterator[pl.DataFrame]:
    """The table's rows, canonical, with their ctid in :data:`LOC`."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="diff-parse")
    pending: list[Future[pl.DataFrame]] = []
    try:
        for block in _blocks(target, ref, _query(ref, columns), batch_rows):
            pending.append(pool.submit(_parse, block, columns))
            if len(pending) > 1:
                yield pending.pop(0).result()
        while pending:
            yield pending.pop(0).result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)


def rows_at(
    target: TableTarget, ref: TableRef, columns: Columns, locs: Sequence[int]
) -> pl.DataFrame:
    """The rows whose ctid is in ``locs``, canonical, with :data:`LOC`."""
    from psycopg import sql

    tids = "{" + ",".join(f'"({int(v) >> 16},{int(v) & 0xFFFF})"' for v in locs) + "}"
    where = sql.SQL(" WHERE ctid = ANY({}::tid[])").format(sql.Literal(tids))
    blocks = list(_blocks(target, ref, _query(ref, columns, where), len(locs) + 1))
    if not blocks:
        return pl.DataFrame()
    return pl.concat([_parse(b, columns) for b in blocks])
