"""onSchemaChange through the CLI on real databases: appendNewColumns adds columns to a
table with rows, fail keeps the plan error, syncAllColumns' drops follow protect."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import assert_valid_plan, publish, write_spec
from tests.conftest import MYSQL_HOST, MYSQL_PORT, PG_HOST, PG_PORT

SPEC = """\
version: 1
name: shop
connections:
  wh:
{connection}
jobs:
  j:
    inputs:
      orders: data/orders.csv
    recipe: {recipe}
targets:
  t:
    job: j
    connection: wh
    path: [{path}]
    table: orders
    action: createAndLoad
{extra}"""

FIRST = "select id, customer from orders where id <= 2"
SECOND = "select id, amount, customer from orders where id >= 3"


def _spec(folder: Path, vendor: str, path: str, recipe: str, extra: str = "") -> Path:
    if vendor == "sqlite":
        connection = "    vendor: sqlite\n    database: wh.db"
    elif vendor == "postgres":
        connection = (f"    vendor: postgres\n    host: {PG_HOST}\n    port: {PG_PORT}\n"
                      "    database: test\n    username: postgres")  # fmt: skip
    else:
        connection = (f"    vendor: mysql\n    host: {MYSQL_HOST}\n    port: {MYSQL_PORT}\n"
                      f"    database: {path}\n    username: root")  # fmt: skip
    body = SPEC.format(connection=connection, recipe=json.dumps(recipe), path=path, extra=extra)
    return write_spec(folder, body)


def _rows(vendor: str, folder: Path, path: str) -> list[tuple[Any, ...]]:
    sql = "select id, customer, amount from {t} order by id"
    if vendor == "sqlite":
        with sqlite3.connect(folder / "wh.db") as c:
            return [tuple(r) for r in c.execute(sql.format(t="orders"))]
    if vendor == "postgres":
        import psycopg

        with psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="test") as c:
            return [tuple(r) for r in c.execute(sql.format(t=f'"{path}".orders'))]
    import pymysql

    conn = pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="")
    try:
        with conn.cursor() as cur:
            cur.execute(sql.format(t=f"`{path}`.orders"))
            return [tuple(r) for r in cur.fetchall()]
    finally:
        conn.close()


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def where(request: pytest.FixtureRequest) -> tuple[str, str]:
    vendor = str(request.param)
    if vendor == "sqlite":
        return vendor, "main"
    fixture = "pg_schema" if vendor == "postgres" else "mysql_database"
    return vendor, str(request.getfixturevalue(fixture))


def test_append_new_columns_adds_the_column_and_keeps_old_rows(
    where: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vendor, path = where
    spec = _spec(tmp_path, vendor, path, FIRST)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    # the default (fail) keeps today's plan error
    spec = _spec(tmp_path, vendor, path, SECOND)
    r = publish(capsys, "plan", str(spec))
    assert r.code == 1
    assert "do not match the columns" in r.err and "amount is not in the table" in r.err
    spec = _spec(tmp_path, vendor, path, SECOND, "    onSchemaChange: appendNewColumns\n")
    r = publish(capsys, "plan", "--format", "json", str(spec))
    assert r.code == 0, r.err
    change = next(c for c in assert_valid_plan(r.out)["changes"] if c["address"] == "target.t")  # type: ignore[attr-defined]
    assert len(change["alter"]) == 1
    assert change["alter"][0].startswith("ALTER TABLE ") and " ADD COLUMN " in change["alter"][0]
    assert "amount" in change["alter"][0]
    assert change["destructive"] is False
    implicit = "commits DDL implicitly" in change["consequence"]
    assert implicit is (vendor == "mysql")
    text = publish(capsys, "plan", str(spec))
    assert change["alter"][0] in text.out
    r = publish(capsys, "apply", "--auto-approve", str(spec))
    assert r.code == 0, r.err
    got = [
        (int(i), c, None if a is None else float(a)) for i, c, a in _rows(vendor, tmp_path, path)
    ]
    assert got == [(1, "alice", None), (2, "bob", None), (3, "carol", 7.25), (4, "dave", 3.0)]


def test_append_new_columns_refuses_a_retyped_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path, "sqlite", "main", FIRST)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    retyped = "select cast(id as varchar) as id, customer from orders"
    spec = _spec(tmp_path, "sqlite", "main", retyped, "    onSchemaChange: appendNewColumns\n")
    r = publish(capsys, "plan", str(spec))
    assert r.code == 1
    assert "never retypes a column" in r.err


def test_sync_all_columns_drop_is_destructive_and_follows_protect(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path, "sqlite", "main", "select id, customer, amount from orders")
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    dropped = "select id, customer from orders where id = 4"
    extra = "    onSchemaChange: syncAllColumns\n    protect: true\n"
    spec = _spec(tmp_path, "sqlite", "main", dropped, extra)
    r = publish(capsys, "plan", str(spec))
    assert r.code == 1
    assert "target.t is protected" in r.err and "--allow-destructive" in r.err
    r = publish(capsys, "plan", "--allow-destructive", "--format", "json", str(spec))
    assert r.code == 0, r.err
    change = next(c for c in json.loads(r.out)["changes"] if c["address"] == "target.t")
    assert change["destructive"] is True
    assert change["alter"] == ['ALTER TABLE "orders" DROP COLUMN "amount"']
    r = publish(capsys, "apply", "--auto-approve", "--allow-destructive", str(spec))
    assert r.code == 0, r.err
    with sqlite3.connect(tmp_path / "wh.db") as c:
        cols = [row[1] for row in c.execute("pragma table_info(orders)")]
        assert cols == ["id", "customer"]
        assert c.execute("select count(*) from orders").fetchone()[0] == 5


def test_append_new_columns_refuses_a_missing_not_null_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path, "sqlite", "main", FIRST)
    with sqlite3.connect(tmp_path / "wh.db") as c:
        c.execute("create table orders (id bigint, customer text, region text not null)")
    spec = _spec(tmp_path, "sqlite", "main", FIRST, "    onSchemaChange: appendNewColumns\n")
    r = publish(capsys, "plan", str(spec))
    assert r.code == 1
    assert "'region' is NOT NULL and not in the results" in r.err


def test_an_environment_sets_on_schema_change_for_its_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path, "sqlite", "main", FIRST)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    env = "environments:\n  prod:\n    onSchemaChange: appendNewColumns\n"
    spec = _spec(tmp_path, "sqlite", "main", SECOND, env)
    assert publish(capsys, "plan", str(spec)).code == 1
    r = publish(capsys, "plan", "--env", "prod", str(spec))
    assert r.code == 0, r.err
    assert 'ALTER TABLE "orders" ADD COLUMN "amount"' in r.out


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("first", "then", "words"),
    [
        # no cast from the one type to the other at all
        (
            "select id, cast('2024-01-03 09:15:00' as timestamp) as v from orders",
            "select id, cast(amount as decimal(12, 2)) as v from orders",
            "(timestamp without time zone -> numeric(12,2)): cannot cast type timestamp "
            "without time zone to numeric",
        ),
        # a cast exists, but a value the table holds does not convert
        (
            "select id, customer as v from orders",
            "select id, id as v from orders",
            '(text -> bigint): invalid input syntax for type bigint: "alice"',
        ),
    ],
)
def test_a_retype_postgres_cannot_do_fails_the_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pg_schema: str, first: str, then: str,
    words: str,
) -> None:  # fmt: skip
    """syncAllColumns planned ALTER COLUMN ... TYPE ... USING, which failed at apply (found by
    the property test): the plan converts the column's values as the ALTER would."""
    extra = "    onSchemaChange: syncAllColumns\n"
    spec = _spec(tmp_path, "postgres", pg_schema, first, extra)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    spec = _spec(tmp_path, "postgres", pg_schema, then, extra)
    result = publish(capsys, "plan", str(spec))
    assert result.code == 1, result.out
    assert (
        f"target.t: onSchemaChange syncAllColumns cannot retype column 'v' of "
        f"wh.{pg_schema}.orders {words}"
    ) in result.err


@pytest.mark.postgres
def test_a_retype_postgres_can_do_plans_and_applies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pg_schema: str
) -> None:
    extra = "    onSchemaChange: syncAllColumns\n"
    spec = _spec(tmp_path, "postgres", pg_schema, "select id, id as v from orders", extra)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    spec = _spec(tmp_path, "postgres", pg_schema, "select id, customer as v from orders", extra)
    assert publish(capsys, "plan", str(spec)).code == 0
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
