"""PostgreSQL's dialect (Redshift starts from it): column types, type matching, COPY CSV."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable

import polars as pl

from runner.results import decimal_of
from runner.targets._ledger import LedgerDialect
from runner.targets.dialect import LOGICAL_BITS, STANDARD_TYPES, Dialect, decimal_fits
from runner.targets.frames import prepare

DIALECT = Dialect(
    vendor="postgres",
    types={
        **STANDARD_TYPES,
        "binary": "bytea",
        "time": "time without time zone",
        "timestamp": "timestamp without time zone",
        "timestamptz": "timestamp with time zone",
        "json": "jsonb",
    },
    decimal="numeric",
    int_bits={"smallint": 16, "integer": 32, "bigint": 64},
    ledger=LedgerDialect(
        text=lambda n: f"varchar({n})",
        count="bigint",
        published_at="timestamp with time zone default current_timestamp",
        mark="%s",
    ),
    name_bytes=63,  # longer identifiers are silently truncated by the server
    title="PostgreSQL",
    refused_values={"nul": "PostgreSQL text cannot hold it"},
)

_STRING_TYPES = ("text", "character varying", "character", "varchar", "char")
_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S%.f"


def _base(sql_type: str) -> tuple[str, tuple[int, ...]]:
    """``numeric(12,2)`` -> ``("numeric", (12, 2))``."""
    m = re.match(r"^([a-z ]+?)\s*(?:\(([\d,\s]+)\))?(\s+with(?:out)? time zone)?$", sql_type)
    if not m:
        return sql_type, ()
    name = m.group(1) + (m.group(3) or "")
    args = tuple(int(a) for a in m.group(2).split(",")) if m.group(2) else ()
    return name, args


def pg_type_matches(sql_type: str, logical: str, dialect: Dialect = DIALECT) -> bool:
    """Whether a column of ``sql_type`` holds every value of ``logical`` unchanged.

    The rule is conservative, "no value can be lost or altered":

    - integers fit an integer column at least as wide (int32 fits integer and bigint,
      int64 only bigint), or an unconstrained ``numeric``;
    - float32 fits real and double precision, float64 only double precision;
    - decimal(p,s) fits numeric(P,S) when S >= s and P - S >= p - s, or plain numeric;
    - string fits any character type (text, character varying(n), character(n)); the
      length of a bounded column cannot be checked before the load, so a value too long
      fails the load with its row and column instead;
    - everything else needs the same type (timestamp and timestamptz are not mixed).
    """
    name, args = _base(sql_type.strip().lower())
    logical = logical.strip().lower()
    if logical in LOGICAL_BITS and logical != "boolean":
        return not args if name == "numeric" else dialect.int_fits(name, logical)
    if logical == "float32":
        return name in ("real", "double precision")
    if logical == "float64":
        return name == "double precision"
    dec = decimal_of(logical)
    if dec is not None:
        if name != "numeric":
            return False
        return not args or decimal_fits(dec, args[0], args[1] if len(args) > 1 else 0)
    if logical == "string":
        return name in _STRING_TYPES
    if logical == "json":  # JSON text: a json/jsonb column, or text holding it unchanged
        return name in ("jsonb", "json", *_STRING_TYPES)
    return dialect.types.get(logical) == name


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """The frame as CSV that ``COPY ... (FORMAT csv, NULL '')`` reads back exactly in a
    UTC session.

    Binary becomes ``\\x`` hex; time-zone-aware timestamps become UTC wall time;
    everything else polars writes in a form Postgres parses (ISO dates and timestamps,
    true/false, NaN/inf). Nulls are empty unquoted fields and empty strings are ``""``,
    which ``NULL ''`` tells apart.
    """
    buf = io.BytesIO()
    # every string is quoted, so no line can be the end-of-data marker \. (a value
    # "\." alone in its row was one, and COPY stopped there); chrono's default ISO
    # format with "T" costs ~2x this one, and Postgres reads both
    prepare(frame, binary_prefix="\\x").write_csv(
        buf, include_header=False, datetime_format=_DATETIME_FORMAT, quote_style="non_numeric"
    )
    return buf.getvalue()


def row_of_line(frames: Iterable[pl.DataFrame], line: int) -> int:
    """The results row (1-based) of the CSV record PostgreSQL's COPY names ``line``.

    COPY counts physical lines: a record adds one, and every line feed inside a quoted
    value adds one more, except in the first record (read before COPY knows the line
    ending). The record reported is the one whose last line is ``line``.
    """
    row = 0
    ended = 0  # the physical line the previous record ended on
    for frame in frames:
        strings = [n for n, t in frame.schema.items() if isinstance(t, pl.String)]
        feeds = (
            frame.select(
                pl.sum_horizontal(
                    pl.col(n).str.count_matches("\n", literal=True).fill_null(0) for n in strings
                )
            ).to_series()
            if strings
            else pl.Series([0] * len(frame))
        )
        if row == 0 and len(feeds):
            feeds[0] = 0
        last = (feeds + 1).cum_sum() + ended
        at = (last >= line).arg_true()
        if len(at):
            return row + int(at[0]) + 1
        row += len(frame)
        ended = int(last[-1]) if len(last) else ended
    return line
