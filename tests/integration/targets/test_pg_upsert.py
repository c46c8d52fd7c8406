"""PostgreSQL upsert (issue 16): rows whose values are all the same are left alone."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest
from _warehouse_data import make_results

from runner.spec.model import Connection
from runner.targets.base import PublishRequest, TableRef
from runner.targets.postgres import PostgresTarget

pytestmark = pytest.mark.postgres

HOST = os.environ.get("PUBLISH_TEST_PG_HOST", "127.0.0.1")
PORT = int(os.environ.get("PUBLISH_TEST_PG_PORT", "5432"))
CONN = Connection(
    name="pg", vendor="postgres", host=HOST, port=PORT, database="test", username="postgres"
)


@pytest.fixture
def db(pg_schema: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(
        host=HOST, port=PORT, user="postgres", dbname="test", autocommit=True
    ) as c:
        c.execute(f'set search_path to "{pg_schema}"')
        yield c


def test_upsert_rewrites_changed_rows_only_and_minus_zero_is_a_change(
    pg_schema: str, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    db.execute("create table t (id bigint primary key, x double precision, s text)")
    db.execute("insert into t values (1, 0.0, 'a'), (2, 1.5, 'b'), (3, 2.5, 'c')")
    before = dict(db.execute("select id, xmin::text from t").fetchall())
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
    rows = db.execute("select id, x::text, s, xmin::text from t order by id").fetchall()
    assert [r[:3] for r in rows] == [
        (1, "-0", "a"),
        (2, "1.5", "b"),
        (3, "2.5", "C"),
        (4, "9", "d"),
    ]
    after = {r[0]: r[3] for r in rows}
    assert after[2] == before[2]  # the same values: not written again
    assert after[1] != before[1] and after[3] != before[3]
