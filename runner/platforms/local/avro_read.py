"""Read any valid Avro file as polars frames, in bounded memory, naming where it breaks.

polars decodes the files it can (:attr:`AvroLayout.polars_ok`), fastavro the rest; both
give frames with the dtypes of :func:`runner.platforms.local.avro_schema.layout_of`, so
the reader chosen never changes a value or a type. Files are read a group of blocks at
a time (each group plus the header is a small valid Avro file), so memory stays bounded
whatever the file's size. A block that does not decode is an :class:`AvroReadError`
naming the block and its byte offset; polars' panics never reach stderr.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from runner.json_values import duration_json, plain_json, to_json
from runner.platforms.local.avro_blocks import (
    AvroReadError,
    Group,
    Header,
    iter_groups,
    read_header,
    split,
    where,
)
from runner.platforms.local.avro_schema import AvroColumn, AvroLayout, AvroSchemaError, layout_of
from runner.quiet import quiet_stderr

#: rows decoded at a time
BATCH_ROWS = 100_000


def layout(path: Path) -> AvroLayout:
    """The columns of an Avro file, from its header alone."""
    with path.open("rb") as fh:
        header = read_header(fh)
    return _layout(header)


def _layout(header: Header) -> AvroLayout:
    try:
        return layout_of(header.schema, header.codec)
    except AvroSchemaError as exc:
        raise AvroReadError(f"the header's schema is not valid Avro: {exc}") from None


def empty_frame(path: Path) -> pl.DataFrame:
    """A frame with no rows and the columns the file's rows would have."""
    return pl.DataFrame(schema=layout(path).schema)


def iter_avro(path: Path, batch_rows: int = BATCH_ROWS) -> Iterator[pl.DataFrame]:
    """The rows of an Avro file as frames of about ``batch_rows`` rows (whole blocks)."""
    with path.open("rb") as fh:
        header = read_header(fh)
        shape = _layout(header)
        _check_codec(header)
        row = 0
        schema = shape.polars_schema
        polars_header = header.raw if schema is None else header.with_schema(schema)
        for group in iter_groups(fh, header, batch_rows):
            if group.rows:
                yield _micros(_decode(header, shape, group, polars_header), shape, row)
                row += group.rows


def read_avro(path: Path) -> pl.DataFrame:
    """The whole file as one frame (for small files and tests)."""
    frames = list(iter_avro(path))
    if not frames:
        return empty_frame(path)
    return pl.concat(frames, how="vertical", rechunk=True)


def stage_ipc(path: Path, folder: Path, batch_rows: int = BATCH_ROWS) -> list[Path]:
    """The file converted to Arrow IPC part files under ``folder``, a batch at a time.

    polars has no lazy Avro scan; ``pl.scan_ipc`` over the parts lets a recipe run on
    the streaming engine, so a job over a large Avro input keeps memory bounded (10M
    rows: ~300 MB peak, bench/avro_job.py). The parts are uncompressed: LZ4 made the
    conversion 3x slower for no gain in memory.
    """
    folder.mkdir(parents=True, exist_ok=True)
    parts: list[Path] = []
    for frame in iter_avro(path, batch_rows):
        parts.append(folder / f"part-{len(parts):05d}.arrow")
        frame.write_ipc(parts[-1], compression="uncompressed")
    if not parts:
        parts.append(folder / "part-00000.arrow")
        empty_frame(path).write_ipc(parts[-1], compression="uncompressed")
    return parts


def _check_codec(header: Header) -> None:
    import fastavro.read

    if header.codec not in fastavro.read.BLOCK_READERS:
        raise AvroReadError(
            f"the file is compressed with the {header.codec!r} codec, which is not an Avro "
            f"codec this reader knows ({', '.join(sorted(fastavro.read.BLOCK_READERS))})"
        )


def _decode(header: Header, shape: AvroLayout, group: Group, polars_header: bytes) -> pl.DataFrame:
    if shape.polars_ok:
        frame = _polars_group(polars_header, group)
        if frame is not None:
            return frame.select(_conform_polars(c) for c in shape.columns)
    try:
        return _fastavro_group(header, shape, group)
    except AvroReadError:
        raise
    except Exception as exc:
        # untrusted bytes: fastavro and the codecs raise many kinds of error
        raise _block_error(header, shape, group, exc) from None


def _micros(frame: pl.DataFrame, shape: AvroLayout, first_row: int) -> pl.DataFrame:
    """Nanosecond timestamps as microseconds; one with a fraction of a microsecond is an error."""
    nanos = [c for c in shape.columns if c.kind == "nanos"]
    if not nanos:
        return frame
    for column in nanos:
        values = frame.get_column(column.name)
        lost = (values % 1000 != 0).fill_null(False)
        if lost.any():
            index = int(lost.arg_true()[0])
            raise AvroReadError(
                f"column {column.name!r}, row {first_row + index + 1:,}: the timestamp "
                f"{values[index]} ns has a fraction of a microsecond, which no database "
                "keeps; publish would change it"
            )
    return frame.with_columns((pl.col(c.name) // 1000).cast(c.dtype) for c in nanos)


def _polars_group(polars_header: bytes, group: Group) -> pl.DataFrame | None:
    """The group read by polars, or None when polars fails (fastavro then says why).

    ``polars_header`` is the file's header, or one whose schema polars parses better.
    """
    with quiet_stderr():
        try:
            return pl.read_avro(io.BytesIO(polars_header + group.raw))
        except (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError):
            return None


def _conform_polars(column: AvroColumn) -> pl.Expr:
    if column.kind == "nanos":  # polars reads them as Int64; _micros converts them
        return pl.col(column.name).cast(pl.Int64)
    return pl.col(column.name).cast(column.dtype)


def _block_error(header: Header, shape: AvroLayout, group: Group, exc: Exception) -> Exception:
    """The error of the first block of ``group`` that does not decode."""
    place = where(group.first_block, group.offset)
    cause = exc
    if group.blocks > 1:
        for block in split(group):
            try:
                _fastavro_group(header, shape, block)
            except Exception as inner:
                place, cause = where(block.first_block, block.offset), inner
                break
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return AvroReadError(f"{place} does not decode ({text[:200]}): the file is corrupt")


def _fastavro_group(header: Header, shape: AvroLayout, group: Group) -> pl.DataFrame:
    import fastavro

    records: list[Any] = list(fastavro.reader(io.BytesIO(header.raw + group.raw)))
    if len(records) != group.rows:
        raise AvroReadError(
            f"{where(group.first_block, group.offset)} holds {len(records):,} rows, not the "
            f"{group.rows:,} its header says: the file is corrupt"
        )
    if shape.top_level_record:
        columns = [
            _series(c, [r[c.name] if r is not None else None for r in records])
            for c in shape.columns
        ]
    else:
        columns = [_series(shape.columns[0], records)]
    return pl.DataFrame(columns)


def _series(column: AvroColumn, values: list[Any]) -> pl.Series:
    kind = column.kind
    if kind == "json":
        values = [to_json(v) for v in values]
    elif kind == "json_plain":
        values = [None if v is None else plain_json(v) for v in values]
    elif kind == "duration":
        values = [duration_json(v) for v in values]
    elif kind == "uuid":
        values = [None if v is None else str(v) for v in values]
    elif kind == "decimal_text":
        values = [None if v is None else format(v, "f") for v in values]
    elif kind == "nanos":  # _micros converts them
        return pl.Series(column.name, values, dtype=pl.Int64, strict=True)
    return pl.Series(column.name, values, dtype=column.dtype, strict=True)
