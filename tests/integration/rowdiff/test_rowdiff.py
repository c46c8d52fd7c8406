"""Row-level diffs against real SQLite, PostgreSQL and MariaDB tables of every type."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from runner.results import ResultSet, write_results
from runner.rowdiff.engine import DiffOptions, diff_table
from runner.rowdiff.model import RowDiff
from runner.spec.model import Connection
from runner.spec.secrets import MASK, Secret
from runner.targets.base import PublishRequest, TableInfo, TableRef, TableTarget
from runner.targets.registry import open_target

UTC = dt.UTC


def typed(n: int = 6) -> pl.DataFrame:
    """``n`` rows with one column of every logical type (and nulls)."""
    ids = list(range(1, n + 1))
    return pl.DataFrame(
        {
            "id": ids,
            "flag": [i % 2 == 0 if i != 3 else None for i in ids],
            "small": pl.Series([i * 3 for i in ids], dtype=pl.Int16),
            "ratio": pl.Series([i / 3 for i in ids], dtype=pl.Float32),
            "price": [i / 7 for i in ids],
            "amount": pl.Series([Decimal(f"{i}.{i:02d}") for i in ids], dtype=pl.Decimal(12, 2)),
            "name": [f"name {i}" if i != 2 else "" for i in ids],
            "blob": [bytes([i, 0, 255]) for i in ids],
            "day": [dt.date(2024, 1, i) for i in ids],
            "at": [dt.time(12, i, 30, 250000) for i in ids],
            "ts": [dt.datetime(2024, 2, i, 8, 30, 15, 123456) for i in ids],
            "tstz": [dt.datetime(2024, 3, i, 23, 59, 59, 500000, tzinfo=UTC) for i in ids],
        }
    )


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def warehouse(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[TableTarget, TableRef]]:
    vendor = request.param
    if vendor == "sqlite":
        conn = Connection("wh", vendor="sqlite", database="wh.db")
        path: tuple[str, ...] = ("main",)
    elif vendor == "postgres":
        schema = request.getfixturevalue("pg_schema")
        conn = Connection(
            "wh", vendor="postgres", host="127.0.0.1", database="test", username="postgres"
        )
        path = (schema,)
    else:
        db = request.getfixturevalue("mysql_database")
        conn = Connection("wh", vendor="mysql", host="127.0.0.1", username="root", database=db)
        path = (db,)
    target = open_target(conn, tmp_path)
    try:
        yield target, TableRef("wh", path, "orders")
    finally:
        target.close()


def results(tmp_path: Path, frame: pl.DataFrame, fmt: str = "parquet") -> ResultSet:
    run = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    return write_results(frame, run, [fmt])[fmt]


def seed(target: TableTarget, ref: TableRef, rs: ResultSet, key: tuple[str, ...] = ()) -> TableInfo:
    action = "upsert" if key else "create"
    target.publish(PublishRequest("out", ref, action, rs, "seed", key))
    info = target.describe([ref])[ref]
    assert info is not None
    return info


def diff(
    rs: ResultSet, action: str, info: TableInfo | None, target: TableTarget, **kw: object
) -> RowDiff:
    return diff_table(rs, action, info, target, **kw)  # type: ignore[arg-type]


def test_same_rows_of_every_type_are_unchanged(
    warehouse: tuple[TableTarget, TableRef], tmp_path: Path
) -> None:
    target, ref = warehouse
    info = seed(target, ref, results(tmp_path, typed()))
    for fmt in ("parquet", "avro", "csv"):
        d = diff(results(tmp_path, typed(), fmt), "truncateAndLoad", info, target, key=("id",))
        assert d.counts == {"added": 0, "removed": 0, "changed": 0, "unchanged": 6}, (
            fmt,
            d.samples,
        )
    whole = diff(results(tmp_path, typed()), "dropAndLoad", info, target)
    assert whole.match == "inferred" and whole.key == ("id",)
    assert whole.counts == {"added": 0, "removed": 0, "changed": 0, "unchanged": 6}


def test_each_edited_value_is_one_changed_row_with_before_and_after(
    warehouse: tuple[TableTarget, TableRef], tmp_path: Path
) -> None:
    target, ref = warehouse
    info = seed(target, ref, results(tmp_path, typed()))
    edits = {
        "flag": pl.lit(True),
        "small": pl.lit(999, dtype=pl.Int16),
        "price": pl.lit(0.1),
        "amount": pl.lit(Decimal("7.77"), dtype=pl.Decimal(12, 2)),
        "name": pl.lit("renamed"),
        "day": pl.lit(dt.date(2030, 5, 6)),
        "ts": pl.lit(dt.datetime(2030, 1, 1, 0, 0, 0, 1)),
        "tstz": pl.lit(dt.datetime(2030, 1, 1, tzinfo=UTC)),
    }
    for column, value in edits.items():
        frame = typed().with_columns(
            pl.when(pl.col("id") == 3).then(value).otherwise(pl.col(column)).alias(column)
        )
        d = diff(results(tmp_path, frame), "truncateAndLoad", info, target, key=("id",))
        assert d.counts == {"added": 0, "removed": 0, "changed": 1, "unchanged": 5}, column
        (sample,) = d.samples["changed"]
        assert sample.key == {"id": "3"}
        assert [c.column for c in sample.changes] == [column]
        assert sample.changes[0].before != sample.changes[0].after


def test_added_removed_changed_by_key_and_as_a_multiset(
    warehouse: tuple[TableTarget, TableRef], tmp_path: Path
) -> None:
    target, ref = warehouse
    info = seed(target, ref, results(tmp_path, typed()))
    frame = (
        typed(8)
        .filter(pl.col("id") != 2)
        .with_columns(
            pl.when(pl.col("id") == 4).then(pl.lit("four")).otherwise(pl.col("name")).alias("name")
        )
    )
    rs = results(tmp_path, frame)
    d = diff(rs, "truncateAndLoad", info, target, key=("id",), options=DiffOptions(samples=1))
    assert d.counts == {"added": 2, "removed": 1, "changed": 1, "unchanged": 4}
    assert [s.key["id"] for s in d.samples["added"]] == ["7"]  # first by key, one sample
    assert d.samples["removed"][0].row["name"] == ""
    (change,) = d.samples["changed"][0].changes
    assert (change.column, change.before, change.after) == ("name", "name 4", "four")
    inferred = diff(rs, "truncateAndLoad", info, target)
    assert inferred.match == "inferred" and "matched by id" in inferred.note
    assert inferred.counts == d.counts
    # repeated ids and names: nothing identifies a row, so rows are a multiset
    twice = pl.concat([frame, frame.filter(pl.col("id") == 1)])
    rows = diff(results(tmp_path, twice), "truncateAndLoad", info, target)
    assert rows.match == "rows"
    assert rows.counts == {"added": 4, "removed": 2, "changed": 0, "unchanged": 4}
    assert "multiset" in rows.note


def test_upsert_counts_new_changed_and_rows_that_stay(
    warehouse: tuple[TableTarget, TableRef], tmp_path: Path
) -> None:
    target, ref = warehouse
    info = seed(target, ref, results(tmp_path, typed()), key=("id",))
    frame = typed(7).filter(pl.col("id") >= 5).with_columns(pl.col("price") * 2)
    d = diff(results(tmp_path, frame), "upsert", info, target, key=("id",))
    assert d.mode == "upsert"
    assert d.counts == {"new": 1, "changed": 2, "unchanged": 0, "kept": 4}
    assert "stay although absent" in d.summary()


def test_append_missing_table_and_row_limit(
    warehouse: tuple[TableTarget, TableRef], tmp_path: Path
) -> None:
    target, ref = warehouse
    rs = results(tmp_path, typed())
    missing = diff(rs, "truncateAndLoad", None, target)
    assert missing.counts["added"] == 6 and len(missing.samples["added"]) == 5
    info = seed(target, ref, rs)
    appended = diff(rs, "load", info, target)
    assert appended.counts == {"appended": 6}
    large = diff(rs, "truncateAndLoad", info, target, options=DiffOptions(rows_limit=5))
    if target.vendor == "mysql":  # no counts in the database there
        assert large.skipped is not None and "too large" in large.skipped
        assert "diff skipped" in large.summary()
    else:
        assert large.skipped is None and "counted inside the database" in large.note
        assert large.counts == {"added": 0, "removed": 0, "changed": 0, "unchanged": 6}


def test_secret_values_in_rows_are_masked(tmp_path: Path) -> None:
    secret = Secret("hunter2-very-secret")
    target = open_target(Connection("wh", vendor="sqlite", database="wh.db"), tmp_path)
    ref = TableRef("wh", ("main",), "orders")
    try:
        info = seed(target, ref, results(tmp_path, pl.DataFrame({"id": [1], "token": ["x"]})))
        frame = pl.DataFrame({"id": [1, 2], "token": [secret.reveal(), "y"]})
        d = diff(results(tmp_path, frame), "truncateAndLoad", info, target, key=("id",))
        text = repr(d.to_json())
        assert secret.reveal() not in text and MASK in text
    finally:
        target.close()
