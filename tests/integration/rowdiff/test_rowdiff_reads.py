"""How a diff reads rows: in batches, by locator for the samples, and again when it must."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from runner.results import ResultSet, write_results
from runner.rowdiff import postgres_arrow, readers, results_rows, sqlite_arrow, sqlite_rows, staging
from runner.rowdiff.engine import DiffOptions, _Rows, diff_table
from runner.spec.model import Connection
from runner.targets.base import PublishRequest, TableInfo, TableRef, TableTarget
from runner.targets.registry import open_target

ROWS = 1_000


def frame(rows: int = ROWS) -> pl.DataFrame:
    ids = pl.int_range(1, rows + 1, eager=True)
    return pl.DataFrame(
        {
            "id": ids,
            "name": ids.cast(pl.String).str.pad_start(6, "x"),
            "note": pl.Series([None if i % 7 == 0 else f'line\n{i}, "q"' for i in range(rows)]),
            "price": ids.cast(pl.Float64) / 3,
        }
    )


def edited() -> pl.DataFrame:
    """Row 1 and every 97th row changed, rows 500-503 removed, two rows added at the end."""
    base = frame()
    changed = pl.when((pl.col("id") % 97 == 0) | (pl.col("id") == 1))
    base = base.with_columns(changed.then(pl.col("price") + 1).otherwise(pl.col("price")))
    kept = base.filter(~pl.col("id").is_between(500, 503))
    return pl.concat([kept, frame(ROWS + 2).tail(2)])


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


def results(tmp_path: Path, data: pl.DataFrame, fmt: str = "parquet") -> ResultSet:
    run = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    return write_results(data, run, [fmt])[fmt]


def seed(target: TableTarget, ref: TableRef, rs: ResultSet) -> TableInfo:
    target.publish(PublishRequest("out", ref, "create", rs, "seed"))
    info = target.describe([ref])[ref]
    assert info is not None
    return info


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_small_batches_and_slices_give_the_same_diff(
    warehouse: tuple[TableTarget, TableRef],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    target, ref = warehouse
    info = seed(target, ref, results(tmp_path, frame()))
    rs = results(tmp_path, edited(), fmt)
    whole = diff_table(rs, "truncateAndLoad", info, target, key=("id",))
    monkeypatch.setattr(readers, "BATCH_ROWS", 64)
    monkeypatch.setattr(results_rows, "SLICE", 100)
    sliced = diff_table(rs, "truncateAndLoad", info, target, key=("id",))
    assert (
        whole.counts
        == sliced.counts
        == {
            "added": 2,
            "removed": 4,
            "changed": 11,
            "unchanged": 985,
        }
    )
    assert whole.samples == sliced.samples
    keys = [s.key["id"] for s in sliced.samples["changed"]]
    assert keys == ["1", "97", "194", "291", "388"]
    (change,) = sliced.samples["changed"][1].changes
    price = frame()["price"][96]
    assert change.column == "price"
    assert (float(change.before or 0), float(change.after or 0)) == (price, price + 1)
    assert [s.key["id"] for s in sliced.samples["removed"]] == ["500", "501", "502", "503"]
    assert sliced.samples["removed"][0].row["note"] == 'line\n499, "q"'
    assert [s.row["id"] for s in sliced.samples["added"]] == ["1001", "1002"]
    rows = diff_table(rs, "truncateAndLoad", info, target, options=DiffOptions(samples=2))
    assert rows.match == "inferred" and rows.counts == whole.counts


def test_a_multiset_diff_reads_its_samples_by_hash(
    warehouse: tuple[TableTarget, TableRef], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, ref = warehouse
    data = frame(50).drop("id", "name")  # nothing identifies a row
    info = seed(target, ref, results(tmp_path, data))
    incoming = pl.concat([data.head(49), data.slice(10, 2)])  # the last row gone, two twice
    monkeypatch.setattr(readers, "BATCH_ROWS", 8)
    monkeypatch.setattr(results_rows, "SLICE", 10)
    for fmt in ("parquet", "csv"):
        d = diff_table(results(tmp_path, incoming, fmt), "truncateAndLoad", info, target)
        assert d.match == "rows"
        assert d.counts == {"added": 2, "removed": 1, "changed": 0, "unchanged": 49}
        (removed,) = d.samples["removed"]
        prices = data["price"]
        assert float(removed.row["price"] or 0) == prices[49]
        added = sorted(float(s.row["price"] or 0) for s in d.samples["added"])
        assert added == [prices[10], prices[11]]


def test_rows_read_by_locator_must_still_be_the_rows_that_were_hashed(tmp_path: Path) -> None:
    """A rowid taken by another row since the table was read is not that row's sample."""
    target = open_target(Connection("wh", vendor="sqlite", database="wh.db"), tmp_path)
    ref = TableRef("wh", ("main",), "orders")
    try:
        seed(target, ref, results(tmp_path, frame(10)))
        rows = _Rows(
            results(tmp_path, frame(10)),
            target,
            ref,
            [("id", "int64"), ("name", "string"), ("note", "string"), ("price", "float64")],
        )
        old = staging.narrowed("table", rows.table(), rows.compared, ["id"])
        picked = old.narrow.filter(pl.col("id") == 3)
        with sqlite3.connect(tmp_path / "wh.db") as db:  # row 3 gone, its rowid reused
            rowid = picked[staging.LOC].item()
            db.execute('delete from "orders" where "id" = 3')
            db.execute(
                'insert into "orders" (rowid, "id", "name", "note", "price") values (?, 99, ?, ?, 1)',
                (rowid, "intruder", "x"),
            )
        found = rows.before(picked, ["id"], 1)
        assert found.height == 0  # re-read by key: row 3 is no longer there
        other = old.narrow.filter(pl.col("id") == 4)
        assert rows.before(other, ["id"], 1)["id"].to_list() == [4]
    finally:
        target.close()


