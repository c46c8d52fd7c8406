"""Issue 10, defect 1: nothing a spec supplies runs as SQL at validate or plan (MariaDB).

Before connection params became an allow-list, ``params: {init_command: "drop table ..."}``
was handed to PyMySQL, which runs it on connect: ``publish plan`` dropped the table.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from runner.cli import run
from runner.errors import TargetError
from runner.spec.model import Connection
from runner.targets.mysql import MysqlTarget

pytestmark = pytest.mark.mysql

HOST = os.environ.get("PUBLISH_TEST_MYSQL_HOST", "127.0.0.1")
PORT = int(os.environ.get("PUBLISH_TEST_MYSQL_PORT", "3306"))


@pytest.fixture
def victim(mysql_database: str) -> Iterator[Any]:
    conn = pymysql.connect(host=HOST, port=PORT, user="root", database=mysql_database,
                           autocommit=True)  # fmt: skip
    with conn.cursor() as cur:
        cur.execute("create table victim (id int)")
        cur.execute("insert into victim values (1), (2)")
    yield conn
    conn.close()


def _rows(conn: Any) -> int:
    with conn.cursor() as cur:
        cur.execute("select count(*) from victim")
        return int(cur.fetchone()[0])


def test_plan_does_not_run_init_command(
    tmp_path: Path, mysql_database: str, victim: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "orders.csv").write_text("id\n1\n")
    spec = tmp_path / "publish.yaml"
    spec.write_text(
        textwrap.dedent(f"""\
        version: 1
        name: hostile
        connections:
          db:
            vendor: mysql
            host: {HOST}
            port: {PORT}
            database: {mysql_database}
            username: root
            params: {{init_command: "drop table {mysql_database}.victim"}}
        jobs:
          j: {{inputs: {{orders: orders.csv}}}}
        targets:
          t: {{job: j, connection: db, path: [{mysql_database}], table: victim,
               action: truncateAndLoad}}
        """)
    )
    assert run(["plan", str(spec)]) == 1
    err = capsys.readouterr().err
    assert "'init_command' is not a MySQL driver parameter publish allows" in err
    assert _rows(victim) == 2


def test_target_never_hands_a_refused_param_to_the_driver(mysql_database: str, victim: Any) -> None:
    conn = Connection("db", vendor="mysql", host=HOST, port=PORT, username="root",
                      database=mysql_database,
                      params={"init_command": f"drop table {mysql_database}.victim"})  # fmt: skip
    with pytest.raises(TargetError, match=r"params\.init_command is not a driver parameter"):
        target = MysqlTarget(conn)
        try:
            target.conn  # noqa: B018 - connecting is the point
        finally:
            target.close()
    assert _rows(victim) == 2
