"""Issue 11, defect 1: a target schema (MySQL: database) that does not exist is planned as a
visible step and created by apply before the ledger and the table; ``createSchemas: false``
on the connection refuses at plan, naming the connection and the schema. Never at apply."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.plan.render_markdown import esc
from tests.cli.helpers import BASIC, assert_valid_plan, publish, write_spec
from tests.conftest import MYSQL_HOST, MYSQL_PORT, PG_HOST, PG_PORT, require_service


@pytest.fixture
def pg_missing_schema() -> Iterator[str]:
    """The name of a PostgreSQL schema that does not exist (dropped again afterwards)."""
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    import psycopg

    name = f"staging_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", dbname="test", autocommit=True
    ) as c:
        c.execute(f'drop schema if exists "{name}" cascade')


@pytest.fixture
def mysql_missing_database() -> Iterator[str]:
    require_service("MariaDB", MYSQL_HOST, MYSQL_PORT)
    import pymysql

    name = f"staging_{uuid.uuid4().hex[:8]}"
    yield name
    conn = pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"drop database if exists `{name}`")
    conn.close()


def _spec(folder: Path, vendor: str, schema: str, extra: str = "") -> Path:
    if vendor == "postgres":
        conn = (f"    vendor: postgres\n    host: {PG_HOST}\n    port: {PG_PORT}\n"
                "    database: test\n    username: postgres\n")  # fmt: skip
    else:
        conn = (f"    vendor: mysql\n    host: {MYSQL_HOST}\n    port: {MYSQL_PORT}\n"
                "    database: test\n    username: root\n")  # fmt: skip
    body = BASIC.replace("    vendor: sqlite\n    database: warehouse.db\n", conn + extra)
    return write_spec(folder, body.replace("path: [main]", f"path: [{schema}]"))


def _plans_and_creates(capsys: pytest.CaptureFixture[str], spec: Path, schema: str) -> None:
    r = publish(capsys, "plan", str(spec))
    assert r.code == 0, r.err
    line = f"  + schema warehouse.{schema}: create (it does not exist; created before its first"
    assert r.out.count(line) == 1, r.out
    # connection, schema, two new tables: the summary counts the schema's own line
    assert r.out.startswith("Plan: 4 to create, 0 to update, 0 to replace, 0 to forget, 1 to run.")
    doc = assert_valid_plan(publish(capsys, "plan", "--format", "json", str(spec)).out)
    creating = [c for c in doc["changes"] if c.get("createSchema")]  # type: ignore[attr-defined]
    assert [c["createSchema"] for c in creating] == [schema]
    md = publish(capsys, "plan", "--format", "markdown", str(spec)).out
    assert esc(f"schema warehouse.{schema}: create (it does not exist") in md and "| 4 |" in md
    applied = publish(capsys, "apply", "--auto-approve", str(spec))
    assert applied.code == 0, applied.out + applied.err
    assert "Apply complete: 4 done, 0 failed" in applied.out
    again = publish(capsys, "plan", "--detailed-exitcode", str(spec))
    assert again.code == 0 and "schema" not in again.out.split("Spec shop")[0]


def test_postgres_missing_schema_is_planned_and_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pg_missing_schema: str
) -> None:
    _plans_and_creates(capsys, _spec(tmp_path, "postgres", pg_missing_schema), pg_missing_schema)


def test_mariadb_missing_database_is_planned_and_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mysql_missing_database: str
) -> None:
    spec = _spec(tmp_path, "mysql", mysql_missing_database)
    _plans_and_creates(capsys, spec, mysql_missing_database)


def test_create_schemas_false_refuses_at_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pg_missing_schema: str
) -> None:
    spec = _spec(tmp_path, "postgres", pg_missing_schema, "    createSchemas: false\n")
    r = publish(capsys, "plan", str(spec))
    assert r.code == 1
    assert (
        f"connection.warehouse: schema '{pg_missing_schema}' does not exist and the "
        "connection says createSchemas: false" in r.err
    )
    assert "target.orders_copy, target.orders_out publish into it" in r.err
    applied = publish(capsys, "apply", "--auto-approve", str(spec))
    assert applied.code == 1 and "createSchemas: false" in applied.err
    assert "Apply complete" not in applied.out  # refused at its plan, nothing ran
