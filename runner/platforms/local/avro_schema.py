"""How an Avro schema becomes columns: the documented mapping of docs/types.md.

Every Avro type maps to one column kind (see :class:`AvroColumn`); the mapping comes from
the writer schema in the file's header alone, so a job's schema is known at plan time
without reading rows. :func:`polars_reads` says whether polars' own Avro reader decodes a
file exactly as mapped (it is about 5x faster than fastavro); otherwise the rows come
from fastavro.

- ``boolean int long float double string bytes`` -> boolean int32 int64 float32 float64
  string binary; ``fixed`` -> binary; ``enum`` -> string; ``null`` -> string (all null)
- ``date`` -> date; ``time-millis``/``time-micros`` -> time; ``timestamp-*`` ->
  timestamptz (UTC); ``local-timestamp-*`` -> timestamp, in microseconds (a ``-nanos``
  value with a fraction of a microsecond is refused); ``uuid`` (on string) -> string
- ``decimal(P,S)`` -> decimal(P,S); beyond 38 digits the frames carry it as exact text
- a union of ``null`` and one type -> that type, nullable
- records, arrays, maps, unions of several types and ``duration`` -> JSON text (logical
  ``json``), see :mod:`runner.json_values`
- a top-level schema that is not a record -> one column named ``value``

Unknown logical types, and logical types on the wrong base type, are ignored as the
Avro specification says: the column takes the base type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import polars as pl

#: polars' Decimal holds at most this many digits
MAX_POLARS_DECIMAL = 38
#: the column a top-level schema that is not a record becomes
VALUE_COLUMN = "value"
#: codecs polars decodes
POLARS_CODECS = frozenset({"null", "deflate", "snappy"})

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_COMPLEX = frozenset({"record", "error", "enum", "fixed", "array", "map"})
_PLAIN: dict[str, tuple[str, pl.DataType]] = {
    "null": ("string", pl.String()),
    "boolean": ("boolean", pl.Boolean()),
    "int": ("int32", pl.Int32()),
    "long": ("int64", pl.Int64()),
    "float": ("float32", pl.Float32()),
    "double": ("float64", pl.Float64()),
    "bytes": ("binary", pl.Binary()),
    "string": ("string", pl.String()),
    "fixed": ("binary", pl.Binary()),
    "enum": ("string", pl.String()),
}
_TIME_UNITS = {"millis": "ms", "micros": "us", "nanos": "ns"}


class AvroSchemaError(ValueError):
    """The header's schema is not a valid Avro schema."""


@dataclass(frozen=True)
class AvroColumn:
    """One column of an Avro input.

    ``kind`` says how a fastavro value becomes the column's value: ``plain`` (as is),
    ``json`` (encoded as JSON text), ``json_plain`` (the same, from values that are
    plain JSON data already: the C encoder writes them), ``duration`` (a JSON object), ``uuid`` (text), ``decimal_text`` (exact text of a
    decimal wider than polars holds), ``nanos`` (an integer count of nanoseconds, kept
    as microseconds when it holds no fraction of one, refused otherwise: no database
    stores nanoseconds).
    """

    name: str
    logical: str  # the logical type of runner.results, or "json"
    dtype: pl.DataType  # the polars dtype of the column in frames
    kind: str = "plain"


@dataclass(frozen=True)
class AvroLayout:
    """The columns of an Avro file and whether polars can decode it exactly."""

    columns: tuple[AvroColumn, ...]
    top_level_record: bool
    polars_ok: bool
    #: the schema to give polars instead of the header's (defaults dropped, named types
    #: written out), or None when the header's will do
    polars_schema: Any = None

    @property
    def schema(self) -> pl.Schema:
        return pl.Schema({c.name: c.dtype for c in self.columns})

    @property
    def logical(self) -> dict[str, str]:
        return {c.name: c.logical for c in self.columns}


class _Names:
    """Named types by full name, as the schema defines them."""

    def __init__(self) -> None:
        self.types: dict[str, dict[str, Any]] = {}
        self.referenced = False

    def define(self, schema: dict[str, Any], namespace: str) -> str:
        name = str(schema.get("name", ""))
        space = str(schema.get("namespace", namespace) or "")
        full = name if "." in name or not space else f"{space}.{name}"
        self.types[full] = schema
        return full

    def resolve(self, name: str, namespace: str) -> dict[str, Any]:
        self.referenced = True
        for full in (f"{namespace}.{name}" if namespace else name, name):
            if full in self.types:
                return self.types[full]
        raise AvroSchemaError(f"the schema uses type {name!r} before defining it")


