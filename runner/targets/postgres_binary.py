"""PostgreSQL's binary COPY format, encoded from result frames with numpy, column by column.

The server parses binary COPY with far less work than CSV (no text to number or date
conversion), and COPY's speed is the server's. A row is a 16-bit field count, then per
field a 32-bit length (-1 for null) and the value in the column type's binary form:
big-endian integers and floats, one byte for a boolean, days and microseconds since
2000-01-01 for dates and timestamps, the UTF-8 bytes of text (jsonb: a version byte 1,
then the text). No value goes through a Python loop: the fields every row has at the
same width (the field count, non-null numbers, every length) are laid out by numpy as
one structured array per run of them, the others (a nullable column's values, texts)
are Arrow arrays, and Arrow's ``binary_join_element_wise`` joins them row by row. That
join measured ~1.5x faster than the earlier numpy layout (rows padded to the widest
text, then compacted by a mask) on 1M rows of 10 columns, with the same bytes, and no
row is ever padded (one very long text no longer widens a whole batch).

Only pairs of a logical type and a column type whose binary form is exact are sent this
way (:func:`binary_plan`); a table with any other column (numeric, bytea, time,
interval, a domain...) is loaded as CSV, as before. The recv functions apply a column's
length limit (``character varying(n)``) as its text input does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from runner.result_types import ResultSchema

HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
TRAILER = b"\xff\xff"

_EPOCH_DAYS = 10_957  # 2000-01-01 (PostgreSQL's epoch) in days since 1970-01-01
_EPOCH_US = _EPOCH_DAYS * 86_400 * 1_000_000
_INT32 = np.iinfo(np.int32)
_INT64 = np.iinfo(np.int64)

#: encoder kind -> (width in bytes, big-endian numpy dtype, polars dtype cast to first)
_FIXED: Mapping[str, tuple[int, str, pl.DataType]] = {
    "int2": (2, ">i2", pl.Int16()),
    "int4": (4, ">i4", pl.Int32()),
    "int8": (8, ">i8", pl.Int64()),
    "float4": (4, ">f4", pl.Float32()),
    "float8": (8, ">f8", pl.Float64()),
    "bool": (1, "u1", pl.UInt8()),
    "date": (4, ">i4", pl.Int32()),
    "timestamp": (8, ">i8", pl.Int64()),
}
_TEXT_TYPES = ("text", "character varying", "character")

#: (logical type, column type without its length) -> encoder kind
_KINDS: Mapping[tuple[str, str], str] = {
    **{(lt, "smallint"): "int2" for lt in ("int8", "int16")},
    **{(lt, "integer"): "int4" for lt in ("int8", "int16", "int32")},
    **{(lt, "bigint"): "int8" for lt in ("int8", "int16", "int32", "int64")},
    ("float32", "real"): "float4",
    ("float64", "double precision"): "float8",
    ("boolean", "boolean"): "bool",
    **{(lt, t): "text" for lt in ("string", "json") for t in _TEXT_TYPES},
    ("json", "json"): "text",
    ("json", "jsonb"): "jsonb",
    ("date", "date"): "date",
    ("timestamp", "timestamp without time zone"): "timestamp",
    ("timestamptz", "timestamp with time zone"): "timestamp",
}


@dataclass(frozen=True)
class BinaryPlan:
    """The column order of the COPY (fixed-width columns first) and each one's encoder."""

    names: tuple[str, ...]
    kinds: tuple[str, ...]


def _column_kind(logical: str, sql_type: str) -> str | None:
    sql_type = sql_type.strip().lower()
    base, _, rest = sql_type.partition("(")
    if rest and base.strip() not in ("character varying", "character"):
        return None  # a precision (timestamp(3), ...) is applied by the text input only
    if rest and not rest.rstrip(")").strip().isdigit():
        return None
    return _KINDS.get((logical.strip().lower(), base.strip()))


def binary_plan(schema: ResultSchema, column_types: Mapping[str, str]) -> BinaryPlan | None:
    """How to send every result column in binary, or None when one cannot be.

    ``column_types``: the table's column type (as ``format_type`` spells it) by name.
    """
    kinds: dict[str, str] = {}
    for column in schema.columns:
        sql_type = column_types.get(column.name)
        kind = _column_kind(column.type, sql_type) if sql_type else None
        if kind is None:
            return None
        kinds[column.name] = kind
    order = sorted(kinds, key=lambda n: kinds[n] not in _FIXED)  # stable: fixed ones first
    return BinaryPlan(tuple(order), tuple(kinds[n] for n in order))


# -- laying rows out -----------------------------------------------------------------


