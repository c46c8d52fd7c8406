"""Faults during warehouse loads: the table always holds its old rows or all the new ones.

A connection killed during COPY, a bad value at row 500,000, a reader polling during
truncateAndLoad, and the client process SIGKILLed mid truncateAndLoad / dropAndLoad,
on PostgreSQL and (where it applies) MariaDB.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pymysql
import pytest
from _warehouse_data import make_results

from runner.errors import TargetError
from runner.results import ResultSet
from runner.spec.model import Connection
from runner.targets.base import PublishRequest, TableRef
from runner.targets.mysql import MysqlTarget
from runner.targets.postgres import PostgresTarget
from runner.targets.postgres_copy import COPY_BATCH_ROWS

PG_HOST = os.environ.get("PUBLISH_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("PUBLISH_TEST_PG_PORT", "5432"))
MY_HOST = os.environ.get("PUBLISH_TEST_MYSQL_HOST", "127.0.0.1")
MY_PORT = int(os.environ.get("PUBLISH_TEST_MYSQL_PORT", "3306"))
PG = Connection(name="pg", vendor="postgres", host=PG_HOST, port=PG_PORT, database="test",
                username="postgres")  # fmt: skip
MY = Connection(name="my", vendor="mysql", host=MY_HOST, port=MY_PORT, username="root")
ROOT = Path(__file__).resolve().parents[3]
OLD = 1_000


def narrow(n: int, start: int = 0, bad_row: int | None = None) -> pl.DataFrame:
    """``n`` rows of (id, v); row ``bad_row`` (1-based) has a value too long for varchar(10)."""
    f = pl.DataFrame({"id": pl.int_range(start, start + n, eager=True)}).with_columns(
        v=pl.format("v{}", pl.col("id") % 1000)
    )
    if bad_row is not None:
        f = f.with_columns(
            v=pl.when(pl.int_range(pl.len()) == bad_row - 1)
            .then(pl.lit("far too long for ten"))
            .otherwise(pl.col("v"))
        )
    return f


def pg_admin() -> psycopg.Connection[Any]:
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="test",
                           autocommit=True)  # fmt: skip


def pg_old_table(schema: str) -> None:
    with pg_admin() as c:
        c.execute(f'create table "{schema}".t (id bigint not null, v varchar(10))')
        c.execute(f"insert into \"{schema}\".t select g, 'old' from generate_series(1, {OLD}) g")


def pg_count(schema: str) -> int:
    with pg_admin() as c:
        row = c.execute(f'select count(*) from "{schema}".t').fetchone()
        return int(row[0]) if row else -1


def pg_old_rows_intact(schema: str) -> bool:
    with pg_admin() as c:
        row = c.execute(f'select count(*), min(v), max(v) from "{schema}".t').fetchone()
    return row == (OLD, "old", "old")


# -- connection killed during COPY ---------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("action", ["truncateAndLoad", "dropAndLoad", "upsert", "load"])
def test_pg_connection_killed_during_copy(pg_schema: str, tmp_path: Path, action: str) -> None:
    pg_old_table(pg_schema)
    # three part files, so COPY is still going when the first progress call arrives
    results = make_results(tmp_path / "r", [narrow(20_000, OLD + i * 20_000) for i in range(3)])
    target = PostgresTarget(PG)
    killed: list[int] = []

    def kill(rows: int) -> None:
        if not killed:
            pid = target.conn.info.backend_pid
            with pg_admin() as c:
                c.execute("select pg_terminate_backend(%s)", (pid,))
            killed.append(rows)

    ref = TableRef("pg", (pg_schema,), "t")
    with pytest.raises(TargetError) as err:
        target.publish(PublishRequest("out", ref, action, results, "run-k", ("id",)), kill)
    assert killed == [COPY_BATCH_ROWS]  # the first batch, while COPY still runs
    assert "connection.pg (" in str(err.value) and "the table is unchanged" in str(err.value)
    assert pg_old_rows_intact(pg_schema)
    target.close()
    # the next publish on a fresh connection succeeds
    again = PostgresTarget(PG)
    assert (
        again.publish(PublishRequest("out", ref, "truncateAndLoad", results, "run-k2")).rows_after
        == 60_000
    )
    again.close()


# -- a bad value at row 500,000 -----------------------------------------------------------


@pytest.mark.postgres
def test_pg_bad_row_at_500000_leaves_the_table_unchanged(pg_schema: str, tmp_path: Path) -> None:
    pg_old_table(pg_schema)
    results = make_results(tmp_path / "r", narrow(600_000, OLD, bad_row=500_000))
    target = PostgresTarget(PG)
    ref = TableRef("pg", (pg_schema,), "t")
    with pytest.raises(TargetError) as err:
        target.publish(PublishRequest("bigload", ref, "truncateAndLoad", results, "run-b"))
    target.close()
    text = str(err.value)
    assert "target.bigload" in text and "at row 500000, column 'v'" in text, text
    assert "value too long" in text
    assert pg_old_rows_intact(pg_schema)


@pytest.mark.mysql
def test_mariadb_bad_row_at_500000_leaves_the_table_unchanged(
    mysql_database: str, tmp_path: Path
) -> None:
    my_old_table(mysql_database)
    results = make_results(tmp_path / "r", narrow(600_000, OLD, bad_row=500_000))
    target = MysqlTarget(MY)
    ref = TableRef("my", (mysql_database,), "t")
    with pytest.raises(TargetError) as err:
        target.publish(PublishRequest("bigload", ref, "truncateAndLoad", results, "run-b"))
    target.close()
    text = str(err.value)
    assert "target.bigload" in text and "at row 500000, column 'v'" in text, text
    assert my_old_rows_intact(mysql_database)
    assert my_tables(mysql_database) == ["_publish_ledger", "t"]  # the staging table went


# -- a concurrent reader during truncateAndLoad -----------------------------------------


def poll_while(load: Callable[[], Any], count: Callable[[], int]) -> set[int]:
    seen: set[int] = set()
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            seen.add(count())

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        load()
    finally:
        done.set()
        thread.join()
    seen.add(count())
    return seen


@pytest.mark.postgres
def test_pg_reader_sees_old_or_new_never_partial(pg_schema: str, tmp_path: Path) -> None:
    pg_old_table(pg_schema)
    new = 150_000
    results = make_results(tmp_path / "r", [narrow(50_000, OLD + i * 50_000) for i in range(3)])
    target = PostgresTarget(PG)
    ref = TableRef("pg", (pg_schema,), "t")
    with pg_admin() as reader:

        def count() -> int:
            row = reader.execute(f'select count(*) from "{pg_schema}".t').fetchone()
            return int(row[0]) if row else -1

        seen = poll_while(
            lambda: target.publish(PublishRequest("out", ref, "truncateAndLoad", results, "r1")),
            count,
        )
    target.close()
    assert seen <= {OLD, new}, seen
    assert new in seen


@pytest.mark.mysql
def test_mariadb_reader_sees_old_or_new_never_partial(mysql_database: str, tmp_path: Path) -> None:
    my_old_table(mysql_database)
    results = make_results(tmp_path / "r", [narrow(50_000, OLD + i * 50_000) for i in range(3)])
    target = MysqlTarget(MY)
    ref = TableRef("my", (mysql_database,), "t")
    reader = pymysql.connect(host=MY_HOST, port=MY_PORT, user="root", autocommit=True)
    try:

        def count() -> int:
            with reader.cursor() as cur:
                cur.execute(f"select count(*) from `{mysql_database}`.t")
                return int(cur.fetchone()[0])

        seen = poll_while(
            lambda: target.publish(PublishRequest("out", ref, "truncateAndLoad", results, "r1")),
            count,
        )
    finally:
        reader.close()
        target.close()
    assert seen <= {OLD, 150_000}, seen
    assert 150_000 in seen


# -- the client process killed mid-load --------------------------------------------------

CHILD = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from runner.results import ResultSet
from runner.spec.model import Connection
from runner.targets.base import PublishRequest, TableRef
vendor, spec, schema, action = sys.argv[2:6]
results = ResultSet.from_json(json.loads(Path(spec).read_text()), Path("/"))
if vendor == "postgres":
    from runner.targets.postgres import PostgresTarget as T
    conn = Connection(name="pg", vendor="postgres", host=sys.argv[6], port=int(sys.argv[7]),
                      database="test", username="postgres")
else:
    from runner.targets.mysql import MysqlTarget as T
    conn = Connection(name="my", vendor="mysql", host=sys.argv[6], port=int(sys.argv[7]),
                      username="root")
def progress(rows):
    print("loading", rows, flush=True)
    time.sleep(60)   # killed here, in the middle of the publish
T(conn).publish(PublishRequest("out", TableRef("x", (schema,), "t"), action, results, "run-9"),
                progress)
print("finished", flush=True)
"""


