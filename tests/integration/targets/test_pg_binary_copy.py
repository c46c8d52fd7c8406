"""PostgreSQL binary COPY (issue 16): the same rows as the CSV COPY, or the same refusal."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest
from _three_dbs import PG_CONNECTION
from _warehouse_data import make_results

from runner.errors import TargetError
from runner.results import Column, ResultSchema, ResultSet
from runner.targets import postgres_binary
from runner.targets.base import PublishRequest, TableRef
from runner.targets.postgres import PostgresTarget

pytestmark = pytest.mark.postgres

CONN = PG_CONNECTION


@pytest.fixture
def encoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows encoded as binary COPY (so a test knows which format was sent)."""
    seen: list[int] = []
    real = postgres_binary.binary_rows

    def spy(frame: pl.DataFrame, plan: postgres_binary.BinaryPlan) -> list[memoryview]:
        seen.append(frame.height)
        return real(frame, plan)

    monkeypatch.setattr(postgres_binary, "binary_rows", spy)
    return seen


def publish(
    schema: str, results: ResultSet, action: str, table: str, *, binary: bool = True
) -> None:
    target = PostgresTarget(CONN)
    target.binary_copy = binary
    try:
        ref = TableRef("pg", (schema,), table)
        target.publish(PublishRequest("out", ref, action, results, f"run-{table}", ("id",)))
    finally:
        target.close()


def same_rows(pg_db: psycopg.Connection[Any], a: str, b: str) -> None:
    for x, y in ((a, b), (b, a)):
        diff = pg_db.execute(f'select * from "{x}" except all select * from "{y}"').fetchall()
        assert diff == [], f"{x} has rows {y} lacks"


def _every_type() -> pl.DataFrame:
    ts = [dt.datetime(1999, 12, 31, 23, 59, 59, 999999), dt.datetime(2000, 1, 1), None]
    return pl.DataFrame(
        {
            "id": [1, 2, 3],
            "i8": pl.Series([-128, None, 127], dtype=pl.Int8),
            "i16": pl.Series([-32768, 32767, None], dtype=pl.Int16),
            "i32": pl.Series([None, -(2**31), 2**31 - 1], dtype=pl.Int32),
            "i64": pl.Series([-(2**63), 2**63 - 1, None], dtype=pl.Int64),
            "f32": pl.Series([math.nan, -0.0, 1.5e38], dtype=pl.Float32),
            "f64": [math.inf, -math.inf, 0.1],
            "b": [True, False, None],
            "s": ["", 'line\nbreak, "quoted" \\. \\N', None],
            "u": ["ünï©ødé 🎉", "\\.", "x" * 10_000],
            "j": ['{"a": [1, 2.5, null]}', None, '"text"'],
            "d": [dt.date(1, 1, 1), dt.date(2000, 1, 1), None],
            "ts": ts,
            "tz": pl.Series(ts, dtype=pl.Datetime("us", "UTC")),
        }
    )


def test_binary_copy_stores_what_csv_stores_for_every_binary_type(
    pg_schema: str, pg_db: psycopg.Connection[Any], tmp_path: Path, encoded: list[int]
) -> None:
    results = make_results(tmp_path / "r", _every_type())
    columns = [Column("j", "json") if c.name == "j" else c for c in results.schema.columns]
    results = dataclasses.replace(results, schema=ResultSchema(tuple(columns)))
    publish(pg_schema, results, "create", "via_binary")
    assert encoded == [3]
    publish(pg_schema, results, "create", "via_csv", binary=False)
    assert encoded == [3]
    same_rows(pg_db, "via_binary", "via_csv")
    row = pg_db.execute('select u, j, f32, tz from "via_binary" where id = 1').fetchone()
    assert row is not None and row[0] == "ünï©ødé 🎉" and row[1] == {"a": [1, 2.5, None]}
    assert math.isnan(row[2]) and row[3] == dt.datetime(1999, 12, 31, 23, 59, 59, 999999, dt.UTC)


def test_existing_columns_wider_or_bounded_load_binary_and_the_rest_csv(
    pg_schema: str, pg_db: psycopg.Connection[Any], tmp_path: Path, encoded: list[int]
) -> None:
    frame = pl.DataFrame(
        {
            "id": pl.Series([1, 2], dtype=pl.Int32),
            "n": pl.Series([7, None], dtype=pl.Int16),
            "s": ["ab", "abc"],
            "c": ["x", None],
        }
    )
    results = make_results(tmp_path / "r", frame)
    for table in ("a", "b"):
        pg_db.execute(
            f'create table "{table}" (id bigint primary key, n integer, s varchar(3), c char(2))'
        )
    publish(pg_schema, results, "upsert", "a")
    assert encoded == [2]
    pg_db.execute('alter table "b" alter column n type numeric')  # no binary form sent
    publish(pg_schema, results, "load", "b")
    assert encoded == [2]
    pg_db.execute('alter table "b" alter column n type integer')
    same_rows(pg_db, "a", "b")
    assert pg_db.execute('select c from "a" order by id').fetchall() == [("x ",), (None,)]


@pytest.mark.parametrize(
    ("dtype", "physical", "message"),
    [
        # 2000-01-01 minus 2**63 microseconds: -infinity to the server if sent as is
        (pl.Datetime("us"), -(2**63) + 946_684_800_000_000, "timestamp out of range"),
        (pl.Datetime("us", "UTC"), -(2**63) + 946_684_800_000_000, "timestamp out of range"),
        # lower still: wraps around to a valid instant in the year 294247 if sent as is
        (pl.Datetime("us"), -(2**63) + 5, "timestamp out of range"),
        # 2000-01-01 minus 2**31 days: -infinity to the server if sent as is
        (pl.Date, -(2**31) + 10_957, "date out of range"),
    ],
)
def test_an_instant_postgres_cannot_store_fails_not_infinity(
    pg_schema: str,
    pg_db: psycopg.Connection[Any],
    tmp_path: Path,
    encoded: list[int],
    dtype: pl.DataType,
    physical: int,
    message: str,
) -> None:
    raw = pl.Series("v", [0, physical], dtype=pl.Int64 if dtype != pl.Date else pl.Int32)
    frame = pl.DataFrame({"id": [1, 2], "v": raw.cast(dtype)})
    with pytest.raises(TargetError) as err:
        publish(pg_schema, make_results(tmp_path / "r", frame), "create", "t")
    assert encoded == [2]
    assert message in str(err.value) and "at row 2, column 'v'" in str(err.value)
    assert pg_db.execute("select to_regclass('t')").fetchone() == (None,)
