"""Result files of a job run: their schema, and their rows as a stream of frames.

A job run writes one :class:`ResultSet` per output format (avro, csv, json, parquet)
under ``<state folder>/results/<job>/<run-id>/<format>/`` as one or more part files.
Loaders read them with :func:`iter_frames`, a bounded-memory stream of polars frames,
so no rows pass through Python loops on the hot path.

Column types are *logical* types, portable across databases:

    boolean  int8 int16 int32 int64  float32 float64  decimal(P,S)
    string  binary  date  time  timestamp  timestamptz

Each target maps a logical type to its own SQL type.

How each format stores the logical types (:func:`iter_frames` undoes it from the
recorded schema, so every format reads back with the same polars types):

- timestamps are microseconds; ``timestamptz`` is always UTC (other zones are
  converted to UTC when the results are written).
- avro: polars cannot write every type, so ``int8``/``int16`` are stored as avro
  ``int``, ``time`` as a ``long`` of nanoseconds since midnight, and ``timestamptz``
  as a zone-less ``timestamp-micros`` holding the UTC wall time.
- csv and json: ``binary`` is base64 text; json stores decimals, dates and times as
  text. In csv a null is an empty field and an empty string is ``""``.
- nested values (lists, structs) are published as JSON text (logical ``string``).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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


#: result formats written locally, and the extension of their part files
EXTENSIONS: dict[str, str] = {"avro": "avro", "csv": "csv", "json": "jsonl", "parquet": "parquet"}
#: rows per avro part file (and per slice when converting from the staged parquet)
SLICE_ROWS = 500_000
AVRO_COMPRESSION: Literal["uncompressed", "snappy", "deflate"] = "uncompressed"
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
}
#: logical types json results store as text
_JSON_TEXT = frozenset({"binary", "date", "time", "timestamp", "timestamptz"})


class ResultsCancelled(Exception):
    """Writing results stopped because the caller asked to cancel."""


def normalise_format(fmt: str) -> str:
    """The format name results are stored under ("pqt" is parquet)."""
    return "parquet" if fmt == "pqt" else fmt


def decimal_of(logical: str) -> tuple[int, int] | None:
    """(precision, scale) of a ``decimal(P,S)`` logical type, else None."""
    m = _DECIMAL.match(logical)
    return (int(m[1]), int(m[2])) if m else None


def polars_dtype(logical: str) -> pl.DataType:
    """The polars dtype frames from :func:`iter_frames` carry for a logical type."""
    dec = decimal_of(logical)
    if dec is not None:
        return pl.Decimal(dec[0], dec[1])
    try:
        return _PLAIN[logical]
    except KeyError:
        raise ValueError(f"unknown logical type {logical!r}") from None


def _conform_expr(name: str, dtype: pl.DataType, logical: str) -> pl.Expr:
    col = pl.col(name)
    if isinstance(dtype, pl.List | pl.Array | pl.Struct):
        as_json = pl.struct(col.alias("v")).struct.json_encode().str.slice(5).str.head(-1)
        return pl.when(col.is_null()).then(None).otherwise(as_json).alias(name)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone:
        return col.dt.convert_time_zone("UTC").cast(pl.Datetime("us", "UTC"))
    if isinstance(dtype, pl.Object):
        return col.map_elements(str, return_dtype=pl.String)
    return col.cast(polars_dtype(logical))


def conform(frame: pl.LazyFrame) -> tuple[pl.LazyFrame, ResultSchema]:
    """The frame cast to the canonical dtypes of its logical types, and its schema."""
    exprs: list[pl.Expr] = []
    columns: list[Column] = []
    for name, dtype in frame.collect_schema().items():
        logical = logical_type(dtype)
        exprs.append(_conform_expr(name, dtype, logical))
        columns.append(Column(name, logical))
    return frame.select(exprs), ResultSchema(tuple(columns))


def _encode_expr(column: Column, fmt: str) -> pl.Expr:
    col = pl.col(column.name)
    if fmt == "avro":
        if column.type in ("int8", "int16"):
            return col.cast(pl.Int32)
        if column.type == "time":
            return col.cast(pl.Int64)
        if column.type == "timestamptz":
            return col.dt.replace_time_zone(None)
    if fmt in ("csv", "json") and column.type == "binary":
        return col.bin.encode("base64")
    return col


def _read_dtype(column: Column, fmt: str) -> pl.DataType:
    """The dtype csv/json part files are read with before decoding."""
    if column.type == "binary" or (fmt == "json" and column.type in _JSON_TEXT):
        return pl.String()
    if fmt == "json" and decimal_of(column.type) is not None:
        return pl.String()
    if fmt == "json" and column.type in ("int8", "int16"):  # the json reader panics on these
        return pl.Int64()
    return polars_dtype(column.type)


def _decode_expr(column: Column, fmt: str) -> pl.Expr:
    col = pl.col(column.name)
    target = polars_dtype(column.type)
    kind = column.type
    if fmt == "avro":
        if kind == "time":
            return col.cast(pl.Int64).cast(pl.Time)
        if kind == "timestamptz":
            return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    elif fmt in ("csv", "json"):
        if kind == "binary":
            return col.str.decode("base64")
        if fmt == "json":
            if kind == "date":
                return col.str.to_date("%Y-%m-%d")
            if kind == "time":
                return col.str.to_time()
            if kind == "timestamp":
                return col.str.to_datetime(time_unit="us")
            if kind == "timestamptz":
                return col.str.to_datetime(time_unit="us", time_zone="UTC")
    return col.cast(target)


def _decoder(schema: ResultSchema, fmt: str) -> list[pl.Expr]:
    return [_decode_expr(c, fmt) for c in schema.columns]


def sha256_files(files: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _part(folder: Path, index: int, fmt: str) -> Path:
    return folder / f"part-{index:05d}.{EXTENSIONS[fmt]}"


def _write_avro(
    stage: Path,
    folder: Path,
    schema: ResultSchema,
    slice_rows: int,
    cancel: threading.Event | None,
) -> tuple[Path, ...]:
    import pyarrow.parquet as pq

    encode = [_encode_expr(c, "avro") for c in schema.columns]
    files: list[Path] = []
    parquet = pq.ParquetFile(stage)
    try:
        for batch in parquet.iter_batches(batch_size=slice_rows):
            _check(cancel)
            frame = pl.DataFrame(pl.from_arrow(batch)).select(encode)
            path = _part(folder, len(files), "avro")
            frame.write_avro(path, compression=AVRO_COMPRESSION)
            files.append(path)
        if not files:  # no rows: one empty part that still carries the schema
            path = _part(folder, 0, "avro")
            empty = pl.DataFrame(schema={c.name: polars_dtype(c.type) for c in schema.columns})
            empty.select(encode).write_avro(path, compression=AVRO_COMPRESSION)
            files.append(path)
    finally:
        parquet.close()
    return tuple(files)


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise ResultsCancelled("cancelled")


def write_results(
    frame_or_lazy: pl.DataFrame | pl.LazyFrame,
    run_dir: Path,
    formats: Iterable[str],
    *,
    slice_rows: int = SLICE_ROWS,
    cancel: threading.Event | None = None,
) -> dict[str, ResultSet]:
    """Write the rows in every format under ``run_dir/<format>/part-NNNNN.<ext>``.

    The query runs once, streaming into a parquet file; the other formats are made
    from that file slice by slice, so memory stays bounded whatever the row count.
    Keyed by format name ("pqt" is stored as "parquet"). Raises
    :class:`ResultsCancelled` when ``cancel`` is set between steps.
    """
    wanted = list(dict.fromkeys(normalise_format(f) for f in formats))
    for fmt in wanted:
        if fmt not in EXTENSIONS:
            raise ValueError(
                f"cannot write results as {fmt!r}; formats: {', '.join(sorted(EXTENSIONS))}"
            )
    lazy, schema = conform(frame_or_lazy.lazy())
    run_dir.mkdir(parents=True, exist_ok=True)
    keep_stage = "parquet" in wanted
    stage = (
        _part(run_dir / "parquet", 0, "parquet")
        if keep_stage
        else run_dir / f".stage-{uuid.uuid4().hex}.parquet"
    )
    stage.parent.mkdir(parents=True, exist_ok=True)
    out: dict[str, ResultSet] = {}
    try:
        _check(cancel)
        lazy.sink_parquet(stage, row_group_size=min(slice_rows, 100_000))
        import pyarrow.parquet as pq

        rows = int(pq.read_metadata(stage).num_rows)
        for fmt in wanted:
            _check(cancel)
            folder = run_dir / fmt
            folder.mkdir(parents=True, exist_ok=True)
            if fmt == "parquet":
                files: tuple[Path, ...] = (stage,)
            elif fmt == "avro":
                files = _write_avro(stage, folder, schema, slice_rows, cancel)
            else:
                path = _part(folder, 0, fmt)
                encoded = pl.scan_parquet(stage).select(
                    [_encode_expr(c, fmt) for c in schema.columns]
                )
                if fmt == "csv":
                    encoded.sink_csv(path)
                else:
                    encoded.sink_ndjson(path)
                files = (path,)
            out[fmt] = ResultSet(fmt, files, schema, rows, sha256_files(files))
    finally:
        if not keep_stage:
            stage.unlink(missing_ok=True)
    return out


def remove_results(run_dir: Path) -> None:
    """Delete a run's result folder (after a failed or cancelled run)."""
    shutil.rmtree(run_dir, ignore_errors=True)


