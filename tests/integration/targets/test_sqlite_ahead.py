"""SQLite rows staged ahead (issue 16): staged from a preview's parquet while apply still
plans, taken by the publish of the same results only; a failed or unused staging leaves the
publish as it was (it stages the rows itself) and no file behind."""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from runner.errors import TargetError
from runner.results import ResultSet, write_results
from runner.spec.model import Connection
from runner.targets import sqlite_ahead, sqlite_stage
from runner.targets.sqlite import SqliteTarget
from tests.integration.targets.test_sqlite_stage import (
    EVERY_TYPE,
    needs_driver,
    request,
    staging_files,
    traced,
    values,
)

pytestmark = needs_driver


@pytest.fixture
def target(tmp_path: Path) -> Iterator[SqliteTarget]:
    t = SqliteTarget(Connection("wh", vendor="sqlite", database="db/wh.db"), tmp_path)
    yield t
    t.close()


def written(tmp_path: Path, frame: pl.DataFrame) -> dict[str, ResultSet]:
    run = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    return write_results(frame, run, ["avro", "parquet"])


def attached(statements: list[str]) -> list[str]:
    return [s for s in statements if s.startswith("ATTACH")]


def ahead_of(target: SqliteTarget, res: dict[str, ResultSet], action: str) -> sqlite_ahead.Ahead:
    ahead = target.stage_ahead(request(res["parquet"], action, "t"))
    assert ahead is not None
    return ahead


@pytest.mark.parametrize("action", ["create", "truncateAndLoad", "upsert"])
def test_rows_staged_ahead_are_taken_and_store_what_a_bound_load_stores(
    target: SqliteTarget, tmp_path: Path, action: str
) -> None:
    res = written(tmp_path, EVERY_TYPE)
    with sqlite_ahead.session():
        ahead = ahead_of(target, res, action)
        ahead.bind(res["avro"].sha256)
        staged = ahead.wait()
        assert staged is not None and staged.rows == EVERY_TYPE.height
        statements = traced(target)
        target.publish(request(res["avro"], action, "t", key=("i64",)))
        assert attached(statements) == [
            f"ATTACH DATABASE '{staged.path}' AS {sqlite_stage.SCHEMA}"
        ], statements
    target.stage_rows = False
    target.publish(request(res["avro"], action, "bound", key=("i64",)))
    assert values(target, "t") == values(target, "bound")
    assert staging_files(target) == []


def test_rows_staged_for_other_results_are_not_taken_and_are_removed(
    target: SqliteTarget, tmp_path: Path
) -> None:
    res = written(tmp_path, pl.DataFrame({"id": [1, 2]}))
    other = written(tmp_path, pl.DataFrame({"id": [3]}))
    with sqlite_ahead.session():
        ahead = ahead_of(target, res, "truncateAndLoad")
        ahead.bind(res["avro"].sha256)
        staged = ahead.wait()
        assert staged is not None and staged.path.exists()
        statements = traced(target)
        target.publish(request(other["avro"], "truncateAndLoad", "t"))
        assert str(staged.path) not in "".join(attached(statements))
        assert staged.path.exists()  # still pending: removed when apply ends
    assert not staged.path.exists()
    assert staging_files(target) == []
    with sqlite3.connect(target.path) as c:
        assert c.execute("SELECT id FROM t").fetchall() == [(3,)]


