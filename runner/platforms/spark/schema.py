"""Spark's result types as publish's logical types, and the select that writes them.

Spark names its types in ``DataType.simpleString()`` form (``bigint``, ``decimal(10,2)``,
``timestamp_ntz``, ``array<int>``...). Every column of a result is written as the Parquet
type that reads back as its logical type: nested values (arrays, maps, structs) and
variants become JSON text of logical type ``json`` (Spark's ``to_json``), as nested values
are on the local platform; types Parquet or the targets cannot hold (``void``, intervals)
become text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from runner.results import Column, ResultSchema

_SIMPLE = {
    "boolean": "boolean",
    "tinyint": "int8",
    "smallint": "int16",
    "int": "int32",
    "bigint": "int64",
    "float": "float32",
    "double": "float64",
    "string": "string",
    "binary": "binary",
    "date": "date",
    "timestamp": "timestamptz",  # TIMESTAMP_LTZ: an instant, written as UTC
    "timestamp_ntz": "timestamp",
}
_DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)$")
_TEXT_LIKE = re.compile(r"^(varchar|char)\(\d+\)$")
_TIME = re.compile(r"^time(\(\d\))?$")
_NESTED = ("array<", "map<", "struct<", "variant")


def type_name(data_type: Any) -> str:
    """The simpleString of a Spark DataType (or of anything that offers one)."""
    simple = getattr(data_type, "simpleString", None)
    return str(simple() if callable(simple) else data_type).strip().lower()


def logical_of(spark_type: str) -> str:
    """The logical type a column of this Spark type is published as."""
    name = spark_type.strip().lower()
    if name in _SIMPLE:
        return _SIMPLE[name]
    m = _DECIMAL.match(name)
    if m:
        return f"decimal({m[1]},{m[2]})"
    if _TIME.match(name):
        return "time"
    if name.startswith(_NESTED):
        return "json"  # written as JSON text by to_json
    return "string"  # varchar(n), char(n), void, intervals...


def quote(name: str) -> str:
    """A Spark SQL identifier (backquoted)."""
    return "`" + name.replace("`", "``") + "`"


def column_expr(name: str, spark_type: str) -> str:
    """The select expression that writes a column as its logical type stores it."""
    q = quote(name)
    kind = spark_type.strip().lower()
    if kind.startswith(_NESTED):
        return f"to_json({q}) as {q}"
    if kind in _SIMPLE or _DECIMAL.match(kind) or _TIME.match(kind):
        return q
    if _TEXT_LIKE.match(kind):
        return f"cast({q} as string) as {q}"
    return f"cast({q} as string) as {q}"  # void, intervals, ...


def fields_of(schema: Any) -> list[tuple[str, str]]:
    """(name, simpleString type) of each field of a Spark StructType."""
    return [(str(f.name), type_name(f.dataType)) for f in schema.fields]


def conform_sql(view: str, fields: Iterable[tuple[str, str]]) -> str:
    """SQL over ``view`` that writes each field as its logical type."""
    exprs = ", ".join(column_expr(n, t) for n, t in fields)
    return f"select {exprs} from {quote(view)}"


def result_schema_of(fields: Iterable[tuple[str, str]]) -> ResultSchema:
    return ResultSchema(tuple(Column(n, logical_of(t)) for n, t in fields))


def duplicate_names(fields: Iterable[tuple[str, str]]) -> list[str]:
    """Column names that occur more than once (case-insensitively, as Spark resolves them)."""
    seen: dict[str, int] = {}
    for name, _ in fields:
        seen[name.lower()] = seen.get(name.lower(), 0) + 1
    return sorted(n for n, count in seen.items() if count > 1)
