"""Names a database would cut short, fold together or refuse, and names holding a secret,
are plan errors naming the column and the limit (issue 9, defects 4 and 7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.results import Column, ResultSchema
from runner.targets.names import name_problems
from runner.targets.registry import dialect_for
from tests.cli.helpers import publish, write_spec
from tests.conftest import PG_HOST, PG_PORT

SPEC = """\
version: 1
name: names
connections:
  db:
{connection}
jobs:
  clean:
    inputs:
      orders: data/orders.csv
    recipe: {recipe}
    outputs: [parquet]
targets:
  out:
    job: clean
    connection: db
    path: [{path}]
    table: orders
    action: {action}
    inputFormat: parquet
{key}"""


def spec(folder: Path, recipe: str, *, pg_schema: str | None = None, action: str = "createAndLoad",
         key: str = "") -> Path:  # fmt: skip
    if pg_schema is None:
        connection, path = "    vendor: sqlite\n    database: wh.db", "main"
    else:
        connection = (f"    vendor: postgres\n    host: {PG_HOST}\n    port: {PG_PORT}\n"
                      "    database: test\n    username: postgres")  # fmt: skip
        path = pg_schema
    body = SPEC.format(connection=connection, recipe=json.dumps(recipe), path=path,
                       action=action, key=f"    key: [{key}]\n" if key else "")  # fmt: skip
    return write_spec(folder, body)


def test_a_postgres_column_name_over_63_bytes_is_a_plan_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pg_schema: str
) -> None:
    long = "é" * 32  # 32 characters, 64 bytes
    path = spec(tmp_path, f'select id, customer as "{long}" from orders', pg_schema=pg_schema)
    r = publish(capsys, "apply", str(path), "--auto-approve")
    assert r.code == 1
    assert f"target.out: result column '{long}' is 64 bytes long (UTF-8)" in r.err
    assert "PostgreSQL names are at most 63 bytes" in r.err
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="test") as c:
        found = c.execute(
            "select count(*) from pg_tables where schemaname = %s", (pg_schema,)
        ).fetchone()
    assert found == (0,)  # nothing was created


def test_sqlite_columns_differing_only_in_case_are_a_plan_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = spec(tmp_path, 'select id, customer as "Name", customer as "name" from orders')
    r = publish(capsys, "plan", str(path))
    assert r.code == 1
    assert "result columns 'Name' and 'name' differ only in case, and SQLite" in r.err


def test_a_column_named_with_a_secret_is_a_plan_error_and_never_stored(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLISH_COLUMN_SECRET", "hunter2-column")
    recipe = "select id, customer as \"{{ secret('PUBLISH_COLUMN_SECRET') }}\" from orders"
    path = spec(tmp_path, recipe)
    r = publish(capsys, "plan", str(path), "--out", str(tmp_path / "plan.json"))
    assert r.code == 1
    assert "target.out: result column 2 has a secret's value in its name" in r.err
    r = publish(capsys, "apply", str(path), "--auto-approve")
    assert r.code == 1
    text = r.out + r.err
    for f in tmp_path.rglob("*"):
        if f.is_file() and f.suffix not in (".csv", ".yaml"):
            text += f.read_bytes().decode(errors="replace")
    assert "hunter2-column" not in text


def cols(*names: str, type: str = "string") -> ResultSchema:
    return ResultSchema(tuple(Column(n, type) for n in names))


def test_identifier_rules_per_database() -> None:
    pg, my, lite, rs = (dialect_for(v) for v in ("postgres", "mysql", "sqlite", "redshift"))
    assert name_problems(pg, "t", cols("a" * 63, "Aa", "aA")) == []
    assert "64 bytes long" in name_problems(pg, "t", cols("a" * 64))[0]
    assert "NUL" in name_problems(pg, "t", cols("a\x00b"))[0]
    assert "NUL" in name_problems(lite, "t", cols("a\x00b"))[0]
    assert "128 bytes long" in name_problems(rs, "t", cols("a" * 128))[0]
    assert "differ only in case" in name_problems(rs, "t", cols("Aa", "aA"))[0]
    assert name_problems(my, "t", cols("é" * 64)) == []  # 64 characters, 128 bytes
    assert (
        "65 characters long; MySQL/MariaDB names are at most 64"
        in (name_problems(my, "t", cols("é" * 65))[0])
    )
    assert "ends with a space" in name_problems(my, "t", cols("x "))[0]
    assert "beyond U+FFFF" in name_problems(my, "t", cols("\U0001f600"))[0]
    assert "differ only in case" in name_problems(my, "t", cols("Id", "ID"))[0]
    assert "table name 'x ' ends with a space" in name_problems(my, "x ", cols("a"))[0]
    assert name_problems(lite, "t", cols("x ", "\U0001f600", "é" * 200)) == []


def test_a_mysql_key_too_wide_for_an_index_names_the_column() -> None:
    my = dialect_for("mysql")
    schema = cols("a", "b", "c", "d")
    assert name_problems(my, "t", schema, ("a", "b", "c"), creates_key=True) == []
    problems = name_problems(my, "t", schema, ("a", "b", "c", "d"), creates_key=True)
    assert len(problems) == 1 and "key column 'd'" in problems[0] and "3,072" in problems[0]
    assert name_problems(my, "t", schema, ("a", "b", "c", "d")) == []  # the table exists
