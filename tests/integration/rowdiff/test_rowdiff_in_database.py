"""Tables above --diff-rows-limit: counts computed by SQLite and PostgreSQL themselves."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from runner.errors import TargetError
from runner.results import ResultSet, write_results
from runner.rowdiff import in_database
from runner.rowdiff.engine import DiffOptions, diff_table
from runner.spec.model import Connection
from runner.targets.base import PublishRequest, TableInfo, TableRef, TableTarget
from runner.targets.registry import open_target

SMALL = DiffOptions(rows_limit=3)


def typed(n: int = 8) -> pl.DataFrame:
    """``n`` rows of several types, with NULLs, newlines and an empty string."""
    ids = list(range(1, n + 1))
    return pl.DataFrame(
        {
            "id": ids,
            "name": [None if i == 2 else ("" if i == 3 else f"name\n{i}") for i in ids],
            "amount": pl.Series(
                [None if i == 4 else Decimal(f"{i}.{i:02d}") for i in ids], dtype=pl.Decimal(12, 2)
            ),
            "price": [i / 7 for i in ids],
            "flag": [None if i == 5 else i % 2 == 0 for i in ids],
            "ts": [dt.datetime(2024, 2, i, 8, 30, 15, 123456) for i in ids],
        }
    )


def edited() -> pl.DataFrame:
    """id 2: NULL name set; id 4: amount set; id 6: price changed; id 8 removed; id 9 added."""
    base = typed(9).filter(pl.col("id") != 8)
    return base.with_columns(
        pl.when(pl.col("id") == 2)
        .then(pl.lit("now named"))
        .otherwise(pl.col("name"))
        .alias("name"),
        pl.when(pl.col("id") == 4)
        .then(pl.lit(Decimal("4.40"), dtype=pl.Decimal(12, 2)))
        .otherwise(pl.col("amount"))
        .alias("amount"),
        pl.when(pl.col("id") == 6).then(pl.lit(0.5)).otherwise(pl.col("price")).alias("price"),
    )


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[TableTarget, TableRef]]:
    if request.param == "sqlite":
        conn = Connection("wh", vendor="sqlite", database="wh.db")
        path: tuple[str, ...] = ("main",)
    else:
        schema = request.getfixturevalue("pg_schema")
        conn = Connection(
            "wh", vendor="postgres", host="127.0.0.1", database="test", username="postgres"
        )
        path = (schema,)
    target = open_target(conn, tmp_path)
    try:
        yield target, TableRef("wh", path, "orders")
    finally:
        target.close()


def results(tmp_path: Path, frame: pl.DataFrame) -> ResultSet:
    run = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    return write_results(frame, run, ["parquet"])["parquet"]


def seed(target: TableTarget, ref: TableRef, rs: ResultSet, key: tuple[str, ...] = ()) -> TableInfo:
    target.publish(PublishRequest("out", ref, "upsert" if key else "create", rs, "seed", key))
    info = target.describe([ref])[ref]
    assert info is not None
    return info


def test_counts_by_key_match_the_diff_in_memory(
    warehouse: tuple[TableTarget, TableRef], tmp_path: Path
) -> None:
    target, ref = warehouse
    info = seed(target, ref, results(tmp_path, typed()))
    rs = results(tmp_path, edited())
    memory = diff_table(rs, "truncateAndLoad", info, target, key=("id",))
    counted = diff_table(rs, "truncateAndLoad", info, target, key=("id",), options=SMALL)
    assert memory.counts == {"added": 1, "removed": 1, "changed": 3, "unchanged": 4}
    assert counted.counts == memory.counts
    assert counted.skipped is None and counted.samples == {}
    assert (
        "counted inside the database" in counted.note
        and "8 rows > --diff-rows-limit 3" in counted.note
    )
    inferred = diff_table(rs, "truncateAndLoad", info, target, options=SMALL)
    assert inferred.match == "inferred" and inferred.key == ("id",)
    assert inferred.counts == memory.counts and "counted inside the database" in inferred.note
    same = diff_table(
        results(tmp_path, typed()), "dropAndLoad", info, target, key=("id",), options=SMALL
    )
    assert same.counts == {"added": 0, "removed": 0, "changed": 0, "unchanged": 8}


def test_counts_as_a_multiset_and_for_an_upsert(
    warehouse: tuple[TableTarget, TableRef], tmp_path: Path
) -> None:
    target, ref = warehouse
    info = seed(target, ref, results(tmp_path, typed()))
    twice = pl.concat([edited(), edited().filter(pl.col("id") == 1)])
    rs = results(tmp_path, twice)
    memory = diff_table(rs, "truncateAndLoad", info, target)
    counted = diff_table(rs, "truncateAndLoad", info, target, options=SMALL)
    assert memory.match == counted.match == "rows"
    assert (
        counted.counts
        == memory.counts
        == {
            "added": 5,
            "removed": 4,
            "changed": 0,
            "unchanged": 4,
        }
    )
    repeated = diff_table(rs, "truncateAndLoad", info, target, key=("id",), options=SMALL)
    assert repeated.match == "rows" and "id is not unique in the results" in repeated.note
    assert repeated.duplicated == "results"  # an upsert's plan error names the side
    assert repeated.counts == memory.counts
    upsert = diff_table(
        results(tmp_path, edited()), "upsert", info, target, key=("id",), options=SMALL
    )
    assert upsert.counts == {"new": 1, "changed": 3, "unchanged": 4, "kept": 1}


def test_when_the_database_cannot_count_the_diff_is_skipped_saying_why(
    warehouse: tuple[TableTarget, TableRef], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, ref = warehouse
    info = seed(target, ref, results(tmp_path, typed()))

    def refuse(*args: object) -> object:
        raise TargetError(f"{ref}: cannot count the diff in the database: permission denied")

    monkeypatch.setattr(in_database, "counts", refuse)
    d = diff_table(results(tmp_path, edited()), "truncateAndLoad", info, target, options=SMALL)
    assert d.skipped is not None
    assert d.skipped.startswith("table too large (8 rows > --diff-rows-limit 3), and ")
    assert "permission denied" in d.skipped and "diff skipped" in d.summary()
