"""One comparable form per logical type, for the results and for each database's rows.

Rows are compared in a *canonical* form: both sides are cast to the same polars dtype
per column, so a row hash is equal exactly when the values are. Decimals compare as
doubles (SQLite stores them as REAL; about 15 significant digits), 32-bit floats as
32-bit floats (the databases store them so), every integer width as Int64.

The table side arrives in one of two shapes:

- *text* (PostgreSQL ``COPY ... TO STDOUT (FORMAT csv)`` in a UTC session, MySQL
  ``CAST(... AS CHAR)``): parsed with the formats those databases print;
- SQLite: one JSON array per column and batch, decoded by polars; dates, times and
  timestamps stay the text the loader wrote (SQLite keeps that text), doubles are read
  with 17 significant digits so they compare exactly.

A value that does not parse becomes null, so it shows as changed rather than hiding.
"""

from __future__ import annotations

import polars as pl

from runner.results import decimal_of

_INTS = frozenset({"int8", "int16", "int32", "int64"})
_TEMPORAL_FORMATS = {
    "date": "%Y-%m-%d",
    "time": "%H:%M:%S%.f",
    "timestamp": "%Y-%m-%d %H:%M:%S%.f",
}


def canonical_dtype(logical: str) -> pl.DataType:
    """The dtype both sides of a column are compared in."""
    if logical in _INTS:
        return pl.Int64()
    if logical == "float32":
        return pl.Float32()
    if logical == "float64" or decimal_of(logical) is not None:
        return pl.Float64()
    simple: dict[str, pl.DataType] = {
        "boolean": pl.Boolean(),
        "binary": pl.Binary(),
        "date": pl.Date(),
        "time": pl.Time(),
        "timestamp": pl.Datetime("us"),
        "timestamptz": pl.Datetime("us", "UTC"),
    }
    return simple.get(logical, pl.String())


def results_expr(name: str, logical: str) -> pl.Expr:
    """A results column (as :func:`runner.results.iter_frames` yields it), canonical."""
    return pl.col(name).cast(canonical_dtype(logical), strict=False).alias(name)


def _parse_timestamptz(col: pl.Expr) -> pl.Expr:
    # PostgreSQL prints "+00", SQLite's loader wrote "+00:00"; %#z takes both
    text = col.str.replace(r"T", " ", literal=True)
    return text.str.to_datetime(
        "%Y-%m-%d %H:%M:%S%.f%#z", time_unit="us", time_zone="UTC", strict=False
    )


def text_expr(name: str, logical: str, *, vendor: str) -> pl.Expr:
    """A column of database text (PostgreSQL CSV, MySQL CHAR), canonical."""
    col = pl.col(name)
    out: pl.Expr
    if logical == "boolean":
        lowered = col.str.to_lowercase()
        out = (
            pl.when(lowered.is_in(["t", "true", "1"]))
            .then(True)
            .when(lowered.is_in(["f", "false", "0"]))
            .then(False)
            .otherwise(None)
        )
    elif logical == "binary":
        hexed = col.str.strip_prefix("\\x") if vendor == "postgres" else col
        out = hexed.str.decode("hex", strict=False)
    elif logical in _TEMPORAL_FORMATS:
        fmt = _TEMPORAL_FORMATS[logical]
        if logical == "date":
            out = col.str.to_date(fmt, strict=False)
        elif logical == "time":
            out = col.str.to_time(fmt, strict=False)
        else:
            out = col.str.replace("T", " ", literal=True).str.to_datetime(
                fmt, time_unit="us", strict=False
            )
    elif logical == "timestamptz" and vendor == "mysql":  # UTC wall time (session +00:00)
        naive = col.str.to_datetime(_TEMPORAL_FORMATS["timestamp"], time_unit="us", strict=False)
        out = naive.dt.replace_time_zone("UTC")
    elif logical == "timestamptz":
        out = _parse_timestamptz(col)
    else:
        out = col.cast(canonical_dtype(logical), strict=False)
    return out.alias(name)


#: the text SQLite's loader writes for temporal values (runner.targets.sqlite._to_bindable);
#: SQLite keeps that text, so the diff compares it as text
SQLITE_TEXT_FORMATS = {
    "date": "%Y-%m-%d",
    "time": "%H:%M:%S%.6f",
    "timestamp": "%Y-%m-%d %H:%M:%S%.6f",
    "timestamptz": "%Y-%m-%d %H:%M:%S%.6f+00:00",
}


def vendor_dtype(logical: str, vendor: str) -> pl.DataType:
    """:func:`canonical_dtype`, except for what a vendor keeps as text (SQLite temporals)."""
    if vendor == "sqlite" and logical in SQLITE_TEXT_FORMATS:
        return pl.String()
    return canonical_dtype(logical)


def results_for(name: str, logical: str, vendor: str) -> pl.Expr:
    """A results column in the canonical form of ``vendor``'s rows."""
    if vendor == "sqlite" and logical in SQLITE_TEXT_FORMATS:
        col = pl.col(name)
        if logical == "timestamptz":
            col = col.dt.convert_time_zone("UTC")
        return col.dt.to_string(SQLITE_TEXT_FORMATS[logical]).alias(name)
    return results_expr(name, logical)


def sqlite_pick(quoted: str, logical: str) -> str:
    """The SQL that reads a column for :func:`sqlite_json_expr` (exact doubles, hex blobs)."""
    if logical == "float64" or decimal_of(logical) is not None:
        return f"CASE WHEN {quoted} IS NULL THEN NULL ELSE printf('%!.17g', {quoted}) END"
    if logical == "binary":
        return f"CASE WHEN {quoted} IS NULL THEN NULL ELSE hex({quoted}) END"
    # SQLite's JSON writes an infinite REAL as a bare Inf, which no JSON reader takes: as text
    return (
        f"CASE WHEN typeof({quoted}) = 'real' AND abs({quoted}) > 1.7976931348623157e308 "
        f"THEN printf('%!.17g', {quoted}) ELSE {quoted} END"
    )


def sqlite_json_dtype(logical: str) -> pl.DataType:
    """The element dtype a column's ``json_group_array`` is decoded with first."""
    if logical in _INTS or logical == "boolean":
        return pl.Int64()
    if logical == "float32":
        return pl.Float64()
    return pl.String()


def sqlite_expr(name: str, logical: str) -> pl.Expr:
    """A column decoded from SQLite's JSON arrays, canonical for SQLite."""
    col = pl.col(name)
    if logical == "boolean":
        return (col.cast(pl.Int64, strict=False) != 0).alias(name)
    if logical == "binary":
        return col.cast(pl.String).str.decode("hex", strict=False).alias(name)
    return col.cast(vendor_dtype(logical, "sqlite"), strict=False).alias(name)


def display_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    """A canonical column as the text a reviewer reads (None for NULL)."""
    col = pl.col(name)
    if isinstance(dtype, pl.Binary):
        return pl.concat_str([pl.lit("\\x"), col.bin.encode("hex")]).alias(name)
    if isinstance(dtype, pl.Datetime):
        fmt = "%Y-%m-%d %H:%M:%S%.f"
        text = col.dt.to_string(fmt)
        if dtype.time_zone:
            text = pl.concat_str([text, pl.lit("+00:00")])
        return text.alias(name)
    return col.cast(pl.String).alias(name)
