"""One side of a diff, staged: narrow (key, row hash) frames in memory, whole rows on disk.

Memory stays bounded whatever the row count: while the rows stream by, each batch is
hashed (one 64-bit hash of the compared columns per row) and written to a temporary
Arrow IPC part; only the key columns and the hash stay in memory. Sample rows are read
back from the parts by key or by hash once the classes are known.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

import polars as pl

#: the hash column's name (not a valid spec column name, so it cannot collide)
HASH = "__publish_row_hash"
_SEED = 0x5EED


def row_hash(columns: Sequence[str]) -> pl.Expr:
    """One 64-bit hash of the compared columns of each row."""
    if not columns:
        return pl.lit(0, dtype=pl.UInt64).alias(HASH)
    return pl.struct([pl.col(c) for c in columns]).hash(_SEED).alias(HASH)


class Staged:
    """A side's rows: ``narrow`` (key columns + hash) in memory, whole rows in ``folder``."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.folder = Path(tempfile.mkdtemp(prefix=f"publish-diff-{label}-"))
        self.narrow = pl.DataFrame()
        self.rows = 0
        self._parts = 0

    def fill(
        self, frames: Iterable[pl.DataFrame], compared: Sequence[str], key: Sequence[str]
    ) -> Staged:
        pieces: list[pl.DataFrame] = []
        hashed = row_hash(compared)
        for frame in frames:
            if not frame.height:
                continue
            with_hash = frame.select([*compared, hashed])
            with_hash.write_ipc(self.folder / f"part-{self._parts:05d}.arrow")
            self._parts += 1
            self.rows += frame.height
            pieces.append(with_hash.select([*key, HASH]))
        if pieces:
            self.narrow = pl.concat(pieces, rechunk=True)
        return self

    def scan(self) -> pl.LazyFrame | None:
        if not self._parts:
            return None
        return pl.scan_ipc(self.folder / "*.arrow")

    def rows_by_key(self, keys: pl.DataFrame) -> pl.DataFrame:
        """Whole rows whose key is among ``keys`` (a frame of the key columns)."""
        lazy = self.scan()
        if lazy is None or not keys.height:
            return pl.DataFrame()
        names = list(keys.columns)
        return lazy.join(keys.lazy(), on=names, how="semi", nulls_equal=True).collect()

    def rows_by_hash(self, hashes: Sequence[int], limit: int) -> pl.DataFrame:
        lazy = self.scan()
        if lazy is None or not hashes:
            return pl.DataFrame()
        wanted = pl.Series(HASH, list(hashes), dtype=pl.UInt64)
        return lazy.filter(pl.col(HASH).is_in(wanted.implode())).sort(HASH).head(limit).collect()

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Staged:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
