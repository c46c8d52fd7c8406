"""Values that have no column type of their own, as JSON text (logical type ``json``).

Avro records, arrays, maps, unions of several types and ``duration`` values, and nested
polars values (structs, lists) of any input, become JSON. Inside JSON: records and maps are objects (fields in schema
order), arrays are arrays, a union value is the value of its branch (no type tag),
``bytes``/``fixed`` are base64 text, decimals are exact text (``"12.30"``), dates,
times and timestamps are ISO 8601 text, a duration is its number of microseconds, a UUID
is text, NaN and infinities are the
strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (JSON has no such numbers), and every
other number is a JSON number written exactly (shortest round-trip form for floats).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from decimal import Decimal
from typing import Any

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def plain(value: Any) -> Any:
    """``value`` (as fastavro or polars gives it) as plain JSON data."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):  # polars durations: whole microseconds
        return value // dt.timedelta(microseconds=1)
    return str(value)  # UUIDs, and any other value polars hands over, as text


def to_json(value: Any) -> str | None:
    """The JSON text of a value; None stays None (SQL NULL, not JSON null)."""
    if value is None:
        return None
    return _ENCODER.encode(plain(value))


def plain_json(value: Any) -> str:
    """The JSON text of plain JSON data (dicts, lists, str, int, bool, None): no checks."""
    return _ENCODER.encode(value)


def duration_json(value: bytes | None) -> str | None:
    """An Avro ``duration`` (three little-endian unsigned ints) as a JSON object."""
    if value is None:
        return None
    months, days, millis = (int.from_bytes(value[i : i + 4], "little") for i in (0, 4, 8))
    return _ENCODER.encode({"months": months, "days": days, "milliseconds": millis})
