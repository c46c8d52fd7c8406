"""PostgreSQL: staging tables a crashed run left behind are dropped by the next publish of
their table, and nothing else is (another table's staging, a user's table of a like name)."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import psycopg
import pytest
from _warehouse_data import make_results

from runner.spec.model import Connection
from runner.targets._common import staging_name
from runner.targets.base import PublishRequest, TableRef
from runner.targets.postgres import NAME_LIMIT, PostgresTarget

PG_HOST = os.environ.get("PUBLISH_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("PUBLISH_TEST_PG_PORT", "5432"))
PG = Connection(name="pg", vendor="postgres", host=PG_HOST, port=PG_PORT, database="test",
                username="postgres")  # fmt: skip


def relations(schema: str) -> set[str]:
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="test") as c:
        rows = c.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relkind = 'r'",
            (schema,),
        ).fetchall()
    return {r[0] for r in rows}


@pytest.mark.postgres
@pytest.mark.parametrize("action", ["truncateAndLoad", "dropAndLoad", "upsert"])
def test_leftover_staging_of_the_table_is_dropped(
    pg_schema: str, tmp_path: Path, action: str
) -> None:
    leftovers = [staging_name(kind, "t", "crashed-run", NAME_LIMIT) for kind in ("stg", "new")]
    others = [staging_name("stg", "t2", "crashed-run", NAME_LIMIT), "_pub_stg_t_mine"]
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", dbname="test", autocommit=True
    ) as c:
        for name in leftovers + others:
            c.execute(f'create table "{pg_schema}"."{name}" (x int)')
    results = make_results(tmp_path / "r", [pl.DataFrame({"id": [1, 2], "v": ["a", "b"]})])
    target = PostgresTarget(PG)
    try:
        ref = TableRef("pg", (pg_schema,), "t")
        key = ("id",) if action == "upsert" else ()
        target.publish(PublishRequest("out", ref, action, results, "run-1", key))
    finally:
        target.close()
    left = relations(pg_schema)
    assert not left & set(leftovers)
    assert set(others) <= left and "t" in left