def _walk(schema: Any, names: _Names, namespace: str, flags: set[str]) -> None:
    """Record every named type and the features polars cannot decode in ``flags``."""
    if isinstance(schema, str):
        if schema not in _PRIMITIVES:
            names.resolve(schema, namespace)
            flags.add("reference")
        return
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        if len(branches) > 1:
            flags.add("union")
        if not branches:
            flags.add("null")  # polars: "Deserializing type Null is not implemented"
        if any(_is_enum(b, names, namespace) for b in branches):
            flags.add("nullable-enum")  # polars panics ("entered unreachable code")
        for branch in schema:
            _walk(branch, names, namespace, flags)
        return
    if not isinstance(schema, dict):
        raise AvroSchemaError(f"not an Avro type: {json.dumps(schema)[:80]}")
    kind = schema.get("type")
    if kind in ("record", "error", "enum", "fixed"):
        full = names.define(schema, namespace)
        namespace = full.rpartition(".")[0]
    if kind in ("record", "error"):
        for field in schema.get("fields", []):
            if "default" in field:
                flags.add("default")
            if field.get("type") == "null":
                flags.add("null")
            _walk(field.get("type"), names, namespace, flags)
    elif kind == "array":
        _walk(schema.get("items"), names, namespace, flags)
    elif kind == "map":
        flags.add("map")
        _walk(schema.get("values"), names, namespace, flags)
    elif kind == "fixed" and schema.get("logicalType") == "duration":
        flags.add("duration")
    elif isinstance(kind, dict | list):
        _walk(kind, names, namespace, flags)
    elif isinstance(kind, str) and kind not in _PRIMITIVES and kind not in ("enum", "fixed"):
        names.resolve(kind, namespace)
        flags.add("reference")
    if _decimal(schema) is not None:
        precision = _decimal(schema)[0]  # type: ignore[index]
        size = schema.get("size", 0)
        if precision > MAX_POLARS_DECIMAL or (kind == "fixed" and size > 16):
            flags.add("wide-decimal")


def _is_enum(schema: Any, names: _Names, namespace: str) -> bool:
    if isinstance(schema, str) and schema not in _PRIMITIVES:
        full = schema if "." in schema or not namespace else f"{namespace}.{schema}"
        schema = names.types.get(full) or names.types.get(schema)
    return isinstance(schema, dict) and schema.get("type") == "enum"


def _decimal(schema: dict[str, Any]) -> tuple[int, int] | None:
    if schema.get("logicalType") != "decimal" or schema.get("type") not in ("bytes", "fixed"):
        return None
    precision, scale = schema.get("precision"), schema.get("scale", 0)
    if not isinstance(precision, int) or not isinstance(scale, int):
        return None
    if precision < 1 or not 0 <= scale <= precision:
        return None
    if schema.get("type") == "fixed":
        size = schema.get("size", 0)
        if not isinstance(size, int) or precision > _max_fixed_digits(size):
            return None
    return precision, scale


def _max_fixed_digits(size: int) -> int:
    return len(str(2 ** (8 * size - 1) - 1)) - 1 if size > 0 else 0


def _column(name: str, schema: Any, names: _Names, namespace: str) -> AvroColumn:
    """The column a field of type ``schema`` becomes."""
    if isinstance(schema, str) and schema not in _PRIMITIVES:
        schema = names.resolve(schema, namespace)
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        if len(branches) == 1:
            return _column(name, branches[0], names, namespace)
        if not branches:
            return AvroColumn(name, "string", pl.String())
        return _json_column(name, schema, names, namespace)
    if isinstance(schema, str):
        logical, dtype = _PLAIN[schema]
        return AvroColumn(name, logical, dtype)
    kind = schema.get("type")
    if isinstance(kind, dict | list):
        return _column(name, kind, names, namespace)
    if kind in ("record", "error", "array", "map"):
        return _json_column(name, schema, names, namespace)
    logical_type = schema.get("logicalType")
    dec = _decimal(schema)
    if dec is not None:
        precision, scale = dec
        if precision > MAX_POLARS_DECIMAL:
            return AvroColumn(name, f"decimal({precision},{scale})", pl.String(), "decimal_text")
        return AvroColumn(name, f"decimal({precision},{scale})", pl.Decimal(precision, scale))
    special = _logical_column(name, str(kind), logical_type, schema)
    if special is not None:
        return special
    if isinstance(kind, str) and kind in _PLAIN:
        logical, dtype = _PLAIN[kind]
        return AvroColumn(name, logical, dtype)
    if isinstance(kind, str):
        return _column(name, kind, names, namespace)
    raise AvroSchemaError(f"field {name!r}: not an Avro type: {json.dumps(schema)[:80]}")


def _json_column(name: str, schema: Any, names: _Names, namespace: str) -> AvroColumn:
    safe = _json_safe(schema, names, namespace, set())
    return AvroColumn(name, "json", pl.String(), "json_plain" if safe else "json")


_JSON_SAFE = frozenset({"null", "boolean", "int", "long", "string"})