def kill_mid_publish(vendor: str, schema: str, action: str, results: ResultSet, tmp: Path) -> None:
    spec = tmp / "results.json"
    spec.write_text(json.dumps(results.to_json(Path("/"))))
    host, port = (PG_HOST, PG_PORT) if vendor == "postgres" else (MY_HOST, MY_PORT)
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(ROOT), vendor, str(spec), schema, action, host,
         str(port)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("loading"), line
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.postgres
@pytest.mark.parametrize("action", ["truncateAndLoad", "dropAndLoad"])
def test_pg_client_killed_mid_publish(pg_schema: str, tmp_path: Path, action: str) -> None:
    pg_old_table(pg_schema)
    results = make_results(tmp_path / "r", [narrow(5_000, OLD + i * 5_000) for i in range(2)])
    kill_mid_publish("postgres", pg_schema, action, results, tmp_path)
    assert pg_old_rows_intact(pg_schema)
    # the server rolls back the dead session; the same run then publishes in full
    target = PostgresTarget(PG)
    ref = TableRef("pg", (pg_schema,), "t")
    result = target.publish(PublishRequest("out", ref, action, results, "run-9"))
    target.close()
    assert not result.already_published and pg_count(pg_schema) == 10_000


@pytest.mark.mysql
@pytest.mark.parametrize("action", ["truncateAndLoad", "dropAndLoad"])
def test_mariadb_client_killed_mid_publish(
    mysql_database: str, tmp_path: Path, action: str
) -> None:
    my_old_table(mysql_database)
    results = make_results(tmp_path / "r", [narrow(5_000, OLD + i * 5_000) for i in range(2)])
    kill_mid_publish("mysql", mysql_database, action, results, tmp_path)
    assert my_old_rows_intact(mysql_database)
    assert any(t.startswith("_pub_stg_t_") for t in my_tables(mysql_database))  # leftover
    target = MysqlTarget(MY)
    ref = TableRef("my", (mysql_database,), "t")
    result = target.publish(PublishRequest("out", ref, action, results, "run-9"))
    target.close()
    assert not result.already_published and result.rows_after == 10_000
    assert my_tables(mysql_database) == ["_publish_ledger", "t"]  # leftover cleaned up


# -- MariaDB helpers ------------------------------------------------------------------------


def my_cursor(database: str) -> Any:
    return pymysql.connect(host=MY_HOST, port=MY_PORT, user="root", database=database,
                           autocommit=True).cursor()  # fmt: skip


def my_old_table(database: str) -> None:
    cur = my_cursor(database)
    cur.execute("create table t (id bigint not null, v varchar(10)) engine=InnoDB")
    cur.execute(
        "insert into t with recursive g(n) as (select 1 union all select n + 1 from g "
        f"where n < {OLD}) select n, 'old' from g"
    )
    cur.connection.close()


def my_old_rows_intact(database: str) -> bool:
    cur = my_cursor(database)
    cur.execute("select count(*), min(v), max(v) from t")
    row = cur.fetchone()
    cur.connection.close()
    return row == (OLD, "old", "old")


def my_tables(database: str) -> list[str]:
    cur = my_cursor(database)
    cur.execute("show tables")
    names = sorted(str(r[0]) for r in cur.fetchall())
    cur.connection.close()
    return names
