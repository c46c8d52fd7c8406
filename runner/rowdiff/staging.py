"""One side of a diff, narrowed: the key columns, a row hash and a row locator per row.

Memory stays bounded by the row count times a few words, whatever the row width: while
the rows stream by, each batch is hashed (one 64-bit hash of the compared columns per
row) and only the key columns, the hash and, for a table, the row's locator (SQLite's
rowid, PostgreSQL's ctid) are kept. The whole rows of the few samples are read again
once the classes are known (:func:`matching` for a stream, by locator for a table).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl

#: the hash column's name (not a valid spec column name, so it cannot collide)
HASH = "__publish_row_hash"
#: where a table's row is (SQLite rowid, PostgreSQL ctid as block * 2^16 + offset)
LOC = "__publish_row_loc"
_SEED = 0x5EED
#: narrowed batches kept apart before they are copied into one
_PIECES = 4


def row_hash(columns: Sequence[str]) -> pl.Expr:
    """One 64-bit hash of the compared columns of each row."""
    if not columns:
        return pl.lit(0, dtype=pl.UInt64).alias(HASH)
    return pl.struct([pl.col(c) for c in columns]).hash(_SEED).alias(HASH)


@dataclass(frozen=True)
class Side:
    """A side's rows, narrowed: ``narrow`` holds the kept columns, the hash and the locator."""

    label: str
    narrow: pl.DataFrame

    @property
    def located(self) -> bool:
        return LOC in self.narrow.columns


def narrowed(
    label: str, frames: Iterable[pl.DataFrame], compared: Sequence[str], keep: Sequence[str]
) -> Side:
    """Hash each row of ``frames`` and keep ``keep``, the hash and the locator (if any)."""
    hashed = row_hash(compared)
    chunks: list[pl.DataFrame] = []
    pieces: list[pl.DataFrame] = []
    for frame in frames:
        if frame.height:
            extra = [LOC] if LOC in frame.columns else []
            pieces.append(frame.select([*keep, hashed, *extra]))
            if len(pieces) >= _PIECES:
                # copied into a chunk of their own: a kept column of an Arrow batch keeps
                # the whole batch alive (the C data interface releases it as one)
                chunks.append(pl.concat(pieces, rechunk=True))
                pieces = []
    chunks += pieces
    narrow = pl.concat(chunks, rechunk=True) if chunks else pl.DataFrame()
    return Side(label, narrow)


def in_background(
    label: str, frames: Iterable[pl.DataFrame], compared: Sequence[str], keep: Sequence[str]
) -> Future[Side]:
    """:func:`narrowed` in a worker thread (polars releases the GIL while it decodes and
    hashes), while this thread reads the table."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"diff-{label}")
    try:
        return pool.submit(narrowed, label, frames, compared, keep)
    finally:
        pool.shutdown(wait=False)


def matching(
    frames: Iterable[pl.DataFrame],
    compared: Sequence[str],
    wanted: pl.DataFrame,
    limit: int | None,
) -> pl.DataFrame:
    """The rows of ``frames`` (and their hash) whose ``wanted`` columns (keys or hash) match.

    Stops reading as soon as ``limit`` rows were found (unique keys: one row each).
    """
    on = list(wanted.columns)
    found: list[pl.DataFrame] = []
    total = 0
    stream: Iterator[pl.DataFrame] = iter(frames)
    for frame in stream:
        hit = frame.with_columns(row_hash(compared)).join(
            wanted, on=on, how="semi", nulls_equal=True
        )
        if hit.height:
            found.append(hit)
            total += hit.height
            if limit is not None and total >= limit:
                break
    close = getattr(stream, "close", None)
    if close is not None:
        close()
    return pl.concat(found, how="vertical_relaxed") if found else pl.DataFrame()
