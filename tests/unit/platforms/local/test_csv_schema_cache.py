"""CSV inputs: the inferred schema is cached per (path, size, mtime) in the process; a
cached scan reads the same rows with the same types, and a rewritten file is inferred again."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from runner.platforms.local import inputs

CSV = (
    "id,amount,ordered_at,created_at,note\n"
    "1,2.5,2024-01-02 03:04:05,2024-01-02T03:04:05+00:00,a\n"
    "2,,2024-02-03 04:05:06,2024-02-03T04:05:06+00:00,\n"
)


def _inferring(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The paths scanned with schema inference from now on."""
    seen: list[Path] = []
    real = pl.scan_csv

    def counting(source: Any, **kwargs: Any) -> pl.LazyFrame:
        if "schema" not in kwargs:
            seen.append(Path(source))
        return real(source, **kwargs)

    monkeypatch.setattr(inputs.pl, "scan_csv", counting)
    return seen


def test_a_csv_schema_is_inferred_once_and_reads_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(CSV, encoding="utf-8")
    want = pl.scan_csv(path, try_parse_dates=True, infer_schema_length=10_000).collect()
    seen = _inferring(monkeypatch)
    first = inputs.scan_input(path).collect()
    second = inputs.scan_input(path, schema_only=True).collect()
    assert seen == [path]
    assert first.schema == second.schema == want.schema
    assert first.equals(want) and second.equals(want)
    assert want.schema["created_at"] == pl.Datetime("us", "UTC")


def test_a_rewritten_csv_is_inferred_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("id,code\n1,2\n", encoding="utf-8")
    assert inputs.scan_input(path).collect_schema()["code"] == pl.Int64
    stat = path.stat()
    path.write_text("id,code\n1,x\n", encoding="utf-8")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    seen = _inferring(monkeypatch)
    frame = inputs.scan_input(path).collect()
    assert seen == [path]
    assert frame["code"].to_list() == ["x"]


def test_an_unreadable_csv_is_not_cached(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(pl.exceptions.PolarsError):
        inputs.scan_input(path).collect_schema()
    path.write_text("id\n1\n", encoding="utf-8")
    assert inputs.scan_input(path).collect()["id"].to_list() == [1]


DATES = (
    "id,day,at,at_tz\n"
    "1,2024-01-02,2024-01-02T03:04:05,2024-01-02T03:04:05+00:00\n"
    "2,,2024-01-02T03:04:05.25,2024-01-02T03:04:05+02:00\n"
    "3,2024-02-29,,\n"
    '4,"2024-03-01","2024-01-02T03:04:05.123456",2024-01-02T03:04:05Z\n'
)


def _by_the_reader(path: Path, schema: pl.Schema) -> pl.DataFrame:
    return pl.scan_csv(path, schema=schema, try_parse_dates=True).collect()


def test_dates_parsed_after_the_read_are_the_readers(tmp_path: Path) -> None:
    """Date columns are read as text and parsed per column: the reader's values."""
    path = tmp_path / "dates.csv"
    path.write_text(DATES, encoding="utf-8")
    frame = inputs.scan_input(path).collect()
    assert frame.schema["day"] == pl.Date
    assert frame.schema["at"] == pl.Datetime("us")
    assert frame.schema["at_tz"] == pl.Datetime("us", "UTC")
    assert frame.equals(_by_the_reader(path, frame.schema))
    assert frame["at_tz"][1].hour == 1  # +02:00 converted to UTC


@pytest.mark.parametrize(
    "late",
    ["2024-02-30T03:04:05", "not a time", "2024/01/02", "2024-01-02", "2024-01-02 03:04:05.5"],
)
def test_a_date_past_the_inferred_rows_reads_as_the_reader_reads_it(
    tmp_path: Path, late: str
) -> None:
    """Refused where the reader refuses it, the reader's value where it takes it."""
    path = tmp_path / "dates.csv"
    rows = "".join(f"{i},2024-01-02T03:04:05\n" for i in range(10_000))
    path.write_text(f"id,at\n{rows}10000,{late}\n", encoding="utf-8")
    schema = inputs.scan_input(path).collect_schema()
    assert schema["at"] == pl.Datetime("us")
    try:
        want = _by_the_reader(path, schema)
    except pl.exceptions.PolarsError:
        with pytest.raises(pl.exceptions.PolarsError):
            inputs.scan_input(path).collect()
    else:
        assert inputs.scan_input(path).collect().equals(want)


def test_a_schema_inferred_while_the_input_is_hashed_is_inferred_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(CSV, encoding="utf-8")
    seen = _inferring(monkeypatch)
    with inputs.inferring(path):
        frame = inputs.scan_input(path).collect()  # waits for the worker's inference
    assert seen == [path]
    assert frame.schema["created_at"] == pl.Datetime("us", "UTC")


def test_an_input_that_cannot_be_inferred_while_hashed_fails_where_it_is_scanned(
    tmp_path: Path,
) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with inputs.inferring(path), inputs.inferring(tmp_path / "gone.csv"):
        pass  # nothing raised (or printed) by the workers
    with pytest.raises(pl.exceptions.PolarsError):
        inputs.scan_input(path).collect_schema()
