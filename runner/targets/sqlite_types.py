"""SQLite's dialect: column types, affinity, type matching and bindable values."""

from __future__ import annotations

import re

import polars as pl

from runner.results import ResultSchema, decimal_of
from runner.targets._ledger import LedgerDialect
from runner.targets.dialect import STANDARD_TYPES, Dialect, decimal_fits, double_quote
from runner.targets.frames import prepare

DIALECT = Dialect(
    vendor="sqlite",
    types={
        **STANDARD_TYPES,
        "binary": "blob",
        "time": "time",
        "timestamp": "timestamp",
        "timestamptz": "timestamptz",
    },
    decimal="numeric",
    int_bits={},  # INTEGER affinity holds every 64-bit integer
    ledger=LedgerDialect(
        text=lambda _: "text",
        count="integer",
        published_at="text not null",
        mark="?",
        client_stamp=True,
        table_only=True,
    ),
    quote=double_quote,
    fallback="text",
    fold_case=True,
    exact_digits=15,
    wide_decimal="numeric_text({p},{s})",  # TEXT affinity: stored as written
    title="SQLite",
    refused_values={"nan": "SQLite stores NaN as NULL"},
)

_NUMERIC = re.compile(r"^(numeric|decimal)(_text)?(?:\((\d+)(?:,(\d+))?\))?$")


def normalise_type(declared: str) -> str:
    """A declared column type in lower case with single spaces and none inside parentheses."""
    text = " ".join(declared.lower().split())
    return re.sub(r"\s*([(),])\s*", r"\1", text)


def affinity(declared: str) -> str:
    """SQLite's column affinity for a declared type (section 3.1 of its datatype docs)."""
    upper = declared.upper()
    if "INT" in upper:
        return "INTEGER"
    if any(s in upper for s in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if not upper or "BLOB" in upper:
        return "BLOB"
    if any(s in upper for s in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def _decimal_matches(declared: str, dec: tuple[int, int]) -> bool:
    """numeric(P,S) holds decimals of up to 15 digits exactly; wider ones need text."""
    numeric = _NUMERIC.match(declared)
    if numeric is None:
        return dec[0] > 15 and affinity(declared) == "TEXT"
    if dec[0] > 15 and not numeric[2]:
        return False
    if numeric[3] is None:
        return True
    return decimal_fits(dec, int(numeric[3]), int(numeric[4] or 0))


_BY_AFFINITY = {"string": "TEXT", "json": "TEXT", "binary": "BLOB"}
_SPELLINGS = {
    "boolean": ("boolean", "bool"),
    "timestamp": ("timestamp", "datetime"),
    "timestamptz": ("timestamptz", "timestamp with time zone"),
}


def type_matches(declared_type: str, logical: str) -> bool:
    """Whether a column declared ``declared_type`` holds every ``logical`` value unchanged."""
    declared = normalise_type(declared_type)
    if not declared or declared == DIALECT.sql_type(logical):
        return True  # a column without a type holds anything unchanged
    aff = affinity(declared)
    if logical.startswith("int"):
        numeric = _NUMERIC.match(declared)
        return aff == "INTEGER" or bool(numeric and not numeric[2] and numeric[4] in (None, "0"))
    if logical == "boolean" and aff == "INTEGER":
        return True
    if logical.startswith("float"):
        return aff == "REAL"
    dec = decimal_of(logical)
    if dec is not None:
        return _decimal_matches(declared, dec)
    if logical in _BY_AFFINITY:
        return aff == _BY_AFFINITY[logical]
    return declared in _SPELLINGS.get(logical, ())


#: the text :func:`bindable` writes dates, times and timestamps as
TIME_TEXT = {
    "date": "%Y-%m-%d",
    "time": "%H:%M:%S%.6f",
    "timestamp": "%Y-%m-%d %H:%M:%S%.6f",
    "timestamptz": "%Y-%m-%d %H:%M:%S%.6f+00:00",
}
#: what ``bindable(..., dates=False)`` leaves as they are (in UTC for timestamptz)
LATE_TEXT = frozenset({"date", "timestamp", "timestamptz"})


def bindable(frame: pl.DataFrame, schema: ResultSchema, *, dates: bool = True) -> pl.DataFrame:
    """Every column as a type sqlite3 binds without adapters (columnar).

    ``dates`` False: columns of :data:`LATE_TEXT` stay dates and timestamps, for the
    caller to write as the text of :data:`TIME_TEXT` (see ``sqlite_stage.to_arrow``).
    """
    frame = prepare(frame, booleans_as_int=True)
    exprs: list[pl.Expr] = []
    for c in schema.columns:
        col = pl.col(c.name)
        if (dec := decimal_of(c.type)) is not None:
            # NUMERIC affinity turns decimal text into REAL (INTEGER when whole), so up to
            # 15 digits a bound float stores the same value for less work; wider decimals
            # go as text into a TEXT-affinity column (numeric_text(P,S)), which keeps it
            col = col.cast(pl.Float64) if dec[0] <= 15 else col.cast(pl.String)
        elif c.type in TIME_TEXT and (dates or c.type not in LATE_TEXT):
            col = col.dt.to_string(TIME_TEXT[c.type])
        elif c.type == "float32":
            col = col.cast(pl.Float64)
        exprs.append(col)
    return frame.select(exprs)