def sqlite_table(tmp_path: Path, ddl: str, rows: list[tuple[object, ...]]) -> TableInfo:
    with sqlite3.connect(tmp_path / "wh.db") as db:
        db.execute(ddl)
        db.executemany(f"insert into t values ({', '.join('?' * len(rows[0]))})", rows)
    target = open_target(Connection("wh", vendor="sqlite", database="wh.db"), tmp_path)
    try:
        info = target.describe([TableRef("wh", ("main",), "t")])[TableRef("wh", ("main",), "t")]
    finally:
        target.close()
    assert info is not None
    return info


def test_sqlite_decimals_stored_as_integers_are_read_by_the_arrow_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NUMERIC affinity keeps 2.00 as the integer 2: cast to REAL, the batch stays Arrow."""
    if not sqlite_arrow.available():
        pytest.skip("adbc-driver-sqlite is not installed")
    rows = [(i, i if i <= 8 else i + 0.25) for i in range(1, 21)]
    info = sqlite_table(tmp_path, "create table t (id integer, amount numeric(12,2))", rows)

    def no_json(*args: object) -> object:
        raise AssertionError("read as JSON arrays")

    monkeypatch.setattr(sqlite_rows, "_batches", no_json)
    monkeypatch.setattr(readers, "BATCH_ROWS", 4)
    frame = pl.DataFrame(
        {"id": [r[0] for r in rows], "amount": [float(r[1]) for r in rows]},
        schema={"id": pl.Int64, "amount": pl.Float64},
    )
    target = open_target(Connection("wh", vendor="sqlite", database="wh.db"), tmp_path)
    try:
        d = diff_table(results(tmp_path, frame), "truncateAndLoad", info, target, key=("id",))
    finally:
        target.close()
    assert d.counts == {"added": 0, "removed": 0, "changed": 0, "unchanged": 20}


def test_sqlite_values_of_another_type_after_the_first_batch_are_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's dynamic typing: the driver refuses the text; the table is read as JSON."""
    rows: list[tuple[object, ...]] = [(i, i * 10) for i in range(1, 13)]
    rows[10] = (11, "a lot")  # a column without affinity keeps text as text
    info = sqlite_table(tmp_path, "create table t (id integer, n)", rows)
    monkeypatch.setattr(readers, "BATCH_ROWS", 4)
    frame = pl.DataFrame({"id": list(range(1, 13)), "n": [i * 10 for i in range(1, 13)]})
    target = open_target(Connection("wh", vendor="sqlite", database="wh.db"), tmp_path)
    try:
        d = diff_table(results(tmp_path, frame), "truncateAndLoad", info, target, key=("id",))
    finally:
        target.close()
    assert d.counts == {"added": 0, "removed": 0, "changed": 1, "unchanged": 11}
    (change,) = d.samples["changed"][0].changes
    assert (change.column, change.before, change.after) == ("n", None, "110")


def test_postgres_without_its_arrow_driver_reads_through_copy(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ADBC driver failing before its first batch (cannot connect): psycopg's COPY."""
    schema = request.getfixturevalue("pg_schema")
    conn = Connection(
        "wh", vendor="postgres", host="127.0.0.1", database="test", username="postgres"
    )
    target = open_target(conn, tmp_path)
    ref = TableRef("wh", (schema,), "orders")
    try:
        info = seed(target, ref, results(tmp_path, frame(50)))
        rs = results(tmp_path, edited().filter(pl.col("id") <= 50))
        through_arrow = diff_table(rs, "truncateAndLoad", info, target, key=("id",))

        def refuse(*args: object) -> object:
            raise OSError("could not connect")

        monkeypatch.setattr(postgres_arrow, "_batches", refuse)
        through_copy = diff_table(rs, "truncateAndLoad", info, target, key=("id",))
    finally:
        target.close()
    assert (
        through_copy.counts
        == through_arrow.counts
        == {
            "added": 0,
            "removed": 0,
            "changed": 1,
            "unchanged": 49,
        }
    )
    assert through_copy.samples == through_arrow.samples


def test_a_sample_row_not_found_again_shows_no_row_rather_than_crashing() -> None:
    """Read again by hash, a row may not come back (the table changed since it was read, or
    a value read another way hashes otherwise): no sample, not a KeyError (the property test
    found one at plan, exit 3)."""
    from runner.rowdiff.engine import _display

    assert _display(pl.DataFrame(), ["1st", "b"]) == []


def test_an_infinite_real_reads_again_through_sqlite_json(tmp_path: Path) -> None:
    """SQLite's json_group_array writes an infinite REAL as a bare ``Inf`` (not JSON): the
    rows read again by locator crashed the plan (found by the property test, exit 3)."""
    from runner.rowdiff import sqlite_rows
    from runner.targets.base import TableRef

    db = tmp_path / "wh.db"
    with sqlite3.connect(db) as c:
        c.execute("create table t (f real, n integer, s text)")
        c.execute("insert into t values (9e999, 1, 'a'), (-9e999, 2, 'b'), (1.5, 9e999, 'c')")
    ref = TableRef("wh", (), "t")
    columns = [("f", "float32"), ("n", "int64"), ("s", "string")]
    frame = sqlite_rows.rows_at(db, ref, columns, [1, 2, 3])
    assert frame["f"].to_list() == [float("inf"), float("-inf"), 1.5]
