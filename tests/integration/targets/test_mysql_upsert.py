"""MySQL/MariaDB upsert by ``LOAD DATA ... REPLACE`` straight into the table, and the
cases where that would not be the same upsert (the staging table and ``INSERT ... ON
DUPLICATE KEY UPDATE`` then), against the local MariaDB."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pymysql
import pytest
from _warehouse_data import make_results
from test_mysql_target import CONN, HOST, PORT, rows

from runner.errors import TargetError
from runner.targets.base import PublishRequest, PublishResult, TableRef
from runner.targets.mysql import MysqlTarget
from runner.targets.mysql import target as target_module

pytestmark = pytest.mark.mysql
_runs = itertools.count()


@pytest.fixture
def db(mysql_database: str) -> Iterator[Any]:
    c = pymysql.connect(host=HOST, port=PORT, user="root", database=mysql_database, autocommit=True)
    yield c.cursor()
    c.close()


@pytest.fixture
def replaced(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One entry per LOAD DATA: whether it was a REPLACE straight into the table."""
    seen: list[bool] = []
    real = target_module.load_data

    def spy(*args: Any, replace: bool = False) -> tuple[int, bool]:
        seen.append(replace)
        return real(*args, replace=replace)

    monkeypatch.setattr(target_module, "load_data", spy)
    return seen


@pytest.fixture
def target(mysql_database: str) -> Iterator[MysqlTarget]:
    t = MysqlTarget(CONN)
    yield t
    t.close()


def upsert(t: MysqlTarget, database: str, data: pl.DataFrame, path: Path) -> PublishResult:
    ref = TableRef("my", (database,), "u")
    results = make_results(path, data)
    return t.publish(PublishRequest("out", ref, "upsert", results, f"r{next(_runs)}", ("id",)))


def names(ids: list[int], tag: str) -> pl.DataFrame:
    return pl.DataFrame({"id": ids, "name": [f"{tag}{i}" for i in ids]})


def test_upsert_replaces_in_place_with_the_ledger_row(
    target: MysqlTarget, mysql_database: str, db: Any, tmp_path: Path, replaced: list[bool]
) -> None:
    db.execute("create table u (id bigint primary key, name longtext)")
    db.execute("insert into u values (1, 'old1'), (2, 'old2'), (3, 'old3')")
    n = 70_000  # several encoded slices through the pipe
    result = upsert(target, mysql_database, names([2, *range(4, 4 + n)], "new"), tmp_path / "r")
    assert replaced == [True]
    assert result.rows_loaded == n + 1 and result.rows_after == n + 3
    assert rows(db, "u")[:4] == [(1, "old1"), (2, "new2"), (3, "old3"), (4, "new4")]
    db.execute("select `rows` from _publish_ledger where table_name like '%u'")
    assert db.fetchall() == ((n + 1,),)
    db.execute("show tables")
    assert sorted(t for (t,) in db.fetchall()) == ["_publish_ledger", "u"]  # no staging table


def test_a_repeated_key_fails_and_changes_nothing(
    target: MysqlTarget, mysql_database: str, db: Any, tmp_path: Path, replaced: list[bool]
) -> None:
    db.execute("create table u (id bigint primary key, name longtext)")
    db.execute("insert into u values (1, 'old1')")
    data = pl.concat([names([1, 2], "a"), names([5, 2], "b")])
    # the key value and its rows in the results, not the server's "Duplicate entry" on a table
    with pytest.raises(TargetError, match="repeat 1 key value: id=2 at rows 2, 4") as err:
        upsert(target, mysql_database, data, tmp_path / "r")
    assert "the table is unchanged" in str(err.value)
    assert replaced == [True, False]  # REPLACE rolled back, then the staging path
    assert rows(db, "u") == [(1, "old1")]


_TABLE = "create table u (id bigint primary key, name longtext)"
_ROW = "insert into u values (1, 'old1')"


@pytest.mark.parametrize(
    "setup, expected",
    [
        pytest.param(  # REPLACE would reset a column the results lack
            [
                "create table u (id bigint primary key, name longtext, note longtext default 'd')",
                "insert into u values (1, 'old1', 'kept')",
            ],
            [(1, "new1", "kept"), (2, "new2", "d")],
            id="column-not-in-results",
        ),
        pytest.param(  # REPLACE would delete row 7; ON DUPLICATE KEY UPDATE updates it
            [
                "create table u (id bigint primary key, name varchar(20) unique)",
                "insert into u values (1, 'old1'), (7, 'new2')",
            ],
            [(1, "new1"), (7, "new2")],
            id="second-unique-key",
        ),
        pytest.param(  # REPLACE would delete, and the child rows would go with it
            [
                _TABLE,
                "create table c (id bigint, foreign key (id) references u (id) on delete cascade)",
                _ROW,
                "insert into c values (1)",
            ],
            [(1, "new1"), (2, "new2")],
            id="foreign-key-to-it",
        ),
        pytest.param(  # REPLACE fires the delete triggers, an update the update ones
            [_TABLE, "create trigger u_del after delete on u for each row set @d = 1", _ROW],
            [(1, "new1"), (2, "new2")],
            id="trigger",
        ),
    ],
)
def test_upsert_that_replace_would_change_goes_through_staging(
    target: MysqlTarget,
    mysql_database: str,
    db: Any,
    tmp_path: Path,
    replaced: list[bool],
    setup: list[str],
    expected: list[tuple[Any, ...]],
) -> None:
    for statement in setup:
        db.execute(statement)
    upsert(target, mysql_database, names([1, 2], "new"), tmp_path / "r")
    assert rows(db, "u") == expected
    if any("create table c" in s for s in setup):
        assert rows(db, "c") == [(1,)]
    assert replaced == [False]


def test_text_key_goes_through_staging(
    target: MysqlTarget, mysql_database: str, db: Any, tmp_path: Path, replaced: list[bool]
) -> None:
    """A case-insensitive key: the row of 'a' is updated and keeps its key; REPLACE
    would store 'A' instead."""
    db.execute(
        "create table u (id varchar(10) collate utf8mb4_general_ci primary key, name longtext)"
    )
    db.execute("insert into u values ('a', 'old')")
    data = pl.DataFrame({"id": ["A", "b"], "name": ["new", "nb"]})
    upsert(target, mysql_database, data, tmp_path / "r")
    assert rows(db, "u") == [("a", "new"), ("b", "nb")]
    assert replaced == [False]


def test_results_past_the_replace_limit_go_through_staging(
    target: MysqlTarget,
    mysql_database: str,
    db: Any,
    tmp_path: Path,
    replaced: list[bool],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """REPLACE keeps a hash of every key; more rows than REPLACE_MAX_ROWS take the
    staging path, whose repeated-key check runs in the server, with the same rows."""
    monkeypatch.setattr(target_module, "REPLACE_MAX_ROWS", 2)
    db.execute(_TABLE)
    db.execute(_ROW)
    result = upsert(target, mysql_database, names([1, 2, 3], "new"), tmp_path / "r")
    assert replaced == [False]
    assert (result.rows_loaded, result.rows_after) == (3, 3)
    assert rows(db, "u") == [(1, "new1"), (2, "new2"), (3, "new3")]
    with pytest.raises(TargetError, match="repeat 1 key value: id=2"):
        upsert(target, mysql_database, names([4, 2, 2], "again"), tmp_path / "r2")
    assert rows(db, "u") == [(1, "new1"), (2, "new2"), (3, "new3")]
