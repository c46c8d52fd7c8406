"""Result files of a job run: their schema, and their rows as a stream of frames.

A job run writes one :class:`ResultSet` per output format (avro, csv, json, parquet)
under ``<state folder>/results/<job>/<run-id>/<format>/`` as one or more part files.
Loaders read them with :func:`iter_frames`, a bounded-memory stream of polars frames,
so no rows pass through Python loops on the hot path.

Column types are *logical* types, portable across databases:

    boolean  int8 int16 int32 int64  float32 float64  decimal(P,S)
    string  binary  date  time  timestamp  timestamptz

Each target maps a logical type to its own SQL type.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

LOGICAL_TYPES = (
    "boolean",
    "int8",
    "int16",
    "int32",
    "int64",
    "float32",
    "float64",
    "string",
    "binary",
    "date",
    "time",
    "timestamp",
    "timestamptz",
)


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # a logical type, or "decimal(P,S)"
    nullable: bool = True

    def to_json(self) -> list[Any]:
        return [self.name, self.type]


@dataclass(frozen=True)
class ResultSchema:
    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def get(self, name: str) -> Column | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None

    def to_json(self) -> list[list[Any]]:
        return [c.to_json() for c in self.columns]

    @classmethod
    def from_json(cls, data: list[list[Any]]) -> ResultSchema:
        return cls(tuple(Column(str(n), str(t)) for n, t in data))


@dataclass(frozen=True)
class ResultSet:
    """The results of one job run in one format."""

    format: str  # avro | csv | json | parquet
    files: tuple[Path, ...]  # part files, in order
    schema: ResultSchema
    rows: int
    sha256: str  # content hash over the parts

    def to_json(self, base: Path) -> dict[str, Any]:
        return {
            "format": self.format,
            "files": [
                str(f.relative_to(base)) if f.is_relative_to(base) else str(f) for f in self.files
            ],
            "schema": self.schema.to_json(),
            "rows": self.rows,
            "sha256": self.sha256,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], base: Path) -> ResultSet:
        return cls(
            format=data["format"],
            files=tuple(base / f for f in data["files"]),
            schema=ResultSchema.from_json(data["schema"]),
            rows=int(data["rows"]),
            sha256=data["sha256"],
        )


_SIMPLE: dict[type[pl.DataType], str] = {
    pl.Boolean: "boolean",
    pl.Int8: "int8",
    pl.Int16: "int16",
    pl.Int32: "int32",
    pl.Int64: "int64",
    pl.UInt8: "int16",
    pl.UInt16: "int32",
    pl.UInt32: "int64",
    pl.UInt64: "decimal(20,0)",
    pl.Float32: "float32",
    pl.Float64: "float64",
    pl.String: "string",
    pl.Categorical: "string",
    pl.Enum: "string",
    pl.Binary: "binary",
    pl.Date: "date",
    pl.Time: "time",
    pl.Null: "string",
}


def logical_type(dtype: pl.DataType) -> str:
    """The logical type of a polars dtype (nested types are published as JSON strings)."""
    if isinstance(dtype, pl.Datetime):
        return "timestamptz" if dtype.time_zone else "timestamp"
    if isinstance(dtype, pl.Decimal):
        return f"decimal({dtype.precision or 38},{dtype.scale or 0})"
    for cls, name in _SIMPLE.items():
        if isinstance(dtype, cls):
            return name
    return "string"


def schema_of(schema: pl.Schema) -> ResultSchema:
    return ResultSchema(tuple(Column(n, logical_type(t)) for n, t in schema.items()))


def iter_frames(results: ResultSet, batch_rows: int = 250_000) -> Iterator[pl.DataFrame]:
    """Stream the rows of a result set as frames of at most ``batch_rows`` rows.

    First version: reads one part file at a time (bounded by the part size the writer
    chose); the local platform's writer keeps parts small enough for that.
    """
    for path in results.files:
        if results.format == "avro":
            frame = pl.read_avro(path)
        elif results.format in ("parquet", "pqt"):
            frame = pl.read_parquet(path)
        elif results.format == "csv":
            frame = pl.read_csv(path, try_parse_dates=True)
        elif results.format == "json":
            frame = pl.read_ndjson(path)
        else:
            raise ValueError(f"cannot read results in format {results.format!r}")
        yield from frame.iter_slices(batch_rows)
