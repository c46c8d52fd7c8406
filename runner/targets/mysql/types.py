"""MySQL / MariaDB's dialect: column types, type matching, and the CSV LOAD DATA reads."""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from runner.results import decimal_of
from runner.targets._ledger import LedgerDialect
from runner.targets.dialect import LOGICAL_BITS, Dialect, decimal_fits
from runner.targets.frames import prepare


def quote(name: str) -> str:
    """A MySQL identifier in backticks, any backtick inside doubled."""
    return "`" + name.replace("`", "``") + "`"


DIALECT = Dialect(
    vendor="mysql",
    types={
        "boolean": "tinyint(1)",
        "int8": "tinyint",
        "int16": "smallint",
        "int32": "int",
        "int64": "bigint",
        "float32": "float",
        "float64": "double",
        "string": "longtext",
        "binary": "longblob",
        "date": "date",
        "time": "time(6)",
        "timestamp": "datetime(6)",
        "timestamptz": "datetime(6)",  # stored as UTC: MySQL keeps no offset
        "json": "json",  # MariaDB: longtext checked by json_valid
    },
    decimal="decimal",
    int_bits={"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "bigint": 64},
    ledger=LedgerDialect(
        text=lambda n: f"varchar({n})",
        count="bigint",
        published_at="timestamp(6) default current_timestamp(6)",
        mark="%s",
        quote=quote,  # `rows` is a reserved word in MySQL 8
        suffix=" engine=InnoDB default charset=utf8mb4",
        upsert=True,
    ),
    quote=quote,
    title="MySQL/MariaDB",
    name_chars=64,
    no_trailing_space=True,
    bmp_names=True,
    # InnoDB's widest index (DYNAMIC rows); a text key is varchar(255) of up to 4 bytes each
    index_bytes=3072,
    key_bytes={
        "string": 1022,
        "binary": 257,
        "boolean": 1,
        "int8": 1,
        "int16": 2,
        "int32": 4,
        "int64": 8,
        "float32": 4,
        "float64": 8,
        "date": 3,
        "time": 6,
        "timestamp": 8,
        "timestamptz": 8,
    },
    # a key needs a bounded length to be indexed
    key_types={"longtext": "varchar(255)", "longblob": "varbinary(255)"},
    fold_case=True,
    # the baseline; a server with a NO PAD binary collation gets that (see .connect)
    text_collation="utf8mb4_bin",
    exact_digits=65,
    wide_decimal="longtext",
    refused_values={
        "nan": "MySQL/MariaDB floats cannot hold NaN",
        "infinity": "MySQL/MariaDB floats cannot hold infinity",
    },
)

_STRINGS = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext")
_BINARIES = ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob")
_SAME = {"date": ("date", ()), "time": ("time", (6,))}


def normalise_type(column_type: str) -> str:
    """``int(11)`` -> ``int`` (display widths mean nothing); ``tinyint(1)`` stays."""
    t = column_type.strip().lower()
    if t.startswith("tinyint(1)"):
        return t
    return re.sub(r"^(tinyint|smallint|mediumint|int|bigint)\(\d+\)", r"\1", t)


def mysql_type_matches(sql_type: str, logical: str) -> bool:
    """Whether a MySQL column holds every value of ``logical`` unchanged.

    Conservative: integers (and booleans, stored as 0/1) need a signed integer column
    at least as wide; float32 fits float and double, float64 only double;
    decimal(p,s) needs decimal(P,S) with S >= s and P - S >= p - s; strings fit any
    char/text column (a bounded length is checked by the load, which fails with the
    row); binary fits any binary/blob column; timestamps need datetime(6) or
    timestamp(6) (fewer fractional digits would round); time needs time(6).
    """
    m = re.match(r"^([a-z]+)(?:\(([\d,]+)\))?(\s+unsigned)?", normalise_type(sql_type))
    if not m:
        return False
    name, args = m.group(1), tuple(int(a) for a in (m.group(2) or "").split(",") if a)
    logical = logical.strip().lower()
    if logical in LOGICAL_BITS:
        return not m.group(3) and DIALECT.int_fits(name, logical)
    if logical in ("float32", "float64"):
        return name == "double" or (logical == "float32" and name == "float")
    dec = decimal_of(logical)
    if dec is not None and dec[0] > 65:  # exact text: no decimal column is wide enough
        return name in _STRINGS
    if dec is not None:
        if name != "decimal" or not args:
            return False
        return decimal_fits(dec, args[0], args[1] if len(args) > 1 else 0)
    if logical in ("string", "binary"):
        return name in (_STRINGS if logical == "string" else _BINARIES)
    if logical == "json":  # JSON text: a json column, or text holding it unchanged
        return name == "json" or name in _STRINGS
    if logical in _SAME:
        return (name, args) == _SAME[logical]
    if logical in ("timestamp", "timestamptz"):
        return name in ("datetime", "timestamp") and args == (6,)
    return False


def mysql_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Booleans as 0/1, binary as hex (UNHEX on load), aware timestamps as UTC wall time,
    float32 as the double it is: its shortest text (3.4028235e38 for the largest float)
    reads as a double just past the largest float, which MySQL refuses as out of range."""
    frame = prepare(frame, binary_prefix="", booleans_as_int=True)
    singles = [n for n, t in frame.schema.items() if isinstance(t, pl.Float32)]
    return frame.with_columns(pl.col(singles).cast(pl.Float64)) if singles else frame


def write_csv(frame: pl.DataFrame, out: Any) -> None:
    """CSV that LOAD DATA reads back exactly: strings quoted, NULL as a bare word."""
    mysql_frame(frame).write_csv(
        out,
        include_header=False,
        quote_style="non_numeric",
        null_value="NULL",
        datetime_format="%Y-%m-%d %H:%M:%S%.6f",
        time_format="%H:%M:%S%.6f",
    )