def _values(name: str, kind: str) -> pl.Expr:
    """The column's values as the numbers its binary form holds (nulls as 0), or for
    text its byte lengths."""
    col = pl.col(name)
    if kind == "timestamp":
        return col.dt.cast_time_unit("us").to_physical().fill_null(0)
    if kind == "date":
        return col.to_physical().cast(pl.Int64).fill_null(0) - _EPOCH_DAYS
    if kind in _FIXED:
        return col.cast(_FIXED[kind][2]).fill_null(0)
    return col.cast(pl.String).str.len_bytes().cast(pl.Int64).fill_null(0)


def _sendable(values: np.ndarray[Any, Any], kind: str) -> np.ndarray[Any, Any]:
    """Dates and timestamps the server reads back as sent, or refuses."""
    if kind == "timestamp":
        # INT64_MIN is -infinity to the server, and lower values wrap: send a value it refuses
        values = values - _EPOCH_US
        values[values == _INT64.min] = _INT64.min + 1
        values[values > _INT64.max - _EPOCH_US] = _INT64.min + 1
    elif kind == "date":  # INT32_MIN is -infinity, lower values do not fit: likewise
        values = np.clip(values, _INT32.min + 1, _INT32.max)
    return values


def _fixed(data: np.ndarray[Any, Any], valid: np.ndarray[Any, Any] | None) -> pa.Array:
    """Row i: the bytes of ``data[i]`` (all rows as wide), or null where not ``valid``."""
    n = len(data)
    width = data.dtype.itemsize
    bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    buffers = [bitmap, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data))]
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), n, buffers)


@dataclass
class _Rows:
    """The rows' fields as Arrow arrays joined row by row: runs of fields that every row
    has at the same width share one numpy structured array (one array per run, not per
    field); a field that is absent for some rows (a null's value, a text) is its own."""

    n: int
    parts: list[pa.Array] = field(default_factory=list)
    run: list[tuple[str, Any]] = field(default_factory=list)

    def same_width(self, dtype: str, values: Any) -> None:
        self.run.append((dtype, values))

    def own(self, array: pa.Array) -> None:
        self._close_run()
        self.parts.append(array)

    def _close_run(self) -> None:
        if not self.run:
            return
        table = np.empty(self.n, [(f"f{i}", d) for i, (d, _) in enumerate(self.run)])
        for i, (_, values) in enumerate(self.run):
            table[f"f{i}"] = values  # numpy converts to the field's big-endian type
        self.parts.append(_fixed(table.view(f"V{table.dtype.itemsize}"), None))
        self.run = []

    def column(self, kind: str, values: np.ndarray[Any, Any], valid: Any, text: Any) -> None:
        """A field's length (-1: null), then its value (none for a null)."""
        if kind in _FIXED:
            width, dtype, _ = _FIXED[kind]
            values = _sendable(values, kind)
            if valid is None:
                self.same_width(">i4", width)
                self.same_width(dtype, values)
            else:
                self.same_width(">i4", np.where(valid, width, -1))
                self.own(_fixed(values.astype(dtype), valid))
            return
        extra = 1 if kind == "jsonb" else 0  # a version byte, then the JSON text
        self.same_width(
            ">i4", values + extra if valid is None else np.where(valid, values + extra, -1)
        )
        if extra:
            self.own(_fixed(np.ones(self.n, np.uint8), valid))
        self.own(text)

    def joined(self) -> memoryview:
        """Every row, its fields in order."""
        self._close_run()
        if len(self.parts) == 1:
            rows = self.parts[0]
        else:
            nothing = pa.scalar(b"", pa.large_binary())
            rows = pc.binary_join_element_wise(
                *self.parts, nothing, null_handling="replace", null_replacement=b""
            )
        offsets = np.frombuffer(rows.buffers()[1], np.int64, self.n + 1, rows.offset * 8)
        return memoryview(rows.buffers()[2])[offsets[0] : offsets[-1]]


def binary_rows(frame: pl.DataFrame, plan: BinaryPlan) -> list[memoryview]:
    """The frame's rows in binary COPY format (without the header and trailer), in parts."""
    n = frame.height
    if not n:
        return []
    names = list(zip(plan.names, plan.kinds, strict=True))
    values = frame.select(_values(name, kind).alias(name) for name, kind in names)
    rows = _Rows(n)
    rows.same_width(">i2", len(names))
    for name, kind in names:
        column = frame.get_column(name)
        valid = column.is_not_null().to_numpy() if column.null_count() else None
        numbers = values.get_column(name).to_numpy(writable=True)
        text = None
        if kind not in _FIXED:
            text = column.cast(pl.String).to_arrow().cast(pa.large_binary())
        rows.column(kind, numbers, valid, text)
    return [rows.joined()]
