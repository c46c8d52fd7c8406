"""The SQLite target against real database files: every action, atomicity, ledger, describe."""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from runner.errors import TargetError
from runner.results import ResultSet, write_results
from runner.spec.model import Connection
from runner.targets.base import LEDGER_TABLE, ColumnInfo, PublishRequest, TableRef
from runner.targets.sqlite import SqliteTarget

FORMATS = ("avro", "csv", "json", "parquet")


@pytest.fixture
def target(tmp_path: Path) -> SqliteTarget:
    t = SqliteTarget(Connection("wh", vendor="sqlite", database="db/warehouse.db"), tmp_path)
    yield t
    t.close()


def results(tmp_path: Path, frame: pl.DataFrame, fmt: str = "avro") -> ResultSet:
    run = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    return write_results(frame, run, [fmt])[fmt]


def request(
    res: ResultSet,
    action: str,
    *,
    table: str = "orders",
    run_id: str = "r1",
    key: tuple[str, ...] = (),
) -> PublishRequest:
    return PublishRequest("out", TableRef("wh", ("main",), table), action, res, run_id, key)


def db(target: SqliteTarget) -> sqlite3.Connection:
    return sqlite3.connect(target.path)


def rows(target: SqliteTarget, sql: str = 'SELECT * FROM "orders" ORDER BY 1') -> list[tuple]:
    with db(target) as c:
        return c.execute(sql).fetchall()


ORDERS = pl.DataFrame({"id": [1, 2, 3], "name": ["a", "b", None]})
OLD = pl.DataFrame({"id": [1, 9], "name": ["old1", "old9"]})


def seed(target: SqliteTarget, tmp_path: Path, frame: pl.DataFrame = OLD) -> None:
    target.publish(request(results(tmp_path, frame), "create", run_id="seed"))


# --- actions -------------------------------------------------------------------------------
def test_create_missing_then_refused_when_present(target: SqliteTarget, tmp_path: Path) -> None:
    res = results(tmp_path, ORDERS)
    out = target.publish(request(res, "create"))
    assert (out.rows_loaded, out.rows_after, out.already_published) == (3, 3, False)
    assert out.columns == (ColumnInfo("id", "bigint"), ColumnInfo("name", "text"))
    assert rows(target) == [(1, "a"), (2, "b"), (3, None)]
    with pytest.raises(
        TargetError, match=r"target\.out: wh\.main\.orders: the table already exists"
    ):
        target.publish(request(res, "create", run_id="r2"))


def test_load_needs_table_and_appends(target: SqliteTarget, tmp_path: Path) -> None:
    res = results(tmp_path, ORDERS)
    with pytest.raises(TargetError, match="does not exist"):
        target.publish(request(res, "load"))
    # rolled back, the ledger's creation included
    assert rows(target, "SELECT name FROM sqlite_master") == []
    seed(target, tmp_path)
    out = target.publish(request(res, "load"))
    assert (out.rows_loaded, out.rows_after) == (3, 5)


def test_create_and_load_both_cases(target: SqliteTarget, tmp_path: Path) -> None:
    res = results(tmp_path, ORDERS)
    assert target.publish(request(res, "createAndLoad")).rows_after == 3
    assert target.publish(request(res, "createAndLoad", run_id="r2")).rows_after == 6


def test_load_refuses_other_columns(target: SqliteTarget, tmp_path: Path) -> None:
    seed(target, tmp_path)
    other = results(tmp_path, pl.DataFrame({"id": [1], "extra": [1.5]}))
    with pytest.raises(TargetError, match="column 'extra' of the results is not in the table"):
        target.publish(request(other, "createAndLoad"))
    retyped = results(tmp_path, pl.DataFrame({"id": ["x"], "name": ["y"]}))
    with pytest.raises(TargetError, match="column 'id' is bigint in the table but string"):
        target.publish(request(retyped, "load"))
    assert rows(target) == [(1, "old1"), (9, "old9")]


def test_truncate_and_load_replaces_rows_keeps_view_and_index(
    target: SqliteTarget, tmp_path: Path
) -> None:
    assert target.publish(request(results(tmp_path, ORDERS), "truncateAndLoad")).rows_after == 3
    with db(target) as c:
        c.execute('CREATE INDEX "orders_name" ON "orders" ("name")')
        c.execute('CREATE VIEW "named" AS SELECT id FROM "orders" WHERE name IS NOT NULL')
    out = target.publish(request(results(tmp_path, OLD), "truncateAndLoad", run_id="r2"))
    assert (out.rows_loaded, out.rows_after) == (2, 2)
    assert rows(target) == [(1, "old1"), (9, "old9")]
    assert rows(target, 'SELECT id FROM "named" ORDER BY id') == [(1,), (9,)]
    indexes = rows(target, "SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY 1")
    assert ("orders_name",) in indexes


