"""SQLite's staged load (issue 16): rows written from Arrow into a staging file by the ADBC
driver, then copied in the publish's transaction; the same values as binding row by row."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from runner.results import Column, ResultSchema, ResultSet, write_results
from runner.spec.model import Connection
from runner.targets import sqlite_stage
from runner.targets.base import PublishRequest, TableRef
from runner.targets.sqlite import SqliteTarget
from runner.targets.sqlite_rows import create_sql
from runner.targets.sqlite_types import bindable

EVERY_TYPE = pl.DataFrame(
    {
        "b": [True, False, None, True],
        "i8": pl.Series([127, -128, None, 0], dtype=pl.Int8),
        "i32": pl.Series([2**31 - 1, -(2**31), None, 0], dtype=pl.Int32),
        "i64": [2**63 - 1, -(2**63), None, 0],
        "f32": pl.Series([1.5, -0.0, None, 3.4e38], dtype=pl.Float32),
        "f64": [0.1, 5e-324, None, -1.7976931348623157e308],
        "whole": [2.0, -0.0, None, 1e16],
        "dec": pl.Series(
            [Decimal("12.34"), Decimal("-0.10"), None, Decimal("99.00")], dtype=pl.Decimal(12, 2)
        ),
        "wide": pl.Series(
            [Decimal("12345678901234567890.123"), Decimal("-1.000"), None, Decimal("0.000")],
            dtype=pl.Decimal(38, 3),
        ),
        "s": ["é\nx\x00y", "", None, "123"],
        "bin": [b"\x00\x01", b"", None, b"z"],
        "d": [dt.date(2020, 2, 29), dt.date(1, 1, 1), None, dt.date(9999, 12, 31)],
        "t": [dt.time(23, 59, 59, 5), dt.time(0, 0), None, dt.time(12)],
        "ts": [
            dt.datetime(2020, 1, 2, 3, 4, 5, 600000),
            dt.datetime(1970, 1, 1),
            None,
            dt.datetime(2000, 1, 1),
        ],
        "tz": pl.Series(
            [
                dt.datetime(2020, 1, 2, 3, 4, 5),
                dt.datetime(2021, 7, 1),
                None,
                dt.datetime(2000, 1, 1),
            ]
        ).dt.replace_time_zone("America/New_York"),
        "nothing": pl.Series([None, None, None, None], dtype=pl.String),
    }
)


@pytest.fixture
def target(tmp_path: Path) -> Iterator[SqliteTarget]:
    t = SqliteTarget(Connection("wh", vendor="sqlite", database="db/wh.db"), tmp_path)
    yield t
    t.close()


def results(tmp_path: Path, frame: pl.DataFrame) -> ResultSet:
    run = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    return write_results(frame, run, ["avro"])["avro"]


def request(res: ResultSet, action: str, table: str, key: tuple[str, ...] = ()) -> PublishRequest:
    return PublishRequest("out", TableRef("wh", ("main",), table), action, res, "r1", key)


def values(target: SqliteTarget, table: str) -> list[tuple[object, ...]]:
    cols = EVERY_TYPE.columns
    picks = ", ".join(f'typeof("{c}"), "{c}"' for c in cols)
    with sqlite3.connect(target.path) as c:
        return c.execute(f'SELECT {picks} FROM "{table}" ORDER BY rowid').fetchall()


def staging_files(target: SqliteTarget) -> list[str]:
    return sorted(p.name for p in target.path.parent.glob("*publish-stage*"))


def traced(target: SqliteTarget) -> list[str]:
    statements: list[str] = []
    target._connect().set_trace_callback(statements.append)
    return statements


#: a dependency since issue 16; a work tree's venv from before may lack it until
#: `pip install -e .` (CI installs it, and fails without it)
needs_driver = pytest.mark.skipif(
    not sqlite_stage.available() and not os.environ.get("CI"),
    reason="adbc-driver-sqlite is not installed in this venv: pip install -e .",
)


@needs_driver
def test_the_driver_is_installed() -> None:
    """A dependency of the project: without it every load binds rows one by one."""
    assert sqlite_stage.available()


@needs_driver
@pytest.mark.parametrize("action", ["create", "truncateAndLoad", "upsert"])
def test_staged_and_bound_loads_store_the_same_values(
    target: SqliteTarget, tmp_path: Path, action: str
) -> None:
    res = results(tmp_path, EVERY_TYPE)
    statements = traced(target)
    target.publish(request(res, action, "staged", key=("i64",)))
    assert any("FROM publish_stage.rows" in s for s in statements), statements
    target.stage_rows = False
    target.publish(request(res, action, "bound", key=("i64",)))
    staged, bound = values(target, "staged"), values(target, "bound")
    assert staged == bound
    assert staged[0][:4] == ("integer", 1, "integer", 127)
    assert staged[1][10:12] == ("real", 5e-324)
    assert staging_files(target) == []


def test_a_not_null_violation_names_the_row_and_leaves_nothing(
    target: SqliteTarget, tmp_path: Path
) -> None:
    target.path.parent.mkdir()
    with sqlite3.connect(target.path) as c:
        c.execute('CREATE TABLE "t" ("id" bigint, "name" text NOT NULL)')
        c.execute("INSERT INTO t VALUES (1, 'keep')")
    res = results(tmp_path, pl.DataFrame({"id": [1, 2, 3], "name": ["a", None, "c"]}))
    with pytest.raises(Exception, match=r"NOT NULL constraint failed: t.name at row 2"):
        target.publish(request(res, "truncateAndLoad", "t"))
    assert staging_files(target) == []
    with sqlite3.connect(target.path) as c:
        assert c.execute("SELECT * FROM t").fetchall() == [(1, "keep")]


def test_an_interrupted_stage_leaves_no_file_and_no_table(
    target: SqliteTarget, tmp_path: Path
) -> None:
    res = results(tmp_path, pl.DataFrame({"id": range(250_000)}))

    def stop(done: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        target.publish(request(res, "create", "t"), stop)
    assert staging_files(target) == []
    assert target.describe([TableRef("wh", ("main",), "t")]) == {
        TableRef("wh", ("main",), "t"): None
    }


@needs_driver
def test_a_staging_file_of_a_killed_process_is_removed(
    target: SqliteTarget, tmp_path: Path
) -> None:
    folder = target.path.parent
    folder.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    stale = folder / f".wh.db.publish-stage-{int(dead.stdout)}-{'a' * 32}.db"
    alive = folder / f".wh.db.publish-stage-{os.getppid()}-{'b' * 32}.db"
    other = folder / f".other.db.publish-stage-{int(dead.stdout)}-{'c' * 32}.db"
    for path in (stale, alive, other):
        path.write_bytes(b"")
    target.publish(request(results(tmp_path, pl.DataFrame({"id": [1]})), "create", "t"))
    assert not stale.exists()
    assert alive.exists() and other.exists()


def test_only_types_the_driver_binds_like_sqlite3_are_staged() -> None:
    assert sqlite_stage.bindable_by_driver(pl.DataFrame({"a": [1], "s": ["x"], "b": [b"y"]}))
    assert not sqlite_stage.bindable_by_driver(pl.DataFrame({"u": pl.Series([1], dtype=pl.UInt64)}))
    assert not sqlite_stage.bindable_by_driver(pl.DataFrame({"d": [dt.date(2020, 1, 1)]}))
    frames = iter([pl.DataFrame({"d": [dt.date(2020, 1, 1)]})])
    assert sqlite_stage.stage(Path("unused.db"), frames, None) is None


@pytest.mark.parametrize(
    "micros",
    [
        [0, None, 1_600_000_000_123_456],  # Arrow's cast writes them
        [-62_135_596_800_000_001, None, 0],  # year 0: polars writes them
        [253_402_300_800_000_000, 0, None],  # year 10000: polars' "+10000"
        [None, None, None],
    ],
)
def test_dates_and_timestamps_are_staged_as_the_text_bound_rows_get(micros: list[int]) -> None:
    frame = pl.DataFrame(
        {
            "ts": pl.Series(micros, dtype=pl.Datetime("us")),
            "tz": pl.Series(micros, dtype=pl.Datetime("us", "UTC")),
            "d": pl.Series(micros, dtype=pl.Datetime("us")).dt.date(),
        }
    )
    schema = ResultSchema(
        (Column("ts", "timestamp"), Column("tz", "timestamptz"), Column("d", "date"))
    )
    bound = bindable(frame, schema).to_dicts()
    (staged,) = sqlite_stage.to_arrow(iter([bindable(frame, schema, dates=False)]), schema)
    assert staged.to_pylist() == bound
    assert sqlite_stage.bindable_by_driver(staged)


@pytest.mark.parametrize("action", ["create", "createAndLoad", "dropAndLoad", "truncateAndLoad"])
def test_a_table_made_in_the_publish_is_not_counted_again(
    target: SqliteTarget, tmp_path: Path, action: str
) -> None:
    """Its rows are the rows just inserted: no second pass over the data (issue 16)."""
    res = results(tmp_path, pl.DataFrame({"id": range(1000)}))
    if action == "dropAndLoad":
        seed = request(results(tmp_path, pl.DataFrame({"id": [1]})), "create", "t")
        target.publish(dataclasses.replace(seed, run_id="seed"))
    statements = traced(target)
    out = target.publish(request(res, action, "t"))
    assert out.rows_loaded == out.rows_after == 1000
    assert not [s for s in statements if "count(*)" in s.lower()], statements


def test_a_table_loaded_into_is_counted(target: SqliteTarget, tmp_path: Path) -> None:
    target.publish(request(results(tmp_path, pl.DataFrame({"id": [1, 2]})), "create", "t"))
    for action, after in (("load", 5), ("truncateAndLoad", 3), ("upsert", 3)):
        res = results(tmp_path, pl.DataFrame({"id": [7, 8, 9]}))
        out = target.publish(dataclasses.replace(request(res, action, "t", ("id",)), run_id=action))
        assert (out.rows_loaded, out.rows_after) == (3, after)


@needs_driver
@pytest.mark.parametrize("action", ["create", "dropAndLoad", "truncateAndLoad"])
def test_a_new_table_is_copied_from_a_staging_table_typed_like_it(
    target: SqliteTarget, tmp_path: Path, action: str
) -> None:
    """``INSERT INTO t SELECT *`` from a table of the same types: SQLite copies the records
    without decoding them (its transfer optimisation); the values are those bound."""
    if action == "dropAndLoad":
        seed = request(results(tmp_path, pl.DataFrame({"x": ["old"]})), "create", "staged")
        target.publish(dataclasses.replace(seed, run_id="seed"))
    res = results(tmp_path, EVERY_TYPE)
    statements = traced(target)
    target.publish(request(res, action, "staged"))
    assert 'INSERT INTO "staged" SELECT * FROM publish_stage.rows' in statements, statements
    target.stage_rows = False
    target.publish(request(res, "create", "bound"))
    assert values(target, "staged") == values(target, "bound")


def _untyped_table(target: SqliteTarget) -> ResultSet:
    target.path.parent.mkdir()
    with sqlite3.connect(target.path) as c:
        c.execute('CREATE TABLE "t" ("id", "amount")')  # no types: values kept as bound
    frame = pl.DataFrame(
        {"id": [1], "amount": pl.Series([Decimal("2.00")], dtype=pl.Decimal(10, 2))}
    )
    return results(target.path.parent.parent, frame)


def _stored(target: SqliteTarget) -> list[tuple[object, ...]]:
    with sqlite3.connect(target.path) as c:
        return c.execute('SELECT typeof("amount"), "amount" FROM "t"').fetchall()


@needs_driver
def test_rows_for_an_existing_table_are_staged_untyped(target: SqliteTarget) -> None:
    """Typed like a new table (numeric), 2.00 would be stored as the integer 2 in a column
    without a type; a bound load stores the real 2.0. Still staged, not bound."""
    res = _untyped_table(target)
    statements = traced(target)
    target.publish(request(res, "truncateAndLoad", "t"))
    assert any("FROM publish_stage.rows" in s for s in statements), statements
    assert _stored(target) == [("real", 2.0)]


@needs_driver
def test_a_typed_staging_table_is_not_copied_into_a_table_made_meanwhile(
    target: SqliteTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table appeared between the staging and the transaction: the rows are bound."""
    res = _untyped_table(target)
    monkeypatch.setattr(
        target, "_new_table_sql", lambda r: create_sql(r, sqlite_stage.TABLE), raising=True
    )
    target.publish(request(res, "truncateAndLoad", "t"))
    assert _stored(target) == [("real", 2.0)]


@needs_driver
def test_staging_does_not_import_the_drivers_dbapi(tmp_path: Path) -> None:
    """Its DB-API module imports pyarrow.dataset and pandas (~0.3 s at the first publish)."""
    script = f"""
import sys
from pathlib import Path
import polars as pl
from runner.targets import sqlite_stage
staged = sqlite_stage.stage(Path({str(tmp_path / "wh.db")!r}), iter([pl.DataFrame({{"a": [1]}})]), None)
assert staged is not None and staged.rows == 1, staged
print(sorted(m for m in ("adbc_driver_manager.dbapi", "pandas") if m in sys.modules))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