def test_a_staging_ahead_that_fails_leaves_the_publish_to_stage_the_rows(
    target: SqliteTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    res = written(tmp_path, pl.DataFrame({"id": [1, 2]}))
    real = sqlite_stage.stage

    def full_disk(*args: object, **kwargs: object) -> sqlite_stage.Staged | None:
        raise sqlite_stage.StageError("disk I/O error")

    with sqlite_ahead.session():
        monkeypatch.setattr(sqlite_stage, "stage", full_disk)
        ahead = ahead_of(target, res, "create")
        ahead.bind(res["avro"].sha256)
        assert ahead.wait() is None
        monkeypatch.setattr(sqlite_stage, "stage", real)
        out = target.publish(request(res["avro"], "create", "t"))
    assert out.rows_after == 2
    assert staging_files(target) == []


def test_rows_the_table_refuses_fail_the_publish_with_its_error_and_leave_the_table(
    target: SqliteTarget, tmp_path: Path
) -> None:
    """A NaN stops the staging ahead; the publish meets it itself: the usual error, the
    table as it was, no staging file."""
    target.publish(request(written(tmp_path, pl.DataFrame({"x": [1.0]}))["avro"], "create", "t"))
    res = written(tmp_path, pl.DataFrame({"x": [2.0, math.nan]}))
    with sqlite_ahead.session():
        ahead = ahead_of(target, res, "truncateAndLoad")
        ahead.bind(res["avro"].sha256)
        assert ahead.wait() is None
        with pytest.raises(TargetError, match=r"column 'x' is NaN at row 2 of the results"):
            target.publish(request(res["avro"], "truncateAndLoad", "t"))
    with sqlite3.connect(target.path) as c:
        assert c.execute("SELECT x FROM t").fetchall() == [(1.0,)]
    assert staging_files(target) == []


def test_the_results_file_may_go_while_its_rows_are_staged_ahead(
    target: SqliteTarget, tmp_path: Path
) -> None:
    """The preview moves its folder and apply removes it: the file is opened at the start."""
    res = written(tmp_path, pl.DataFrame({"id": range(300_000)}))
    with sqlite_ahead.session():
        ahead = ahead_of(target, res, "create")
        res["parquet"].files[0].unlink()
        ahead.bind(res["avro"].sha256)
        staged = ahead.wait()
        assert staged is not None and staged.rows == 300_000
        assert target.publish(request(res["avro"], "create", "t")).rows_after == 300_000


def test_nothing_is_staged_ahead_outside_apply(target: SqliteTarget, tmp_path: Path) -> None:
    res = written(tmp_path, pl.DataFrame({"id": [1]}))
    assert target.stage_ahead(request(res["parquet"], "create", "t")) is None
    assert not target.path.parent.exists()


def test_an_apply_that_ends_first_stops_the_staging_and_removes_its_file(
    target: SqliteTarget, tmp_path: Path
) -> None:
    res = written(tmp_path, pl.DataFrame({"id": range(1_000_000)}))
    with sqlite_ahead.session():
        ahead_of(target, res, "create")
    assert staging_files(target) == []


def test_rows_staged_ahead_are_reported_and_an_interrupt_then_removes_them(
    target: SqliteTarget, tmp_path: Path
) -> None:
    res = written(tmp_path, pl.DataFrame({"id": [1, 2, 3]}))
    reported: list[int] = []
    with sqlite_ahead.session():
        ahead = ahead_of(target, res, "create")
        ahead.bind(res["avro"].sha256)
        assert ahead.wait() is not None
        target.publish(request(res["avro"], "create", "t"), reported.append)
    assert reported == [3]

    def stop(done: int) -> None:
        raise KeyboardInterrupt

    with sqlite_ahead.session():
        ahead = ahead_of(target, res, "dropAndLoad")
        ahead.bind(res["avro"].sha256)
        staged = ahead.wait()
        assert staged is not None
        with pytest.raises(KeyboardInterrupt):
            target.publish(request(res["avro"], "dropAndLoad", "t"), stop)
        assert not staged.path.exists()
    assert staging_files(target) == []


def test_frames_are_handed_to_the_staging_thread_as_arrow_tables() -> None:
    """Converted in the worker that makes them: the same checks as for polars frames."""
    frames = [pl.DataFrame({"a": [1], "s": ["x"]}), pl.DataFrame({"a": [2], "s": [None]})]
    tables = list(sqlite_stage.to_arrow(iter(frames)))
    assert [t.num_rows for t in tables] == [1, 1]
    assert sqlite_stage.bindable_by_driver(tables[0])
    dates = sqlite_stage.to_arrow(iter([pl.DataFrame({"d": [dt.date(2020, 1, 1)]})]))
    assert not sqlite_stage.bindable_by_driver(next(dates))