def test_drop_and_load_recreates_from_results(target: SqliteTarget, tmp_path: Path) -> None:
    target.publish(request(results(tmp_path, ORDERS), "dropAndLoad"))
    new = pl.DataFrame({"id": [5], "amount": pl.Series([Decimal("1.50")], dtype=pl.Decimal(10, 2))})
    out = target.publish(request(results(tmp_path, new), "dropAndLoad", run_id="r2"))
    assert out.columns == (ColumnInfo("id", "bigint"), ColumnInfo("amount", "numeric(10,2)"))
    assert rows(target) == [(5, 1.5)]


def test_upsert_creates_then_updates_by_key(target: SqliteTarget, tmp_path: Path) -> None:
    out = target.publish(request(results(tmp_path, OLD), "upsert", key=("id",)))
    assert out.rows_after == 2
    update = pl.DataFrame({"id": [9, 10], "name": ["new9", "new10"]})
    res = results(tmp_path, update)
    out = target.publish(request(res, "upsert", run_id="r2", key=("id",)))
    assert (out.rows_loaded, out.rows_after) == (2, 3)
    expected = [(1, "old1"), (9, "new9"), (10, "new10")]
    assert rows(target) == expected
    target.publish(request(res, "upsert", run_id="r3", key=("id",)))  # same upsert again
    assert rows(target) == expected


def test_upsert_adds_unique_index_to_present_table(target: SqliteTarget, tmp_path: Path) -> None:
    seed(target, tmp_path)
    res = results(tmp_path, pl.DataFrame({"id": [1], "name": ["x"]}))
    target.publish(request(res, "upsert", key=("id",)))
    assert rows(target) == [(1, "x"), (9, "old9")]
    with db(target) as c:
        unique = c.execute("SELECT count(*) FROM pragma_index_list('orders') WHERE \"unique\"")
        assert unique.fetchone() == (1,)


def test_upsert_needs_key_in_results(target: SqliteTarget, tmp_path: Path) -> None:
    res = results(tmp_path, ORDERS)
    with pytest.raises(TargetError, match=r"key column .nope. is not in the results"):
        target.publish(request(res, "upsert", key=("nope",)))


# --- atomicity -------------------------------------------------------------------------------
def test_not_null_violation_mid_load_leaves_table_as_it_was(
    target: SqliteTarget, tmp_path: Path
) -> None:
    target.path.parent.mkdir()
    with db(target) as c:
        c.execute('CREATE TABLE "orders" ("id" bigint, "name" text NOT NULL)')
        c.execute("INSERT INTO orders VALUES (1, 'keep')")
    names = [f"n{i}" for i in range(250_000)]
    names[180_000] = None  # row 180,001, in the second batch
    res = results(tmp_path, pl.DataFrame({"id": range(250_000), "name": names}))
    for action in ("load", "truncateAndLoad"):
        with pytest.raises(TargetError) as err:
            target.publish(request(res, action))
        message = str(err.value)
        assert "NOT NULL constraint failed: orders.name at row 180,001" in message
        assert "the table is unchanged" in message
        assert rows(target) == [(1, "keep")]


def test_duplicate_key_in_upsert_results_changes_nothing(
    target: SqliteTarget, tmp_path: Path
) -> None:
    seed(target, tmp_path)
    res = results(tmp_path, pl.DataFrame({"id": [1, 2, 2], "name": ["a", "b", "c"]}))
    with pytest.raises(TargetError, match=r"repeat 1 key value: id=2 at rows 2, 3; the table is"):
        target.publish(request(res, "upsert", key=("id",)))
    assert rows(target) == [(1, "old1"), (9, "old9")]
    with db(target) as c:  # nor was the unique index kept
        assert c.execute("SELECT count(*) FROM pragma_index_list('orders')").fetchone() == (0,)


