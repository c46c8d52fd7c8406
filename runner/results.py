"""Result files of a job run: their schema, and their rows as a stream of frames.

A job run writes one :class:`ResultSet` per output format (avro, csv, json, parquet)
under ``<state folder>/results/<job>/<run-id>/<format>/`` as one or more part files.
Loaders read them with :func:`iter_frames`, a bounded-memory stream of polars frames,
so no rows pass through Python loops on the hot path.

Column types are *logical* types, portable across databases (:mod:`runner.result_types`;
docs/types.md maps each to every database's column type).

How each format stores the logical types (:func:`iter_frames` undoes it from the
recorded schema, so every format reads back with the same polars types):

- timestamps are microseconds; ``timestamptz`` is always UTC (other zones are
  converted to UTC when the results are written).
- avro: polars cannot write every type, so ``int8``/``int16`` are stored as avro
  ``int``, ``time`` as a ``long`` of nanoseconds since midnight, ``timestamptz``
  as a zone-less ``timestamp-micros`` holding the UTC wall time, and decimals as exact
  text (polars writes some decimal values with the wrong sign).
- csv and json: ``binary`` is base64 text; json stores decimals, dates and times as
  text. In csv a null is an empty field and an empty string is ``""``.
- ``json`` and decimals wider than 38 digits are text in every format.
- nested values (lists, structs) are published as JSON text (logical ``json``).
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import polars as pl

from runner.json_values import to_json
from runner.quiet import quiet_stderr
from runner.result_types import (
    LOGICAL_TYPES,
    MAX_FRAME_DECIMAL,
    Column,
    ResultSchema,
    ResultSet,
    decimal_of,
    is_text_logical,
    logical_type,
    polars_dtype,
    schema_of,
)

__all__ = [
    "EXTENSIONS",
    "LOGICAL_TYPES",
    "MAX_FRAME_DECIMAL",
    "Column",
    "ResultSchema",
    "ResultSet",
    "ResultsCancelled",
    "conform",
    "decimal_of",
    "iter_frames",
    "logical_type",
    "normalise_format",
    "opened_frames",
    "polars_dtype",
    "remove_results",
    "schema_of",
    "write_results",
]

#: result formats written locally, and the extension of their part files
EXTENSIONS: dict[str, str] = {"avro": "avro", "csv": "csv", "json": "jsonl", "parquet": "parquet"}
#: rows per avro part file (and per slice when converting from the staged parquet): a
#: reader decodes an avro part whole (polars writes one block per file), so this bounds
#: a publish's memory (500k-row parts made a publish of 10 columns peak near 300 MB)
SLICE_ROWS = 50_000
AVRO_COMPRESSION: Literal["uncompressed", "snappy", "deflate"] = "uncompressed"
#: avro parts written at the same time (threads; see _write_avro)
_AVRO_WORKERS = 2
#: logical types json results store as text
_JSON_TEXT = frozenset({"binary", "date", "time", "timestamp", "timestamptz"})


class ResultsCancelled(Exception):
    """Writing results stopped because the caller asked to cancel."""


def normalise_format(fmt: str) -> str:
    """The format name results are stored under ("pqt" is parquet)."""
    return "parquet" if fmt == "pqt" else fmt


def _nested_json(row: dict[str, Any]) -> str | None:
    return to_json(row["v"])


def _conform_expr(name: str, dtype: pl.DataType, logical: str) -> pl.Expr:
    col = pl.col(name)
    if isinstance(dtype, pl.List | pl.Array | pl.Struct):
        # Python's encoder, not polars' json_encode: that one writes NaN as null and
        # panics on bytes; this one gives the JSON of docs/types.md, as Avro inputs get
        wrapped = pl.struct(col.alias("v"))
        return wrapped.map_elements(_nested_json, return_dtype=pl.String).alias(name)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone:
        return col.dt.convert_time_zone("UTC").cast(pl.Datetime("us", "UTC"))
    if isinstance(dtype, pl.Object):
        return col.map_elements(str, return_dtype=pl.String)
    return col.cast(polars_dtype(logical))


def conform(
    frame: pl.LazyFrame, logical: Mapping[str, str] | None = None
) -> tuple[pl.LazyFrame, ResultSchema]:
    """The frame cast to the canonical dtypes of its logical types, and its schema.

    ``logical`` marks text columns that carry ``json`` or a decimal beyond 38 digits.
    """
    exprs: list[pl.Expr] = []
    columns: list[Column] = []
    for name, dtype in frame.collect_schema().items():
        logical_name = logical_type(dtype)
        marked = (logical or {}).get(name)
        if marked is not None and isinstance(dtype, pl.String) and is_text_logical(marked):
            logical_name = marked
        exprs.append(_conform_expr(name, dtype, logical_name))
        columns.append(Column(name, logical_name))
    return frame.select(exprs), ResultSchema(tuple(columns))


def _encode_expr(column: Column, fmt: str) -> pl.Expr:
    col = pl.col(column.name)
    if fmt == "avro":
        if decimal_of(column.type) is not None:
            # exact text: polars 2.1 writes an Avro decimal whose magnitude fills its top
            # byte without the sign byte, so 400.00 in decimal(10,2) (unscaled 40000,
            # 0x9C40) read back as -255.36; text reads back as written
            return col.cast(pl.String)
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
    workers: int = _AVRO_WORKERS,
) -> tuple[Path, ...]:
    """Avro parts of ``slice_rows`` rows from the staged parquet, ``workers`` written at a
    time.

    polars encodes and writes a part without the GIL, so on two cores a worker thread
    writes one part while this thread reads the next slice; each part's bytes are those
    of writing it alone (its own slice, its own file).
    """
    import pyarrow.parquet as pq

    encode = [_encode_expr(c, "avro") for c in schema.columns]
    files: list[Path] = []
    parquet = pq.ParquetFile(stage)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="avro-part")
    writing: deque[Future[None]] = deque()
    try:
        for batch in parquet.iter_batches(batch_size=slice_rows):
            _check(cancel)
            path = _part(folder, len(files), "avro")
            writing.append(pool.submit(_write_avro_part, pl.from_arrow(batch), encode, path))
            files.append(path)
            while len(writing) > workers:  # bounded: a few slices in memory
                writing.popleft().result()
        while writing:
            writing.popleft().result()
        if not files:  # no rows: one empty part that still carries the schema
            empty = pl.DataFrame(schema={c.name: polars_dtype(c.type) for c in schema.columns})
            files.append(_part(folder, 0, "avro"))
            _write_avro_part(empty, encode, files[0])
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        parquet.close()
    return tuple(files)


def _write_avro_part(frame: pl.DataFrame | pl.Series, encode: list[pl.Expr], path: Path) -> None:
    pl.DataFrame(frame).select(encode).write_avro(path, compression=AVRO_COMPRESSION)


def _sink(lazy: pl.LazyFrame, stage: Path, slice_rows: int, *, declared: bool) -> int:
    """Run the query into the parquet file ``stage``; its number of rows.

    lz4 unless it is a declared output (see :func:`write_results`). pyarrow.parquet (~0.2 s
    to import the first time) is imported meanwhile: polars writes without the GIL.
    """
    importing = threading.Thread(target=_import_parquet, name="import-pyarrow", daemon=True)
    importing.start()
    try:
        lazy.sink_parquet(
            stage,
            row_group_size=min(slice_rows, 100_000),
            compression="zstd" if declared else "lz4",
        )
    finally:
        importing.join()
    import pyarrow.parquet as pq

    return int(pq.read_metadata(stage).num_rows)


def _import_parquet() -> None:
    import pyarrow.parquet  # noqa: F401


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
    logical: Mapping[str, str] | None = None,
    on_parquet: Callable[[ResultSet], bool | None] | None = None,
    internal_parquet: bool = False,
) -> dict[str, ResultSet]:
    """Write the rows in every format under ``run_dir/<format>/part-NNNNN.<ext>``.

    The query runs once, streaming into a parquet file; the other formats are made
    from that file slice by slice, so memory stays bounded whatever the row count.
    Keyed by format name ("pqt" is stored as "parquet"). Raises
    :class:`ResultsCancelled` when ``cancel`` is set between steps. ``logical`` marks
    text columns carrying ``json`` or wide decimals (see :func:`conform`). ``on_parquet``
    is called with the parquet file (its ``sha256`` empty) once the query is written to
    it, before the other formats are made from it; when it returns True (other threads
    read the file meanwhile) Avro parts are written one at a time, not two (fewer threads
    on two cores; the bytes are the same). ``internal_parquet``: parquet is asked
    for by the caller (a preview), not as one of the job's declared outputs (its
    ``sha256`` is then empty: nothing publishes it).

    A parquet file that is not a declared output is compressed with lz4, not polars'
    default zstd: ~0.35 s less CPU to write 1M rows of 10 columns and less to read back.
    """
    wanted = list(dict.fromkeys(normalise_format(f) for f in formats))
    for fmt in wanted:
        if fmt not in EXTENSIONS:
            raise ValueError(
                f"cannot write results as {fmt!r}; formats: {', '.join(sorted(EXTENSIONS))}"
            )
    lazy, schema = conform(frame_or_lazy.lazy(), logical)
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
        rows = _sink(lazy, stage, slice_rows, declared=keep_stage and not internal_parquet)
        shared = on_parquet is not None and on_parquet(
            ResultSet("parquet", (stage,), schema, rows, "")
        )
        workers = 1 if shared else _AVRO_WORKERS
        for fmt in wanted:
            _check(cancel)
            folder = run_dir / fmt
            folder.mkdir(parents=True, exist_ok=True)
            if fmt == "parquet":
                files: tuple[Path, ...] = (stage,)
            elif fmt == "avro":
                files = _write_avro(stage, folder, schema, slice_rows, cancel, workers)
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
            # an internal parquet file is read only by the plan that wrote it: not hashed
            internal = fmt == "parquet" and internal_parquet
            out[fmt] = ResultSet(fmt, files, schema, rows, "" if internal else sha256_files(files))
    finally:
        if not keep_stage:
            stage.unlink(missing_ok=True)
    return out


def remove_results(run_dir: Path) -> None:
    """Delete a run's result folder (after a failed or cancelled run)."""
    shutil.rmtree(run_dir, ignore_errors=True)


