"""PostgreSQL's ``COPY ... FROM STDIN``: the rows of the results, binary where it can be.

Every table whose columns all have an exact binary form for their result column
(:func:`~runner.targets.postgres_binary.binary_plan`) is loaded with ``FORMAT binary``:
the server converts nothing from text, which is most of COPY's work. Other tables are
loaded with ``FORMAT csv`` written by polars, as before. Either way a worker thread
encodes the next batches while the connection sends this one (numpy, Arrow and polars
release the GIL while they work, psycopg while it sends), and row N of the results is
row N of the COPY, so an error names its row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from runner.targets._prefetch import Prefetch
from runner.targets.base import Progress, PublishRequest
from runner.targets.dialect import Dialect
from runner.targets.frames import checked_batches
from runner.targets.postgres_types import csv_bytes

_WRITE_CHUNK = 1 << 20  # bytes per copy.write: measured faster than one write per batch
#: rows per batch, and batches encoded ahead (2: with 3 the 1M-row publish peaked at
#: 149-153 MB on a loaded machine, no faster): 16k rows of 10 columns are ~2 MB of COPY
#: data and ~10 MB while being encoded, so a publish of 1M or 10M rows peaks below
#: 150 MB (it peaked near 300 MB with 6 x 100k CSV batches and 500k-row Avro parts;
#: 10M rows peaked at 139-140 MB with 16k-row batches, 143-146 MB with 25k, at the same
#: encoding CPU per row)
COPY_BATCH_ROWS = 16_384
COPY_PREFETCH = 2


@dataclass(frozen=True)
class Copy:
    """What :meth:`PostgresTarget.copy_rows` loads, and where."""

    table: sql.Composable
    request: PublishRequest
    progress: Progress | None
    #: the table was created in this transaction (COPY FREEZE)
    fresh: bool = False
    #: runs just before the rows go, while the first batches are being prepared
    before: Callable[[], object] | None = None
    #: the table's column types by name (``format_type``); None: created from the results
    columns: Mapping[str, str] | None = None


def column_types(job: Copy, dialect: Dialect) -> dict[str, str]:
    """The column types of the table ``job`` loads into, by column name."""
    if job.columns is not None:
        return dict(job.columns)
    return {c.name: dialect.sql_type(c.type) for c in job.request.results.schema.columns}


def _chunks(
    job: Copy, dialect: Dialect, plan: Any, rows: int
) -> Iterator[tuple[int, Sequence[bytes | memoryview]]]:
    """``(rows, COPY data)`` batches; a NUL in a text value fails here, naming its row."""
    if plan is None:
        for frame in checked_batches(job.request, dialect, rows):
            yield len(frame), [csv_bytes(frame)]
        return
    from runner.targets.postgres_binary import binary_rows

    for frame in checked_batches(job.request, dialect, rows):
        yield len(frame), binary_rows(frame, plan)


def copy_in(cur: psycopg.Cursor[Any], job: Copy, dialect: Dialect, *, binary: bool) -> int:
    """Every row of the results into ``job.table``; the rows the database reports.

    ``binary``: use binary COPY when every column allows it. Raises :class:`CopyFailed`
    (carrying the driver's error and the format) when the server refuses a row.
    """
    plan = None
    if binary:
        from runner.targets.postgres_binary import binary_plan

        plan = binary_plan(job.request.results.schema, column_types(job, dialect))
    names = plan.names if plan is not None else job.request.results.schema.names
    options = "format binary" if plan is not None else "format csv, null ''"
    options += ", freeze" if job.fresh else ""
    statement = sql.SQL("copy {} ({}) from stdin ({})").format(
        job.table, sql.SQL(", ").join(map(sql.Identifier, names)), sql.SQL(options)
    )
    rows = 0
    try:
        with Prefetch(_chunks(job, dialect, plan, COPY_BATCH_ROWS), COPY_PREFETCH) as chunks:
            if job.before is not None:
                job.before()
            with cur.copy(statement) as copy:
                if plan is not None:
                    from runner.targets.postgres_binary import HEADER

                    copy.write(HEADER)
                for n, parts in chunks:
                    for part in parts:
                        view = memoryview(part)
                        for i in range(0, len(view), _WRITE_CHUNK):
                            copy.write(view[i : i + _WRITE_CHUNK])
                    del view, parts, part
                    rows += n
                    if job.progress is not None:
                        job.progress(rows)
                if plan is not None:
                    from runner.targets.postgres_binary import TRAILER

                    copy.write(TRAILER)
    except psycopg.Error as exc:
        raise CopyFailed(exc, binary=plan is not None) from None
    return cur.rowcount


class CopyFailed(Exception):
    """The server refused the COPY: the driver's error, and whether rows went as binary
    (where the COPY's line N is row N; in CSV a line feed inside a value adds a line)."""

    def __init__(self, error: psycopg.Error, *, binary: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.binary = binary
