"""Result frames made ready for a database's bulk path.

Every loader reads the results with :func:`batches` and turns each frame into values
its database reads back exactly with :func:`prepare`: booleans as 0/1 where the
database has no boolean, binary as hex where it travels as text, and time-zone-aware
timestamps as UTC wall time (every session runs in UTC, so the database reads the same
instant back). All of it is columnar: no rows go through Python loops here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import polars as pl

from runner.errors import TargetError
from runner.results import iter_frames
from runner.targets.base import PublishRequest
from runner.targets.dialect import Dialect

#: rows per batch read from the result files on the load path
BATCH_ROWS = 250_000


def batches(request: PublishRequest, rows: int = BATCH_ROWS) -> Iterator[pl.DataFrame]:
    """The request's results as frames of at most ``rows`` rows."""
    return iter_frames(request.results, rows)


#: values a database may be unable to store, as errors name them
_WHAT = {"nan": "is NaN", "infinity": "is infinite", "nul": "holds the NUL character (\\0)"}


def _hits(kind: str, name: str, dtype: pl.DataType) -> pl.Expr | None:
    """The first row of column ``name`` holding a value of ``kind``, or None."""
    col = pl.col(name)
    if kind == "nan" and dtype.is_float():
        cond = col.is_nan()
    elif kind == "infinity" and dtype.is_float():
        cond = col.is_infinite()
    elif kind == "nul" and isinstance(dtype, pl.String):
        cond = col.str.contains("\x00", literal=True)
    else:
        return None
    return cond.fill_null(False).arg_true().first()


def first_refused(
    frame: pl.DataFrame | pl.LazyFrame, kinds: Iterable[str]
) -> tuple[int, str, str] | None:
    """``(row, column, kind)`` (0-based row) of the first value of one of ``kinds``."""
    found: list[tuple[str, str]] = []
    exprs: list[pl.Expr] = []
    schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    for kind in kinds:
        for name, dtype in schema.items():
            hit = _hits(kind, name, dtype)
            if hit is not None:
                exprs.append(hit.alias(f"_{len(exprs)}"))
                found.append((name, kind))
    if not exprs:
        return None
    picked = frame.select(exprs)
    rows = (picked.collect() if isinstance(picked, pl.LazyFrame) else picked).row(0)
    hits = [(r, *place) for r, place in zip(rows, found, strict=True) if r is not None]
    return min(hits) if hits else None


def refused_in(frame: pl.LazyFrame, dialect: Dialect) -> str | None:
    """Why the database cannot store the first refused value of ``frame`` (at plan), or None."""
    bad = first_refused(frame, dialect.refused_values)
    if bad is None:
        return None
    row, column, kind = bad
    return (
        f"column {column!r} {_WHAT[kind]} at row {row + 1:,} of the results, and "
        f"{dialect.refused_values[kind]}; replace it in the recipe, or cast the column to text"
    )


def checked_batches(
    request: PublishRequest,
    dialect: Dialect,
    rows: int = BATCH_ROWS,
    frames: Iterable[pl.DataFrame] | None = None,
) -> Iterator[pl.DataFrame]:
    """:func:`batches` (or ``frames`` of the request's results), failing on the first value
    the database cannot store (the dialect's
    :attr:`~runner.targets.dialect.Dialect.refused_values`), naming its column and its row
    of the results, before anything of that batch reaches the database."""
    done = 0
    for frame in batches(request, rows) if frames is None else frames:
        bad = first_refused(frame, dialect.refused_values)
        if bad is not None:
            row, column, kind = bad
            raise TargetError(
                f"target.{request.target}: {request.ref}: column {column!r} {_WHAT[kind]} at "
                f"row {done + row + 1:,} of the results, and {dialect.refused_values[kind]}; "
                "replace it in the recipe, or cast the column to text; the table is unchanged"
            )
        yield frame
        done += len(frame)


def prepare(
    frame: pl.DataFrame, *, binary_prefix: str | None = None, booleans_as_int: bool = False
) -> pl.DataFrame:
    """The frame with values the database reads back exactly.

    ``binary_prefix``: binary columns become hex text after this prefix (``"\\\\x"`` for
    PostgreSQL's bytea input, ``""`` for MySQL's UNHEX and Redshift's to_varbyte); None
    keeps them as bytes. ``booleans_as_int``: booleans become 0/1.
    """
    exprs: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Boolean) and booleans_as_int:
            exprs.append(col.cast(pl.Int8).alias(name))
        elif isinstance(dtype, pl.Binary) and binary_prefix is not None:
            hexed = col.bin.encode("hex")
            exprs.append(
                (pl.concat_str([pl.lit(binary_prefix), hexed]) if binary_prefix else hexed).alias(
                    name
                )
            )
        elif isinstance(dtype, pl.Datetime) and dtype.time_zone:
            exprs.append(col.dt.convert_time_zone("UTC").dt.replace_time_zone(None).alias(name))
    return frame.with_columns(exprs) if exprs else frame