def iter_frames(results: ResultSet, batch_rows: int = 250_000) -> Iterator[pl.DataFrame]:
    """Stream the rows of a result set as frames of ``batch_rows`` rows (the last one may
    be smaller), whatever the part files hold.

    Memory stays bounded for every format: avro is read one part at a time (the writer
    keeps parts to :data:`SLICE_ROWS`), parquet by record batches, csv and json by the
    streaming engine's batches. Frames carry the dtypes of :func:`polars_dtype` for the
    recorded schema, whatever the format stores.
    """
    fmt = normalise_format(results.format)
    schema = results.schema
    decode = _decoder(schema, fmt)
    held: list[pl.DataFrame] = []  # slices making up the next frame
    size = 0
    for path in results.files:
        for frame in _read_part(path, fmt, schema, decode, batch_rows):
            at = 0
            while at < frame.height:
                piece = frame.slice(at, batch_rows - size)
                held.append(piece)
                size += piece.height
                at += piece.height
                if size == batch_rows:
                    yield pl.concat(held, rechunk=False) if len(held) > 1 else held[0]
                    held, size = [], 0
            del frame  # not alive while the next part is read
    if size:
        yield pl.concat(held, rechunk=False) if len(held) > 1 else held[0]


def _read_part(
    path: Path, fmt: str, schema: ResultSchema, decode: list[pl.Expr], batch_rows: int
) -> Iterator[pl.DataFrame]:
    if fmt == "avro":
        with quiet_stderr():  # a damaged part must be an error, not Rust panic text
            frame = pl.read_avro(path)
        frame = frame.select(decode)  # not the undecoded frame too, while this one is read
        yield frame
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        yield from _parquet_frames(pq.ParquetFile(path), decode, batch_rows)
    elif fmt in ("csv", "json"):
        read_schema = {c.name: _read_dtype(c, fmt) for c in schema.columns}
        if fmt == "csv":
            # the names are known: polars keeps a header's doubled quotes ("a ""b""") as is
            lazy = pl.scan_csv(path, schema=read_schema, has_header=False, skip_rows=1)
        else:
            lazy = pl.scan_ndjson(path, schema=read_schema)
        yield from lazy.select(decode).collect_batches(chunk_size=batch_rows)
    else:
        raise ValueError(f"cannot read results in format {fmt!r}")


def _parquet_frames(parquet: Any, decode: list[pl.Expr], batch_rows: int) -> Iterator[pl.DataFrame]:
    try:
        for batch in parquet.iter_batches(batch_size=batch_rows):
            yield pl.DataFrame(pl.from_arrow(batch)).select(decode)
    finally:
        parquet.close()


def opened_frames(results: ResultSet, batch_rows: int = 250_000) -> Iterator[pl.DataFrame]:
    """:func:`iter_frames` of a parquet result file opened now, before the first frame is
    asked for: the frames stay readable when the file is moved or removed meanwhile."""
    import pyarrow.parquet as pq

    if normalise_format(results.format) != "parquet" or len(results.files) != 1:
        raise ValueError(f"opened_frames reads one parquet file, not {results.format} results")
    parquet = pq.ParquetFile(results.files[0])
    return _parquet_frames(parquet, _decoder(results.schema, "parquet"), batch_rows)