def iter_frames(results: ResultSet, batch_rows: int = 250_000) -> Iterator[pl.DataFrame]:
    """Stream the rows of a result set as frames of at most ``batch_rows`` rows.

    Memory stays bounded for every format: avro is read one part at a time (the writer
    keeps parts to :data:`SLICE_ROWS`), parquet by record batches, csv and json by the
    streaming engine's batches. Frames carry the dtypes of :func:`polars_dtype` for the
    recorded schema, whatever the format stores.
    """
    fmt = normalise_format(results.format)
    schema = results.schema
    decode = _decoder(schema, fmt)
    for path in results.files:
        for frame in _read_part(path, fmt, schema, decode, batch_rows):
            for piece in frame.iter_slices(batch_rows):
                if piece.height:
                    yield piece


def _read_part(
    path: Path, fmt: str, schema: ResultSchema, decode: list[pl.Expr], batch_rows: int
) -> Iterator[pl.DataFrame]:
    if fmt == "avro":
        yield pl.read_avro(path).select(decode)
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        try:
            for batch in parquet.iter_batches(batch_size=batch_rows):
                yield pl.DataFrame(pl.from_arrow(batch)).select(decode)
        finally:
            parquet.close()
    elif fmt in ("csv", "json"):
        read_schema = {c.name: _read_dtype(c, fmt) for c in schema.columns}
        if fmt == "csv":
            lazy = pl.scan_csv(path, schema=read_schema)
        else:
            lazy = pl.scan_ndjson(path, schema=read_schema)
        yield from lazy.select(decode).collect_batches(chunk_size=batch_rows)
    else:
        raise ValueError(f"cannot read results in format {fmt!r}")
