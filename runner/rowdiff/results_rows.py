"""The results' rows for a diff, canonical, each with its row number as locator.

Parquet results (what the results store keeps) are read in slices by polars' own
reader (less memory and CPU than pyarrow's record batches), and the sample rows are
read again from the slices that hold them only; other formats stream through
:func:`runner.results.iter_frames` and are matched again by key or hash.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl

from runner.results import ResultSet, iter_frames, normalise_format, polars_dtype
from runner.rowdiff import canon
from runner.rowdiff.staging import LOC

#: rows of a parquet results file read at once (peak memory follows it, CPU does not)
SLICE = 25_000


def _exprs(results: ResultSet, vendor: str) -> list[pl.Expr]:
    return [canon.results_for(c.name, c.type, vendor) for c in results.schema.columns]


def _is_parquet(results: ResultSet) -> bool:
    return normalise_format(results.format) == "parquet"


def _slice(
    results: ResultSet, path: Path, offset: int, base: int, compared: Sequence[str], vendor: str
) -> pl.DataFrame:
    decode = [pl.col(c.name).cast(polars_dtype(c.type)) for c in results.schema.columns]
    lazy = pl.scan_parquet(path).slice(offset, SLICE).select(decode)
    frame = lazy.select(_exprs(results, vendor)).select(compared).collect()
    start = base + offset
    return frame.with_columns(pl.int_range(start, start + frame.height, dtype=pl.Int64).alias(LOC))


def _sizes(results: ResultSet) -> list[tuple[Path, int, int]]:
    """``(file, first row number, rows)`` of each parquet file."""
    out = []
    base = 0
    for path in results.files:
        rows = int(pl.scan_parquet(path).select(pl.len()).collect().item())
        out.append((path, base, rows))
        base += rows
    return out


def frames(results: ResultSet, compared: Sequence[str], vendor: str) -> Iterator[pl.DataFrame]:
    """The results' rows, canonical for ``vendor``, with their row number in :data:`LOC`."""
    if _is_parquet(results):
        for path, base, rows in _sizes(results):
            for offset in range(0, rows, SLICE):
                yield _slice(results, path, offset, base, compared, vendor)
        return
    exprs = _exprs(results, vendor)
    base = 0
    for frame in iter_frames(results, batch_rows=SLICE):
        out = frame.select(exprs).select(compared)
        yield out.with_columns(pl.int_range(base, base + out.height, dtype=pl.Int64).alias(LOC))
        base += out.height


def rows_at(
    results: ResultSet, compared: Sequence[str], vendor: str, locs: Sequence[int]
) -> pl.DataFrame | None:
    """The rows at these row numbers, reading only the slices that hold them (parquet only)."""
    if not _is_parquet(results):
        return None
    wanted = sorted({int(v) for v in locs})
    found: list[pl.DataFrame] = []
    for path, base, rows in _sizes(results):
        offsets = sorted({(v - base) // SLICE * SLICE for v in wanted if base <= v < base + rows})
        for offset in offsets:
            frame = _slice(results, path, offset, base, compared, vendor)
            found.append(frame.filter(pl.col(LOC).is_in(wanted)))
    return pl.concat(found) if found else pl.DataFrame()