def test_error_raised_by_progress_rolls_back_drop_and_load(
    target: SqliteTarget, tmp_path: Path
) -> None:
    seed(target, tmp_path)
    res = results(tmp_path, pl.DataFrame({"id": range(10), "other": range(10)}))

    def stop(done: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        target.publish(request(res, "dropAndLoad"), stop)
    assert rows(target) == [(1, "old1"), (9, "old9")]


def test_progress_reports_rows(target: SqliteTarget, tmp_path: Path) -> None:
    seen: list[int] = []
    res = results(tmp_path, pl.DataFrame({"id": range(250_000)}))
    target.publish(request(res, "create"), seen.append)
    assert seen == [100_000, 200_000, 250_000]


# --- ledger ----------------------------------------------------------------------------------
def test_ledger_makes_a_second_publish_a_no_op(target: SqliteTarget, tmp_path: Path) -> None:
    res = results(tmp_path, ORDERS)
    target.publish(request(res, "createAndLoad"))
    again = target.publish(request(res, "createAndLoad"))
    assert again.already_published and (again.rows_loaded, again.rows_after) == (0, 3)
    assert again.columns == (ColumnInfo("id", "bigint"), ColumnInfo("name", "text"))
    assert rows(
        target, f'SELECT run_id, target, table_name, action, rows FROM "{LEDGER_TABLE}"'
    ) == [("r1", "out", "orders", "createAndLoad", 3)]
    assert not target.publish(request(res, "createAndLoad", run_id="r2")).already_published


# --- describe --------------------------------------------------------------------------------
def test_describe_runs_constant_queries(target: SqliteTarget, tmp_path: Path) -> None:
    refs = [TableRef("wh", ("main",), f"t{i}") for i in range(6)]
    assert target.describe(refs) == dict.fromkeys(refs)  # no file yet: nothing, and no file made
    assert not target.path.exists() and target.introspection_queries == 0
    for i in range(5):
        res = results(tmp_path, pl.DataFrame({"id": range(i + 1)}))
        target.publish(request(res, "create", table=f"t{i}", run_id=f"r{i}"))
    with db(target) as c:
        c.execute('CREATE TABLE "T5x" ("a" INTEGER PRIMARY KEY, "B" Numeric( 10 , 2 ) NOT NULL)')
    before = target.introspection_queries
    one = target.describe(refs[:1])
    assert target.introspection_queries - before == 2
    before = target.introspection_queries
    many = target.describe([*refs, TableRef("wh", (), "t5X")])
    assert target.introspection_queries - before == 2
    assert one[refs[0]] == many[refs[0]]
    assert [many[r].rows for r in refs[:5]] == [1, 2, 3, 4, 5]  # type: ignore[union-attr]
    assert many[refs[5]] is None
    odd = many[TableRef("wh", (), "t5X")]
    assert odd is not None and odd.primary_key == ("a",)
    assert odd.columns == (ColumnInfo("a", "integer"), ColumnInfo("B", "numeric(10,2)", False))


def test_path_must_be_main(target: SqliteTarget) -> None:
    with pytest.raises(TargetError, match=r"path \['public'\] is not valid for SQLite"):
        target.describe([TableRef("wh", ("public",), "t")])


# --- identifiers and types -------------------------------------------------------------------
def test_identifiers_are_quoted(target: SqliteTarget, tmp_path: Path) -> None:
    table = 'we"ird; DROP TABLE x'
    frame = pl.DataFrame({'co"l; --': [1], "select": ["v"]})
    out = target.publish(
        request(results(tmp_path, frame), "upsert", table=table, key=('co"l; --',))
    )
    assert out.rows_after == 1
    assert rows(target, 'SELECT * FROM "we""ird; DROP TABLE x"') == [(1, "v")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_types_reach_sqlite_from_every_format(
    target: SqliteTarget, tmp_path: Path, fmt: str
) -> None:
    frame = pl.DataFrame(
        {
            "b": [True, False, None],
            "i": pl.Series([1, -2, None], dtype=pl.Int16),
            "f": [0.1, 2.5, None],
            "dec": pl.Series([Decimal("12.34"), Decimal("-0.10"), None], dtype=pl.Decimal(12, 2)),
            "s": ["é\nx", "", None],
            "bin": [b"\x00\x01", b"z", None],
            "d": [dt.date(2020, 2, 29), dt.date(1999, 1, 1), None],
            "t": [dt.time(23, 59, 59, 5), dt.time(0, 0), None],
            "ts": [dt.datetime(2020, 1, 2, 3, 4, 5, 600000), dt.datetime(1970, 1, 1), None],
            "tz": pl.Series(
                [dt.datetime(2020, 1, 2, 3, 4, 5), dt.datetime(2021, 7, 1), None]
            ).dt.replace_time_zone("America/New_York"),
        }
    )
    out = target.publish(request(results(tmp_path, frame, fmt), "create"))
    assert [c.sql_type for c in out.columns] == [
        "boolean", "smallint", "double precision", "numeric(12,2)", "text", "blob",
        "date", "time", "timestamp", "timestamptz",
    ]  # fmt: skip
    got = rows(target, 'SELECT * FROM "orders" ORDER BY rowid')
    assert got == [
        (1, 1, 0.1, 12.34, "é\nx", b"\x00\x01", "2020-02-29", "23:59:59.000005",
         "2020-01-02 03:04:05.600000", "2020-01-02 08:04:05.000000+00:00"),
        (0, -2, 2.5, -0.1, "", b"z", "1999-01-01", "00:00:00.000000",
         "1970-01-01 00:00:00.000000", "2021-07-01 04:00:00.000000+00:00"),
        (None,) * 10,
    ]  # fmt: skip
    kinds = rows(target, 'SELECT typeof("dec"), typeof("b"), typeof("bin") FROM "orders" LIMIT 1')
    assert kinds == [("real", "integer", "blob")]


def test_type_matches_is_by_family(target: SqliteTarget) -> None:
    m = target.type_matches
    assert m(ColumnInfo("a", "integer"), "int64") and m(ColumnInfo("a", "bigint"), "int8")
    assert m(ColumnInfo("a", "numeric(12,0)"), "int32")
    assert not m(ColumnInfo("a", "text"), "int64")
    assert m(ColumnInfo("a", "varchar(10)"), "string") and not m(ColumnInfo("a", "blob"), "string")
    assert m(ColumnInfo("a", "real"), "float64") and not m(ColumnInfo("a", "real"), "int64")
    assert m(ColumnInfo("a", "numeric(14,3)"), "decimal(12,2)")
    assert not m(ColumnInfo("a", "numeric(12,1)"), "decimal(12,2)")
    assert not m(ColumnInfo("a", "numeric(11,2)"), "decimal(12,2)")
    assert m(ColumnInfo("a", "datetime"), "timestamp") and not m(
        ColumnInfo("a", "date"), "timestamp"
    )
    assert m(ColumnInfo("a", ""), "binary")  # no declared type holds anything


def test_unreadable_results_leave_table(target: SqliteTarget, tmp_path: Path) -> None:
    seed(target, tmp_path)
    res = results(tmp_path, pl.DataFrame({"id": [5], "name": ["x"]}))
    res.files[0].write_bytes(b"not avro at all")
    with pytest.raises(TargetError, match=r"target\.out: cannot read the avro results"):
        target.publish(request(res, "truncateAndLoad"))
    assert rows(target) == [(1, "old1"), (9, "old9")]


def test_describe_and_publish_from_threads_through_one_target(
    target: SqliteTarget, tmp_path: Path
) -> None:
    """The executor shares one target between threads: publishes take turns, never deadlock,
    and describe() from another thread sees each table whole (old rows or new)."""
    from concurrent.futures import ThreadPoolExecutor

    old = results(tmp_path, pl.DataFrame({"id": range(1000), "name": "old"}))
    new = results(tmp_path, pl.DataFrame({"id": range(2000), "name": "new"}))
    tables = [f"t{i}" for i in range(3)]
    for t in tables:
        target.publish(request(old, "createAndLoad", table=t, run_id=f"seed-{t}"))
    refs = [TableRef("wh", ("main",), t) for t in tables]
    with ThreadPoolExecutor(4) as pool:
        loads = [
            pool.submit(target.publish, request(new, "truncateAndLoad", table=t, run_id=f"r-{t}"))
            for t in tables
        ]
        looks = [pool.submit(target.describe, refs) for _ in range(6)]
        assert [f.result(timeout=120).rows_after for f in loads] == [2000] * 3
        seen = [f.result(timeout=120) for f in looks]
    for infos in seen:
        assert all(info is not None for info in infos.values())
        assert {info.rows for info in infos.values() if info is not None} <= {1000, 2000}
    assert [rows(target, f'SELECT count(*), min(name) FROM "{t}"') for t in tables] == [
        [(2000, "new")]
    ] * 3
