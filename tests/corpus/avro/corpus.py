"""The Avro corpus for tests: which files, what fastavro reads in them, what each must give.

    from tests.corpus.avro.corpus import valid_files, fastavro_records, expected_rows

- :func:`valid_files` - every valid file (committed, plus the large ones made in ``tmp``);
- :func:`fastavro_records` - fastavro's reading of a file (the reference);
- :func:`expected_rows` - that reading as the column values a publish must store: the
  mapping of docs/types.md applied to fastavro's values (JSON text for records, arrays,
  maps, unions of several types; decimals beyond 38 digits as exact text; ...);
- :func:`invalid_cases` - invalid files and the regex their one-line error must match.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro

from runner.json_values import duration_json, to_json
from runner.platforms.local.avro_read import layout
from runner.platforms.local.avro_schema import AvroColumn
from tests.corpus.avro.make_corpus import write_big

HERE = Path(__file__).resolve().parent
VALID = HERE / "valid"
INVALID = HERE / "invalid"


def valid_files(tmp: Path | None = None) -> list[Path]:
    """The committed valid files, and (given a folder) the large ones written there."""
    files = sorted(VALID.glob("*.avro"))
    if tmp is not None:
        files.append(write_big(tmp))
    return files


def invalid_cases() -> list[tuple[Path, str]]:
    expected: dict[str, str] = json.loads((INVALID / "expected.json").read_text())
    return [(INVALID / name, pattern) for name, pattern in sorted(expected.items())]


def fastavro_records(path: Path) -> list[Any]:
    """Every record (or top-level value) of the file, as fastavro reads it."""
    with path.open("rb") as fh:
        return list(fastavro.reader(fh))


def iter_corpus(tmp: Path | None = None) -> Iterator[tuple[Path, list[Any]]]:
    """(file, fastavro's records) for every valid file."""
    for path in valid_files(tmp):
        yield path, fastavro_records(path)


def _value(column: AvroColumn, value: Any) -> Any:
    if value is None:
        return None
    if column.kind in ("json", "json_plain"):
        return to_json(value)
    if column.kind == "duration":
        return duration_json(value)
    if column.kind == "uuid":
        return str(value)
    if column.kind == "decimal_text":
        return format(value, "f")
    if column.kind == "nanos":  # an int of nanoseconds, kept as microseconds
        zone = dt.UTC if column.logical == "timestamptz" else None
        return dt.datetime(1970, 1, 1, tzinfo=zone) + dt.timedelta(microseconds=value // 1000)
    return value


def expected_rows(path: Path) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows a reader must give for ``path``, from fastavro's reading."""
    shape = layout(path)
    records = fastavro_records(path)
    names = [c.name for c in shape.columns]
    if not shape.top_level_record:
        return names, [(_value(shape.columns[0], r),) for r in records]
    return names, [tuple(_value(c, r[c.name]) for c in shape.columns) for r in records]
