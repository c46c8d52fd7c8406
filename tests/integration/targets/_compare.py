"""Values read back from a database, made comparable with what fastavro reads.

Each database hands values back in its own Python types (MariaDB: TIME as timedelta,
naive datetimes for UTC instants; SQLite: dates, times and timestamps as ISO text, wide
decimals as text; PostgreSQL: jsonb parsed). :func:`canonical` maps both sides onto one
form per logical type, without rounding: two values are equal only if the database
holds exactly what the results held.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import struct
from typing import Any

from runner.result_types import decimal_of


def _float(value: Any, logical: str) -> Any:
    f = float(value)
    if math.isnan(f):
        return "NaN"
    if logical == "float32":  # the value a float32 column holds, bit for bit
        return struct.unpack("<f", struct.pack("<f", f))[0], math.copysign(1, f)
    return f, math.copysign(1, f)  # -0.0 is not 0.0


def canonical(logical: str, value: Any, *, signed_zero: bool = True) -> Any:
    """One comparable form of ``value`` for a column of ``logical`` type.

    ``signed_zero`` False: -0.0 and 0.0 are one value (SQLite keeps no sign of zero, as
    docs/types.md says).
    """
    if value is None:
        return None
    if logical in ("boolean", "int8", "int16", "int32", "int64"):
        return int(value)
    if logical in ("float32", "float64"):
        return _float(0.0 if value == 0 and not signed_zero else value, logical)
    if decimal_of(logical) is not None:
        return decimal.Decimal(str(value)).normalize()
    if logical == "binary":
        return bytes(value)
    if logical == "date":
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)
    if logical == "time":
        if isinstance(value, dt.timedelta):  # MariaDB
            return (dt.datetime.min + value).time()
        return value if isinstance(value, dt.time) else dt.time.fromisoformat(value)
    if logical in ("timestamp", "timestamptz"):
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if logical == "timestamptz":
            # UTC instants: MariaDB hands back naive UTC wall time
            return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
        return value
    if logical == "json":  # the JSON value, numbers exactly (jsonb spells 1e+308 in full)
        return json.loads(value, parse_float=decimal.Decimal, parse_int=decimal.Decimal)
    return value
