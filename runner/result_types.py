"""Logical column types of results, and the results of one job run.

Column types are *logical* types, portable across databases:

    boolean  int8 int16 int32 int64  float32 float64  decimal(P,S)
    string  binary  date  time  timestamp  timestamptz  json

Each target maps a logical type to its own SQL type (docs/types.md has the table).
Frames carry ``json`` as text holding one JSON value, and ``decimal(P,S)`` wider than
38 digits (more than polars' Decimal holds) as the decimal's exact text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

#: polars' Decimal holds at most this many digits; wider decimals are text in frames
MAX_FRAME_DECIMAL = 38

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
    "json",
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
    """The logical type of a polars dtype (nested types are published as JSON text)."""
    if isinstance(dtype, pl.Datetime):
        return "timestamptz" if dtype.time_zone else "timestamp"
    if isinstance(dtype, pl.List | pl.Array | pl.Struct):
        return "json"
    if isinstance(dtype, pl.Decimal):
        return f"decimal({dtype.precision or 38},{dtype.scale or 0})"
    for cls, name in _SIMPLE.items():
        if isinstance(dtype, cls):
            return name
    return "string"


def schema_of(schema: pl.Schema, logical: Mapping[str, str] | None = None) -> ResultSchema:
    """The logical types of a frame's columns.

    ``logical`` names the text columns that carry another logical type (``json``, or a
    decimal wider than polars holds): see :data:`TEXT_LOGICAL`.
    """
    return ResultSchema(tuple(Column(n, _logical(n, t, logical)) for n, t in schema.items()))


def _logical(name: str, dtype: pl.DataType, logical: Mapping[str, str] | None) -> str:
    marked = (logical or {}).get(name)
    if marked is not None and isinstance(dtype, pl.String) and is_text_logical(marked):
        return marked
    return logical_type(dtype)


def is_text_logical(logical: str) -> bool:
    """Whether frames carry ``logical`` as text (json, decimals beyond 38 digits)."""
    if logical == "json":
        return True
    dec = decimal_of(logical)
    return dec is not None and dec[0] > MAX_FRAME_DECIMAL


_DECIMAL = re.compile(r"decimal\((\d+),(\d+)\)$")
_PLAIN: dict[str, pl.DataType] = {
    "boolean": pl.Boolean(),
    "int8": pl.Int8(),
    "int16": pl.Int16(),
    "int32": pl.Int32(),
    "int64": pl.Int64(),
    "float32": pl.Float32(),
    "float64": pl.Float64(),
    "string": pl.String(),
    "binary": pl.Binary(),
    "date": pl.Date(),
    "time": pl.Time(),
    "timestamp": pl.Datetime("us"),
    "timestamptz": pl.Datetime("us", "UTC"),
    "json": pl.String(),
}


def decimal_of(logical: str) -> tuple[int, int] | None:
    """(precision, scale) of a ``decimal(P,S)`` logical type, else None."""
    m = _DECIMAL.match(logical)
    return (int(m[1]), int(m[2])) if m else None


def polars_dtype(logical: str) -> pl.DataType:
    """The polars dtype frames from :func:`iter_frames` carry for a logical type."""
    dec = decimal_of(logical)
    if dec is not None:
        if dec[0] > MAX_FRAME_DECIMAL:
            return pl.String()  # exact text: polars' Decimal holds at most 38 digits
        return pl.Decimal(dec[0], dec[1])
    try:
        return _PLAIN[logical]
    except KeyError:
        raise ValueError(f"unknown logical type {logical!r}") from None
