"""PostgreSQL's binary COPY format, encoded from result frames with numpy, column by column.

The server parses binary COPY with far less work than CSV (no text to number or date
conversion), and COPY's speed is the server's. A row is a 16-bit field count, then per
field a 32-bit length (-1 for null) and the value in the column type's binary form:
big-endian integers and floats, one byte for a boolean, days and microseconds since
2000-01-01 for dates and timestamps, the UTF-8 bytes of text (jsonb: a version byte 1,
then the text). No value goes through a Python loop: each column becomes either a
block of fixed-width bytes per row, or a ragged run of bytes per row, and one numpy
gather lays the rows out.

Only pairs of a logical type and a column type whose binary form is exact are sent this
way (:func:`binary_plan`); a table with any other column (numeric, bytea, time,
interval, a domain...) is loaded as CSV, as before. The recv functions apply a column's
length limit (``character varying(n)``) as its text input does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

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

#: bytes of the padded rows laid out at once; rows whose longest values would need more
#: are laid out in smaller runs (one very long value does not pad every row of a batch).
#: Each batch's values, lengths and texts are computed once and the runs are slices of
#: them (halving the frame and starting again computed them at every level: ~40 % of
#: the encoding time of 1M rows)
_PADDED_BYTES = 2 << 20  # a 16k-row batch of ~130-byte rows is laid out in two runs


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


@dataclass
class _Layout:
    """One row's fields as a numpy structured dtype, what to put in each, and which bytes
    of each field are sent: all of them, but for null values, and for text shorter than
    its slot (as wide as the batch's longest text of the column)."""

    n: int
    fields: list[tuple[str, Any]] = field(default_factory=list)
    #: (field, values, bytes sent or None for all, values are a text slot's bytes)
    fill: list[tuple[str, Any, Any, bool]] = field(default_factory=list)

    def add(self, spec: Any, values: Any, sent: Any = None, text: bool = False) -> None:
        name = f"f{len(self.fields)}"
        self.fields.append((name, spec))
        self.fill.append((name, values, sent, text))

    def column(
        self, kind: str, values: np.ndarray[Any, Any], valid: Any, text: np.ndarray[Any, Any] | None
    ) -> None:
        """A field's length (-1: null), then its value: fixed width, or a slot of text."""
        if kind in _FIXED:
            width, dtype, _ = _FIXED[kind]
            self.add(">i4", width if valid is None else np.where(valid, width, -1))
            self.add(dtype, _sendable(values, kind), None if valid is None else valid[:, None])
            return
        lengths = values
        if kind == "jsonb":  # a version byte, then the JSON text
            self.add(">i4", lengths + 1 if valid is None else np.where(valid, lengths + 1, -1))
            self.add("u1", 1, None if valid is None else valid[:, None])
        else:
            self.add(">i4", lengths if valid is None else np.where(valid, lengths, -1))
        width = int(lengths.max(initial=0))
        if width:
            self.add(("u1", (width,)), text, _prefixes(lengths, width), text=True)

    def rows(self) -> memoryview:
        """Every row, its fields in order, without the bytes not sent."""
        dtype = np.dtype(self.fields)
        table = np.empty(self.n, dtype)
        flat = table.view(np.uint8).reshape(self.n, dtype.itemsize)
        sent = np.ones_like(flat, np.bool_)
        for name, values, mask, text in self.fill:
            spec, at = dtype.fields[name][:2]  # type: ignore[index]
            if mask is not None:
                sent[:, at : at + spec.itemsize] = mask
            if text:  # the texts' bytes, in order, fill the head of each row's slot
                table[name][mask] = values
            else:
                table[name] = values  # numpy converts to the field's big-endian type
        rows: np.ndarray[Any, Any] = flat[sent]
        return rows.data


def _prefixes(lengths: np.ndarray[Any, Any], width: int) -> np.ndarray[Any, Any]:
    """Row i: ``lengths[i]`` Trues, then Falses, ``width`` in all."""
    if width < len(lengths):  # gather rows of a small table: faster than comparing
        table: np.ndarray[Any, Any] = np.arange(width) < np.arange(width + 1)[:, None]
        mask: np.ndarray[Any, Any] = table[lengths]
        return mask
    return np.arange(width) < lengths[:, None]


@dataclass(frozen=True)
class _Field:
    """One column of a batch, ready to lay out: its values (for text, the byte lengths),
    which are not null (None: all), and for text every value's bytes in order, with where
    each row's start (``starts[i]`` to ``starts[i + 1]``)."""

    kind: str
    numbers: np.ndarray[Any, Any]
    valid: np.ndarray[Any, Any] | None
    data: np.ndarray[Any, Any] | None = None
    starts: np.ndarray[Any, Any] | None = None

    def width(self, a: int, b: int) -> int:
        """Bytes of this field in a row of rows ``a`` to ``b`` padded to the widest."""
        if self.kind in _FIXED:
            return 4 + _FIXED[self.kind][0]
        return 5 + int(self.numbers[a:b].max(initial=0))


def binary_rows(frame: pl.DataFrame, plan: BinaryPlan) -> list[memoryview]:
    """The frame's rows in binary COPY format (without the header and trailer), in parts."""
    n = frame.height
    if not n:
        return []
    names = list(zip(plan.names, plan.kinds, strict=True))
    values = frame.select(_values(name, kind).alias(name) for name, kind in names)
    texts = [name for name, kind in names if kind not in _FIXED]
    text_of: dict[str, bytes] = {}
    if texts:
        joined = frame.select(pl.col(texts).cast(pl.String).str.join("").cast(pl.Binary))
        text_of = dict(zip(texts, joined.row(0), strict=True))
    fields = []
    for name, kind in names:
        column = frame.get_column(name)
        valid = column.is_not_null().to_numpy() if column.null_count() else None
        numbers = values.get_column(name).to_numpy(writable=True)
        if kind in _FIXED:
            fields.append(_Field(kind, numbers, valid))
            continue
        starts = np.zeros(n + 1, np.int64)
        np.cumsum(numbers, out=starts[1:])
        data = np.frombuffer(text_of[name], np.uint8)
        fields.append(_Field(kind, numbers, valid, data, starts))
    return [_laid_out(fields, a, b) for a, b in _runs(fields, 0, n)]


def _runs(fields: list[_Field], a: int, b: int) -> Iterator[tuple[int, int]]:
    """Ranges of rows whose rows, padded to the range's widest texts, fit in
    ``_PADDED_BYTES``: halved until they do, so one long value pads only its own run."""
    width = 2 + sum(f.width(a, b) for f in fields)
    if b - a > 1 and (b - a) * width > _PADDED_BYTES:
        middle = (a + b) // 2
        yield from _runs(fields, a, middle)
        yield from _runs(fields, middle, b)
    else:
        yield a, b


def _laid_out(fields: list[_Field], a: int, b: int) -> memoryview:
    """Rows ``a`` to ``b``, their fields in order."""
    layout = _Layout(b - a)
    layout.add(">i2", len(fields))
    for f in fields:
        valid = None if f.valid is None else f.valid[a:b]
        text = None
        if f.data is not None and f.starts is not None:
            text = f.data[f.starts[a] : f.starts[b]]
        layout.column(f.kind, f.numbers[a:b], valid, text)
    return layout.rows()
