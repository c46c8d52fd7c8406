"""Result frames made ready for a database's bulk path.

Every loader reads the results with :func:`batches` and turns each frame into values
its database reads back exactly with :func:`prepare`: booleans as 0/1 where the
database has no boolean, binary as hex where it travels as text, and time-zone-aware
timestamps as UTC wall time (every session runs in UTC, so the database reads the same
instant back). All of it is columnar: no rows go through Python loops here.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from runner.results import iter_frames
from runner.targets.base import PublishRequest

#: rows per batch read from the result files on the load path
BATCH_ROWS = 250_000


def batches(request: PublishRequest, rows: int = BATCH_ROWS) -> Iterator[pl.DataFrame]:
    """The request's results as frames of at most ``rows`` rows."""
    return iter_frames(request.results, rows)


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
