"""Issue 9: what the results hold is what the table holds, or the load fails and rolls back.

Each test here failed before its fix (see the notes of the change that added it).
"""

from __future__ import annotations

import dataclasses
import decimal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from _three_dbs import Db, db_fixture
from _warehouse_data import make_results

from runner.errors import TargetError
from runner.targets.base import TableRef

ACTIONS = ("create", "createAndLoad", "load", "truncateAndLoad", "dropAndLoad", "upsert")


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    yield from db_fixture(request, tmp_path)


def old_table(db: Db, tmp_path: Path) -> None:
    old = make_results(tmp_path / "old", pl.DataFrame({"id": [1, 2], "s": ["o1", "o2"]}))
    db.publish(old, "createAndLoad")


# -- 1. the database's row count against the results' ------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
def test_a_load_storing_other_than_the_results_rows_rolls_back(
    db: Db, tmp_path: Path, action: str
) -> None:
    if action != "create":
        old_table(db, tmp_path)
    new = make_results(tmp_path / "new", pl.DataFrame({"id": [1, 5, 6], "s": ["a", "b", "c"]}))
    lying = dataclasses.replace(new, rows=4)  # the files hold 3 rows
    with pytest.raises(TargetError) as err:
        db.publish(lying, action, key=("id",))
    assert "the database loaded 3 rows but the results hold 4" in str(err.value)
    assert "the table is unchanged" in str(err.value)
    if action == "create":
        ref = TableRef("c", db.path, "t")
        assert db.target.describe([ref])[ref] is None
    else:
        assert db.rows() == [(1, "o1"), (2, "o2")]


def test_rows_loaded_and_in_the_table_are_the_database_counts(db: Db, tmp_path: Path) -> None:
    old_table(db, tmp_path)
    new = make_results(tmp_path / "new", pl.DataFrame({"id": [2, 3], "s": ["x", "y"]}))
    out = db.publish(new, "upsert", key=("id",))
    assert (out.rows_loaded, out.rows_after) == (2, 3)
    assert db.count() == 3


TRICKY = [
    "\\.",
    "a\n\\.\nb",
    "\\.\n",
    "\\N",
    "",
    None,
    "NULL",
    '"quoted", with comma',
    "tab\there",
    "cr\rlf\r\nlf\n",
    "back\\slash\\",
    "\U0010ffff \u00e9 \u4e2d",
    "x ",
]


@pytest.mark.parametrize("action", ["truncateAndLoad", "upsert"])
def test_every_string_value_arrives_exactly(db: Db, tmp_path: Path, action: str) -> None:
    """``\\.`` on its own line ended PostgreSQL's CSV COPY early (1 row of 5 kept)."""
    old_table(db, tmp_path)
    frame = pl.DataFrame({"id": list(range(10, 10 + len(TRICKY))), "s": TRICKY})
    out = db.publish(make_results(tmp_path / "r", frame), action, key=("id",))
    want = [(1, "o1"), (2, "o2")] if action == "upsert" else []
    want += list(zip(frame["id"], TRICKY, strict=True))
    assert db.rows() == want
    assert out.rows_after == len(want)


@pytest.mark.parametrize("action", ["createAndLoad", "upsert"])
def test_a_lone_end_of_copy_marker_is_a_value(db: Db, tmp_path: Path, action: str) -> None:
    """A one-column row ``\\.`` is a line of its own in CSV: PostgreSQL's COPY ended there,
    kept 1 row of 5 and committed."""
    frame = pl.DataFrame({"s": ["a", "\\.", "b", "\\.\n", "c"]})
    out = db.publish(make_results(tmp_path / "r", frame), action, key=("s",))
    assert out.rows_loaded == 5 and out.rows_after == 5
    assert sorted(r[0] for r in db.rows()) == sorted(frame["s"])


# -- 2. MySQL / MariaDB: created text columns compare exactly ----------------------------


@pytest.mark.parametrize("db", ["mysql"], indirect=True)
def test_mysql_keys_differing_in_case_accent_or_trailing_space_stay_apart(
    db: Db, tmp_path: Path
) -> None:
    keys = ["a", "A", "e", "\u00e9", "x", "x "]
    first = pl.DataFrame({"k": keys, "v": [1, 2, 3, 4, 5, 6]})
    db.publish(make_results(tmp_path / "1", first), "upsert", key=("k",))
    assert db.count() == 6
    again = pl.DataFrame({"k": keys, "v": [10, 20, 30, 40, 50, 60]})
    db.publish(make_results(tmp_path / "2", again), "upsert", key=("k",))
    assert sorted(db.rows()) == sorted(zip(keys, [10, 20, 30, 40, 50, 60], strict=True))
    text = pl.DataFrame({"id": [1, 2], "s": ["a", "A"]})
    db.publish(make_results(tmp_path / "3", text), "createAndLoad", table="u")
    assert db.execute("select count(*) from `u` where s = 'a'") == [(1,)]