def _json_safe(schema: Any, names: _Names, namespace: str, seen: set[int]) -> bool:
    """Whether fastavro's values of ``schema`` are plain JSON data already (no bytes,
    floats, decimals, dates, ...), so the C JSON encoder can write them as they are."""
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return schema in _JSON_SAFE
        schema = names.resolve(schema, namespace)
    if isinstance(schema, list):
        return all(_json_safe(b, names, namespace, seen) for b in schema)
    if not isinstance(schema, dict):
        return False
    kind = schema.get("type")
    if isinstance(kind, dict | list):
        return _json_safe(kind, names, namespace, seen)
    if id(schema) in seen:
        return True  # a recursive reference: judged where it is defined
    seen.add(id(schema))
    if "logicalType" in schema:
        return False
    if kind in ("record", "error"):
        space = str(schema.get("namespace") or namespace)
        full = str(schema.get("name", ""))
        space = full.rpartition(".")[0] if "." in full else space
        return all(_json_safe(f.get("type"), names, space, seen) for f in schema["fields"])
    if kind == "array":
        return _json_safe(schema.get("items"), names, namespace, seen)
    if kind == "map":
        return _json_safe(schema.get("values"), names, namespace, seen)
    return kind == "enum" or kind in _JSON_SAFE


def _logical_column(
    name: str, kind: str, logical_type: Any, schema: dict[str, Any]
) -> AvroColumn | None:
    if kind == "int" and logical_type == "date":
        return AvroColumn(name, "date", pl.Date())
    if (kind, logical_type) in (("int", "time-millis"), ("long", "time-micros")):
        return AvroColumn(name, "time", pl.Time())
    if kind == "string" and logical_type == "uuid":
        return AvroColumn(name, "string", pl.String(), "uuid")
    if kind == "fixed" and logical_type == "duration" and schema.get("size") == 12:
        return AvroColumn(name, "json", pl.String(), "duration")
    if kind == "long" and isinstance(logical_type, str):
        local = logical_type.startswith("local-timestamp-")
        unit = _TIME_UNITS.get(logical_type.rpartition("-")[2])
        if unit is None or not logical_type.startswith(("timestamp-", "local-timestamp-")):
            return None
        zone = None if local else "UTC"
        logical = "timestamp" if local else "timestamptz"
        if unit == "ns":
            return AvroColumn(name, logical, pl.Datetime("us", zone), "nanos")
        return AvroColumn(name, logical, pl.Datetime("us", zone))
    return None


def layout_of(schema: Any, codec: str) -> AvroLayout:
    """The columns of a file with writer schema ``schema`` (parsed JSON) and ``codec``."""
    names = _Names()
    flags: set[str] = set()
    _walk(schema, names, "", flags)
    top = schema
    if isinstance(top, str) and top not in _PRIMITIVES:
        top = names.resolve(top, "")
    if isinstance(top, dict) and top.get("type") in ("record", "error"):
        space = str(top.get("namespace") or "")
        full = str(top.get("name", ""))
        space = full.rpartition(".")[0] if "." in full else space
        columns = tuple(
            _column(str(f.get("name")), f.get("type"), names, space) for f in top["fields"]
        )
        is_record = True
    else:
        columns = (_column(VALUE_COLUMN, schema, names, ""),)
        is_record = False
    duplicate = len({c.name for c in columns}) != len(columns)
    if duplicate:
        raise AvroSchemaError("the record has two fields with the same name")
    nested = any(c.logical == "json" for c in columns)
    # defaults and references to named types only confuse polars' schema parser: it
    # reads the file once they are gone (defaults matter only to schema resolution)
    polars_ok = (
        is_record
        and codec in POLARS_CODECS
        and not flags - {"default", "reference"}
        and not nested
        and columns != ()
    )
    simpler = None
    if polars_ok and flags & {"default", "reference"}:
        simpler = _plain_schema(top, names, "")
    return AvroLayout(columns, is_record, polars_ok, simpler)


def _plain_schema(schema: Any, names: _Names, namespace: str) -> Any:
    """``schema`` without defaults, each named type written out where it is used.

    Only for schemas without records inside records (no recursion is possible there).
    """
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return schema
        return _plain_schema(names.resolve(schema, namespace), names, namespace)
    if isinstance(schema, list):
        return [_plain_schema(b, names, namespace) for b in schema]
    out = {k: v for k, v in schema.items() if k != "default"}
    kind = out.get("type")
    if isinstance(kind, dict | list) or (isinstance(kind, str) and kind not in _COMPLEX):
        out["type"] = _plain_schema(kind, names, namespace)
    if kind in ("record", "error"):
        full = str(out.get("name", ""))
        space = full.rpartition(".")[0] if "." in full else str(out.get("namespace") or namespace)
        out["fields"] = [
            {
                **{k: v for k, v in f.items() if k != "default"},
                "type": _plain_schema(f.get("type"), names, space),
            }
            for f in out.get("fields", [])
        ]
    return out
