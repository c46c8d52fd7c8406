"""One published table on SQLite, PostgreSQL and MariaDB, with a way to read it back."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import psycopg.types.json
import pymysql

from runner.results import ResultSet
from runner.spec.model import Connection
from runner.targets.base import PublishRequest, PublishResult, TableRef
from runner.targets.mysql import MysqlTarget
from runner.targets.postgres import PostgresTarget
from runner.targets.skeleton import TableTargetBase
from runner.targets.sqlite import SqliteTarget

PG_HOST = os.environ.get("PUBLISH_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("PUBLISH_TEST_PG_PORT", "5432"))
MY_HOST = os.environ.get("PUBLISH_TEST_MYSQL_HOST", "127.0.0.1")
MY_PORT = int(os.environ.get("PUBLISH_TEST_MYSQL_PORT", "3306"))
#: the local PostgreSQL's database `test`, as a target's connection
PG_CONNECTION = Connection(
    name="pg", vendor="postgres", host=PG_HOST, port=PG_PORT, database="test", username="postgres"
)
_runs = itertools.count()


@dataclass
class Db:
    """A target and a separate reading connection onto the same database."""

    vendor: str
    target: TableTargetBase
    path: tuple[str, ...]
    reader: Any

    def publish(
        self,
        results: ResultSet,
        action: str,
        *,
        table: str = "t",
        key: tuple[str, ...] = (),
        run_id: str | None = None,
    ) -> PublishResult:
        ref = TableRef("c", self.path, table)
        run = run_id or f"run-{next(_runs)}"
        return self.target.publish(PublishRequest("out", ref, action, results, run, key))

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        if self.vendor == "mysql":
            with self.reader.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall())
        cur = self.reader.execute(sql)
        return list(cur.fetchall()) if cur.description else []

    def quote(self, name: str) -> str:
        return f"`{name}`" if self.vendor == "mysql" else f'"{name}"'

    def rows(self, table: str = "t", order: str = "1") -> list[tuple[Any, ...]]:
        return self.execute(f"select * from {self.quote(table)} order by {order}")

    def count(self, table: str = "t") -> int:
        return int(self.execute(f"select count(*) from {self.quote(table)}")[0][0])


def open_db(vendor: str, tmp_path: Path, pg_schema: str | None, mysql_database: str | None) -> Db:
    if vendor == "sqlite":
        import sqlite3

        conn = Connection(name="c", vendor="sqlite", database="db.sqlite")
        reader = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
        return Db(vendor, SqliteTarget(conn, tmp_path), (), reader)
    if vendor == "postgres":
        assert pg_schema is not None
        conn = Connection(name="c", vendor="postgres", host=PG_HOST, port=PG_PORT,
                          database="test", username="postgres")  # fmt: skip
        reader = psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="test",
                                 autocommit=True, options=f"-c search_path={pg_schema} -c TimeZone=UTC")  # fmt: skip
        # json/jsonb as their text, like the other databases give it
        psycopg.types.json.set_json_loads(lambda text: text, reader)
        return Db(vendor, PostgresTarget(conn), (pg_schema,), reader)
    assert mysql_database is not None
    conn = Connection(name="c", vendor="mysql", host=MY_HOST, port=MY_PORT, username="root")
    reader = pymysql.connect(host=MY_HOST, port=MY_PORT, user="root", database=mysql_database,
                             autocommit=True, charset="utf8mb4", init_command="set time_zone='+00:00'")  # fmt: skip
    return Db(vendor, MysqlTarget(conn), (mysql_database,), reader)


def db_fixture(request: Any, tmp_path: Path) -> Iterator[Db]:
    """For a fixture parametrised with the vendor name."""
    vendor = request.param
    pg = request.getfixturevalue("pg_schema") if vendor == "postgres" else None
    my = request.getfixturevalue("mysql_database") if vendor == "mysql" else None
    db = open_db(vendor, tmp_path, pg, my)
    try:
        yield db
    finally:
        db.target.close()
        db.reader.close()
