"""PostgreSQL binary COPY encoding (no server: the bytes and the choice of format)."""

from __future__ import annotations

import struct

import polars as pl
import pytest

from runner.results import Column, ResultSchema
from runner.targets import postgres_binary
from runner.targets.postgres_binary import binary_plan, binary_rows


def schema(*columns: tuple[str, str]) -> ResultSchema:
    return ResultSchema(tuple(Column(n, t) for n, t in columns))


@pytest.mark.parametrize(
    ("logical", "column", "binary"),
    [
        ("int32", "bigint", True),
        ("int64", "integer", False),  # would not fit: CSV, and the server's own error
        ("float32", "double precision", False),  # CSV widens its shortest text
        ("string", "character varying(12)", True),
        ("string", "character(3)", True),
        ("json", "jsonb", True),
        ("timestamp", "timestamp(3) without time zone", False),  # rounding: text input's
        ("timestamptz", "timestamp with time zone", True),
        ("decimal(10,2)", "numeric(10,2)", False),
        ("int64", "numeric", False),
        ("binary", "bytea", False),
        ("time", "time without time zone", False),
        ("string", "mood", False),  # an enum, a domain: only the types known here
    ],
)
def test_binary_only_where_the_binary_form_is_exact(
    logical: str, column: str, binary: bool
) -> None:
    plan = binary_plan(schema(("id", "int64"), ("v", logical)), {"id": "bigint", "v": column})
    assert (plan is not None) is binary


def test_fixed_width_columns_go_first_and_each_field_is_length_then_value() -> None:
    plan = binary_plan(
        schema(("s", "string"), ("id", "int16"), ("d", "date")),
        {"s": "text", "id": "smallint", "d": "date"},
    )
    assert plan is not None and plan.names == ("id", "d", "s")
    frame = pl.DataFrame(
        {"s": ["ab", None], "id": pl.Series([7, -1], dtype=pl.Int16), "d": [None, None]},
        schema_overrides={"d": pl.Date},
    )
    data = b"".join(binary_rows(frame, plan))
    row1 = struct.pack(">hih", 3, 2, 7) + struct.pack(">i", -1) + struct.pack(">i", 2) + b"ab"
    row2 = struct.pack(">hih", 3, 2, -1) + struct.pack(">i", -1) + struct.pack(">i", -1)
    assert data == row1 + row2


def _reference(
    rows: list[tuple[int | None, str | None, str | None]], *, jsonb: bool = True
) -> bytes:
    """Rows of (bigint, text, jsonb) encoded field by field with struct (``jsonb`` False:
    rows of (bigint, text))."""
    out = b""
    for number, text, document in rows:
        out += struct.pack(">h", 3 if jsonb else 2)
        out += struct.pack(">i", -1) if number is None else struct.pack(">iq", 8, number)
        for value, prefix in ((text, b""), (document, b"\x01"))[: 2 if jsonb else 1]:
            data = None if value is None else prefix + value.encode()
            out += struct.pack(">i", -1) if data is None else struct.pack(">i", len(data)) + data
    return out


def test_rows_of_any_width_and_slices_of_a_frame_encode_field_by_field() -> None:
    plan = binary_plan(
        schema(("id", "int64"), ("s", "string"), ("j", "json")),
        {"id": "bigint", "s": "text", "j": "jsonb"},
    )
    assert plan is not None
    rows: list[tuple[int | None, str | None, str | None]] = [
        (1, "", '{"a": 1}'),
        (None, None, None),
        (-(2**63), "y" * 100_000, "[]"),  # one long value next to short ones
        (2**63 - 1, "é€😀", None),
    ]
    frame = pl.DataFrame(rows, schema=["id", "s", "j"], orient="row")
    assert b"".join(binary_rows(frame, plan)) == _reference(rows)
    for start in (1, 2, 3):  # a slice: Arrow arrays with an offset
        assert b"".join(binary_rows(frame[start:], plan)) == _reference(rows[start:])
    assert binary_rows(frame[:0], plan) == []


def test_one_long_value_is_laid_out_apart_not_padding_every_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = binary_plan(schema(("id", "int64"), ("s", "string")), {"id": "bigint", "s": "text"})
    assert plan is not None
    texts = ["x"] * 1_000
    texts[500] = "y" * 100_000  # padding every row to it would take 100 MB
    frame = pl.DataFrame({"id": range(1_000), "s": texts})
    parts = binary_rows(frame, plan)
    assert len(parts) > 1 and max(len(p) for p in parts) < 200_000
    monkeypatch.setattr(postgres_binary, "_PADDED_BYTES", 1 << 40)
    whole = binary_rows(frame, plan)
    assert len(whole) == 1 and b"".join(parts) == b"".join(whole)
    assert b"".join(whole) == _reference([(i, t, None) for i, t in enumerate(texts)], jsonb=False)
