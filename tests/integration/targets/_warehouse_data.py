"""Result sets for the warehouse target tests, written as part files with polars."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from runner.results import ResultSet, schema_of


def make_results(
    folder: Path, frames: pl.DataFrame | Sequence[pl.DataFrame], fmt: str = "parquet"
) -> ResultSet:
    """Write ``frames`` as part files under ``folder`` and describe them as a ResultSet."""
    parts = [frames] if isinstance(frames, pl.DataFrame) else list(frames)
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    digest = hashlib.sha256()
    for i, frame in enumerate(parts):
        path = folder / f"part-{i:05d}.{fmt}"
        if fmt == "parquet":
            frame.write_parquet(path)
        elif fmt == "avro":
            frame.write_avro(path)
        elif fmt == "csv":
            frame.write_csv(path)
        else:
            raise ValueError(fmt)
        digest.update(path.read_bytes())
        files.append(path)
    return ResultSet(
        format=fmt,
        files=tuple(files),
        schema=schema_of(parts[0].schema),
        rows=sum(len(p) for p in parts),
        sha256=digest.hexdigest(),
    )
