"""PostgreSQL upsert (issue 16): rows whose values are all the same are left alone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest
from _three_dbs import PG_CONNECTION, PG_HOST, PG_PORT
from _warehouse_data import make_results

from runner.targets.base import PublishRequest, TableRef
from runner.targets.postgres import PostgresTarget

pytestmark = pytest.mark.postgres

CONN = PG_CONNECTION


def test_upsert_rewrites_changed_rows_only_and_minus_zero_is_a_change(
    pg_schema: str, pg_db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    pg_db.execute("create table t (id bigint primary key, x double precision, s text)")
    pg_db.execute("insert into t values (1, 0.0, 'a'), (2, 1.5, 'b'), (3, 2.5, 'c')")
    before = dict(pg_db.execute("select id, xmin::text from t").fetchall())
    frame = pl.DataFrame(
        {"id": [1, 2, 3, 4], "x": [-0.0, 1.5, 2.5, 9.0], "s": ["a", "b", "C", "d"]}
    )
    target = PostgresTarget(CONN)
    try:
        ref = TableRef("pg", (pg_schema,), "t")
        results = make_results(tmp_path / "r", frame)
        result = target.publish(PublishRequest("out", ref, "upsert", results, "run-1", ("id",)))
    finally:
        target.close()
    assert (result.rows_loaded, result.rows_after) == (4, 4)
    rows = pg_db.execute("select id, x::text, s, xmin::text from t order by id").fetchall()
    assert [r[:3] for r in rows] == [
        (1, "-0", "a"),
        (2, "1.5", "b"),
        (3, "2.5", "C"),
        (4, "9", "d"),
    ]
    after = {r[0]: r[3] for r in rows}
    assert after[2] == before[2]  # the same values: not written again
    assert after[1] != before[1] and after[3] != before[3]


def _upsert(pg_schema: str, tmp_path: Path, frame: pl.DataFrame, run: str = "run-1") -> Any:
    target = PostgresTarget(CONN)
    try:
        ref = TableRef("pg", (pg_schema,), "t")
        results = make_results(tmp_path / run, frame)
        return target.publish(PublishRequest("out", ref, "upsert", results, run, ("id",)))
    finally:
        target.close()


@pytest.fixture(params=["merge", "update then insert"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways: MERGE (PostgreSQL 15+) and UPDATE then INSERT (older servers)."""
    from runner.targets import postgres_merge

    if request.param == "update then insert":
        monkeypatch.setattr(postgres_merge, "MERGE_VERSION", 10**9)
    else:
        with psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="test") as c:
            if c.info.server_version < postgres_merge.MERGE_VERSION:
                pytest.skip("MERGE needs PostgreSQL 15 or later")
    return str(request.param)


def test_every_type_is_compared_exactly(
    path: str, pg_schema: str, pg_db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    """A value that its type calls equal but that is stored differently is a change."""
    pg_db.execute(
        "create collation if not exists publish_ci "
        "(provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
    )
    pg_db.execute(
        "create table t (id bigint primary key, n numeric(10, 2), c text collate publish_ci,"
        " j json, ts timestamptz, f real, k integer)"
    )
    pg_db.execute(
        "insert into t values"
        " (1, 1.5, 'a', '{\"a\": 1}', '2024-01-01 00:00:00+00', 0, 1),"  # all the same
        " (2, 1.5, 'a', '{\"a\": 1}', '2024-01-01 00:00:00+00', 0, 1),"  # text case
        " (3, 1.5, 'a', '{\"a\": 1}', '2024-01-01 00:00:00+00', 0, 1),"  # json spacing
        " (4, 1.5, 'a', '{\"a\": 1}', '2024-01-01 00:00:00+00', 0, 1),"  # real -0
        " (5, null, null, null, null, null, null),"  # nulls stay nulls
        " (6, null, 'a', '{\"a\": 1}', '2024-01-01 00:00:00+00', 0, 1)"  # null to a value
    )
    before = dict(pg_db.execute("select id, xmin::text from t").fetchall())
    frame = pl.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6],
            "n": ["1.50", "1.50", "1.50", "1.50", None, "1.50"],
            "c": ["a", "A", "a", "a", None, "a"],
            "j": ['{"a": 1}', '{"a": 1}', '{"a":1}', '{"a": 1}', None, '{"a": 1}'],
            "ts": [datetime(2024, 1, 1, tzinfo=UTC)] * 4 + [None, datetime(2024, 1, 1, tzinfo=UTC)],
            "f": [0.0, 0.0, 0.0, -0.0, None, 0.0],
            "k": [1, 1, 1, 1, None, 1],
        }
    ).with_columns(
        pl.col("n").cast(pl.Decimal(10, 2)),
        pl.col("f").cast(pl.Float32),
        pl.col("k").cast(pl.Int32),
    )
    result = _upsert(pg_schema, tmp_path, frame)
    assert (result.rows_loaded, result.rows_after) == (6, 6)
    rows = pg_db.execute("select id, c, j::text, f::text, n::text, xmin::text from t order by id")
    after = {r[0]: r for r in rows.fetchall()}
    assert after[2][1] == "A" and after[3][2] == '{"a":1}' and after[4][3] == "-0"
    assert after[6][4] == "1.50"
    unchanged = {i for i in after if after[i][5] == before[i]}
    assert unchanged == {1, 5}, path


