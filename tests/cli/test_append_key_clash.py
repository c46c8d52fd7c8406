"""An append (load / createAndLoad) that brings a key the table already holds under its
primary key or a unique index: the plan fails naming the value and the rows, instead of
the apply failing on the constraint (found by tests/property with 200 examples)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.cli.helpers import publish, write_spec
from tests.conftest import MYSQL_HOST, MYSQL_PORT, PG_HOST, PG_PORT

SPEC = """\
version: 1
name: r
connections:
  wh:
{connection}
jobs:
  j:
    inputs: {{t: data/orders.csv}}
targets:
  u: {{job: j, connection: wh, path: [{path}], table: u, action: {action}{key}}}
"""
SQLITE = "    vendor: sqlite\n    database: wh.db"
PG = (f"    vendor: postgres\n    host: {PG_HOST}\n    port: {PG_PORT}\n"
      "    database: test\n    username: postgres")  # fmt: skip


def _spec(
    folder: Path, csv: str, action: str, connection: str = SQLITE, path: str = "main"
) -> Path:
    key = ", key: [id]" if action == "upsert" else ""
    body = SPEC.format(connection=connection, path=path, action=action, key=key)
    return write_spec(folder, body, csv=csv)


def _to_load(spec: Path, action: str = "load") -> None:
    spec.write_text(spec.read_text().replace("action: upsert, key: [id]", f"action: {action}"))


@pytest.mark.parametrize("action", ["load", "createAndLoad"])
def test_an_append_of_a_key_an_upsert_made_unique_fails_the_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: str
) -> None:
    spec = _spec(tmp_path, "id,v\n1,a\n2,b\n", "upsert")
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    _to_load(spec, action)
    (tmp_path / "data" / "orders.csv").write_text("id,v\n3,c\n2,x\n4,d\n")
    result = publish(capsys, "plan", str(spec))
    assert result.code == 1, result.out
    assert (
        "target.u: wh.main.u already holds rows under its unique key (id): 1 result row(s) "
        "hold a value of (id) that the table already holds, such as id=2 (result row(s) 2); "
        f"{action} appends, so apply would fail"
    ) in result.err
    # new keys only: the plan passes and so does the apply
    (tmp_path / "data" / "orders.csv").write_text("id,v\n3,c\n4,d\n")
    assert publish(capsys, "plan", str(spec)).code == 0
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0


def test_null_keys_and_keys_of_a_partial_index_do_not_clash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a NULL id never clashes; 'b' repeats, but the partial index leaves 'b' out
    spec = _spec(tmp_path, "id,v\n,b\n1,b\n", "load")
    with sqlite3.connect(tmp_path / "wh.db") as c:
        c.execute("create table u (id integer, v text)")
        c.execute("create unique index u_id on u (id)")
        c.execute("create unique index u_v on u (v) where v <> 'b'")
        c.execute("insert into u values (null, 'a'), (2, 'b')")
    assert publish(capsys, "plan", str(spec)).code == 0
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0


def test_a_key_repeated_in_the_results_under_a_unique_index_fails_the_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path, "id,v\n1,a\n1,b\n", "truncateAndLoad")
    with sqlite3.connect(tmp_path / "wh.db") as c:
        c.execute("create table u (id integer, v text)")
        c.execute("create unique index u_id on u (id)")
    result = publish(capsys, "plan", str(spec))
    assert result.code == 1, result.out
    assert (
        "target.u: the unique key (id) of wh.main.u repeats in the results: 1 key value(s) "
        "on more than one row, such as id=1 in rows 1, 2"
    ) in result.err


@pytest.mark.postgres
def test_an_append_of_a_primary_key_the_table_holds_fails_the_plan_on_postgres(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pg_schema: str
) -> None:
    spec = _spec(tmp_path, "id,v\n1,a\n2,b\n", "upsert", PG, pg_schema)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    _to_load(spec)
    (tmp_path / "data" / "orders.csv").write_text("id,v\n1,c\n5,d\n")
    result = publish(capsys, "plan", str(spec))
    assert result.code == 1, result.out
    assert f"target.u: wh.{pg_schema}.u already holds rows under its primary key (id)" in (
        result.err
    )
    assert "such as id=1 (result row(s) 1)" in result.err


@pytest.mark.postgres
def test_a_unique_index_of_postgres_is_read_and_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pg_schema: str
) -> None:
    import psycopg

    spec = _spec(tmp_path, "id,v\n7,a\n8,b\n", "load", PG, pg_schema)
    with psycopg.connect(host=PG_HOST, port=PG_PORT, dbname="test", user="postgres") as c:
        c.execute(f'create table "{pg_schema}".u (id bigint, v text)')
        c.execute(f'create unique index on "{pg_schema}".u (v)')
        c.execute(f'create unique index on "{pg_schema}".u (lower(v))')  # an expression
        c.execute(f"insert into \"{pg_schema}\".u values (1, 'b')")
    result = publish(capsys, "plan", str(spec))
    assert result.code == 1, result.out
    assert f"target.u: wh.{pg_schema}.u already holds rows under its unique key (v)" in result.err
    assert "such as v='b' (result row(s) 2)" in result.err


@pytest.mark.parametrize("action", ["load", "createAndLoad"])
def test_an_append_of_a_key_an_upsert_made_unique_fails_the_plan_on_mariadb(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mysql_database: str, action: str
) -> None:
    mysql = (f"    vendor: mysql\n    host: {MYSQL_HOST}\n    port: {MYSQL_PORT}\n"
             f"    database: {mysql_database}\n    username: root")  # fmt: skip
    spec = _spec(tmp_path, "id,v\n1,a\n2,b\n", "upsert", mysql, mysql_database)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    _to_load(spec, action)
    (tmp_path / "data" / "orders.csv").write_text("id,v\n3,c\n2,x\n")
    result = publish(capsys, "plan", str(spec))
    assert result.code == 1, result.out
    assert f"target.u: wh.{mysql_database}.u already holds rows under its" in result.err
    assert "(id): 1 result row(s) hold a value of (id)" in result.err
    assert "such as id=2 (result row(s) 2)" in result.err
    (tmp_path / "data" / "orders.csv").write_text("id,v\n3,c\n")
    assert publish(capsys, "plan", str(spec)).code == 0
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0


def test_a_unique_key_of_mariadb_is_read(mysql_database: str) -> None:
    import pymysql

    from runner.spec.model import Connection
    from runner.targets.base import TableRef
    from runner.targets.mysql.target import MysqlTarget

    conn = pymysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="", database=mysql_database
    )
    with conn.cursor() as cur:
        cur.execute("create table u (id int primary key, a int, `b,c` varchar(9), d int)")
        cur.execute("create unique index ua on u (`b,c`, a)")
        cur.execute("create index i on u (d)")
    conn.close()
    connection = Connection(
        name="wh", vendor="mysql", host=MYSQL_HOST, port=MYSQL_PORT,
        database=mysql_database, username="root",
    )  # fmt: skip
    target = MysqlTarget(connection)
    try:
        (info,) = target.describe([TableRef("wh", (mysql_database,), "u")]).values()
    finally:
        target.close()
    assert info is not None
    assert info.primary_key == ("id",) and info.unique_keys == (("b,c", "a"),)