# -- 3. SQLite: wide decimals exactly, NaN refused -------------------------------------


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_sqlite_decimals_wider_than_15_digits_read_back_exactly(db: Db, tmp_path: Path) -> None:
    values = [
        decimal.Decimal("12345678901234567890.1234567890"),
        decimal.Decimal("-0.0000000001"),
        decimal.Decimal("9999999999999999999999999999.9999999999"),
        None,
    ]
    frame = pl.DataFrame({"id": [1, 2, 3, 4], "d": pl.Series(values, dtype=pl.Decimal(38, 10))})
    db.publish(make_results(tmp_path / "r", frame), "createAndLoad")
    got = [None if d is None else decimal.Decimal(str(d)) for _, d in db.rows()]
    assert got == values


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_sqlite_refuses_nan_naming_column_and_row(db: Db, tmp_path: Path) -> None:
    old_table(db, tmp_path)
    frame = pl.DataFrame({"id": [1, 2, 3], "f": [1.5, None, float("nan")]})
    with pytest.raises(TargetError) as err:
        db.publish(make_results(tmp_path / "r", frame), "createAndLoad", table="n")
    text = str(err.value)
    assert "column 'f'" in text and "row 3" in text and "NaN" in text
    ref = TableRef("c", db.path, "n")
    assert db.target.describe([ref])[ref] is None


# -- 5. PostgreSQL: error rows are rows of the results ---------------------------------


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_postgres_error_names_the_results_row_after_line_breaks(db: Db, tmp_path: Path) -> None:
    old_table(db, tmp_path)
    values = ["one\ntwo", "a\r\nb\nc", "plain", "bad\x00value", "after"]
    frame = pl.DataFrame({"id": [1, 2, 3, 4, 5], "s": values})
    with pytest.raises(TargetError) as err:
        db.publish(make_results(tmp_path / "r", frame), "truncateAndLoad")
    assert "column 's' holds the NUL character (\\0) at row 4 of the results" in str(err.value)
    assert db.rows() == [(1, "o1"), (2, "o2")]


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_postgres_conversion_error_row_after_line_breaks(db: Db, tmp_path: Path) -> None:
    db.execute('create table "t" (id bigint, s varchar(8))')
    values = ["a\nb", "c\nd\ne", "ok", "far too long", "x"]  # row 1's break counts differently
    frame = pl.DataFrame({"id": [1, 2, 3, 4, 5], "s": values})
    with pytest.raises(TargetError) as err:
        db.publish(make_results(tmp_path / "r", frame), "load")
    assert "at row 4, column 's'" in str(err.value)


# -- 6. MySQL / MariaDB: `%` in a column name; a connection killed during LOAD DATA ----


@pytest.mark.parametrize("db", ["mysql"], indirect=True)
def test_mysql_percent_in_a_column_name(db: Db, tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": [1, 2], "pct %s": [0.5, 0.25], "b%": [b"\x00", None]})
    db.publish(make_results(tmp_path / "1", frame), "createAndLoad")
    db.publish(make_results(tmp_path / "2", frame), "load")  # straight into the table
    db.publish(make_results(tmp_path / "3", frame), "upsert", table="u", key=("id",))
    assert db.rows() == [(1, 0.5, b"\x00"), (1, 0.5, b"\x00"), (2, 0.25, None), (2, 0.25, None)]
    assert db.rows("u") == [(1, 0.5, b"\x00"), (2, 0.25, None)]


@pytest.mark.parametrize("db", ["mysql"], indirect=True)
@pytest.mark.parametrize("action", ["truncateAndLoad", "load"])
def test_mysql_connection_killed_during_load_data(db: Db, tmp_path: Path, action: str) -> None:
    old_table(db, tmp_path)
    n = 200_000
    frame = pl.DataFrame({"id": pl.int_range(10, 10 + n, eager=True)}).with_columns(
        s=pl.format("value {}", pl.col("id"))
    )
    results = make_results(tmp_path / "r", frame)
    killed: list[int] = []
    ours = int(db.target.conn.thread_id())  # type: ignore[attr-defined]

    def kill() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            for pid, info in db.execute(
                f"select id, info from information_schema.PROCESSLIST where id = {ours}"
            ):  # only our own connection: the server is shared with other tests
                if info and str(info).lower().startswith("load data"):
                    db.execute(f"kill connection {int(pid)}")
                    killed.append(pid)
                    return
            time.sleep(0.005)

    killer = threading.Thread(target=kill)
    killer.start()
    try:
        with pytest.raises(TargetError) as err:
            db.publish(results, action)
    finally:
        killer.join()
    assert killed, "the LOAD DATA was never seen running"
    text = str(err.value)
    assert "connection lost" in text and "the table is unchanged" in text, text
    assert getattr(err.value, "transient", False) is True
    assert db.rows() == [(1, "o1"), (2, "o2")]
    again: Any = db.publish(results, action)  # a fresh connection afterwards
    assert again.rows_loaded == n