def test_a_table_merge_refuses_takes_on_conflict(
    path: str, pg_schema: str, pg_db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    """A rule on the table: PostgreSQL refuses MERGE (and ON CONFLICT); the upsert still
    works by UPDATE then INSERT."""
    pg_db.execute("create table t (id bigint primary key, s text)")
    pg_db.execute("create table seen (id bigint)")
    pg_db.execute("create rule r as on insert to t do also insert into seen values (new.id)")
    pg_db.execute("insert into t values (1, 'a'), (2, 'b')")
    frame = pl.DataFrame({"id": [2, 3], "s": ["B", "c"]})
    result = _upsert(pg_schema, tmp_path, frame)
    assert result.rows_after == 3
    assert pg_db.execute("select id, s from t order by id").fetchall() == [
        (1, "a"),
        (2, "B"),
        (3, "c"),
    ]


@pytest.mark.parametrize("repeated", [1, 9], ids=["key in the table", "new key"])
def test_a_key_twice_in_the_results_names_it_and_changes_nothing(
    path: str, repeated: int, pg_schema: str, pg_db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    from runner.errors import TargetError

    pg_db.execute("create table t (id bigint primary key, s text)")
    pg_db.execute("insert into t values (1, 'a'), (2, 'b')")
    frame = pl.DataFrame({"id": [repeated, 5, repeated], "s": ["x", "y", "z"]})
    with pytest.raises(TargetError, match=rf"id={repeated} at rows 1, 3.*table is unchanged"):
        _upsert(pg_schema, tmp_path, frame)
    assert pg_db.execute("select id, s from t order by id").fetchall() == [(1, "a"), (2, "b")]


def test_the_merge_runs_without_jit_with_work_mem_raised_for_its_transaction_only(
    path: str, pg_schema: str, pg_db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    """The settings hold for the upsert's statements (a trigger records them) and end with
    its transaction: the target's connection is back at the server's defaults."""
    pg_db.execute("create table t (id bigint primary key, x text)")
    pg_db.execute("insert into t values (1, 'a')")
    pg_db.execute("create table seen (jit text, work_mem text)")
    pg_db.execute(
        "create function record_settings() returns trigger language plpgsql as $$ begin "
        f"insert into {pg_schema}.seen values (current_setting('jit'), "
        "current_setting('work_mem')); return null; end $$"
    )
    pg_db.execute(
        "create trigger record after insert or update on t "
        "for each statement execute function record_settings()"
    )
    default_jit = pg_db.execute("show jit").fetchone()
    target = PostgresTarget(CONN)
    try:
        frame = pl.DataFrame({"id": [1, 2], "x": ["b", "c"]})
        results = make_results(tmp_path / "r", frame)
        ref = TableRef("pg", (pg_schema,), "t")
        target.publish(PublishRequest("out", ref, "upsert", results, "run-1", ("id",)))
        after = target.conn.execute("show jit").fetchone()
    finally:
        target.close()
    assert pg_db.execute("select id, x from t order by id").fetchall() == [(1, "b"), (2, "c")]
    assert set(pg_db.execute("select jit, work_mem from seen").fetchall()) == {("off", "256MB")}
    assert after == default_jit


def test_floats_differ_by_sign_of_zero_and_nan_payload_not_by_equal_numbers(
    path: str, pg_schema: str, pg_db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    """Floats are compared as numbers, and at 0 and NaN by their bits: -0 replaces 0,
    another NaN replaces a NaN, the same bits leave the row alone."""
    import numpy as np

    pg_db.execute("create table t (id bigint primary key, x double precision, y real)")
    pg_db.execute(
        "insert into t values (1, 0, 0), (2, 'NaN', 'NaN'), (3, 'NaN', 1), (4, 2.5, 'NaN'),"
        " (5, '-0', 3), (6, 7, 7)"
    )
    canonical = pg_db.execute("select float8send(x) from t where id = 2").fetchone()
    assert canonical is not None
    other_nan = np.frombuffer(bytes.fromhex("7ff8000000000001"), ">f8").astype("<f8")[0]
    before = dict(pg_db.execute("select id, xmin::text from t").fetchall())
    frame = pl.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6],
            "x": [0.0, float("nan"), float(other_nan), 2.5, 0.0, 7.0],
            "y": [-0.0, float("nan"), 1.0, float("nan"), 3.0, 7.5],
        }
    ).with_columns(pl.col("y").cast(pl.Float32))
    sent = frame.get_column("x").to_numpy()[2].tobytes()[::-1].hex()
    if sent != "7ff8000000000001":
        pytest.skip(f"this polars/numpy build does not keep a NaN's payload ({sent})")
    _upsert(pg_schema, tmp_path, frame)
    rows = pg_db.execute(
        "select id, encode(float8send(x), 'hex'), y::text, xmin::text from t order by id"
    ).fetchall()
    after = {r[0]: r for r in rows}
    assert after[3][1] == "7ff8000000000001" and after[5][1] == "0000000000000000"
    assert after[1][2] == "-0" and after[6][2] == "7.5"
    changed = {i for i in after if after[i][3] != before[i]}
    assert changed == {1, 3, 5, 6}, path
