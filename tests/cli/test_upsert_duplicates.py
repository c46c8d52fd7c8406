"""Issue 11, defect 9: duplicate upsert keys name the key values and the rows of the results
(never an internal staging table) at apply (--no-preview), on SQLite, PostgreSQL and MariaDB;
the plan refuses them on the previewed results (runner/plan/upsert_keys.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import BASIC, publish, write_spec
from tests.conftest import MYSQL_HOST, MYSQL_PORT, PG_HOST, PG_PORT

CSV = "id,customer,amount\n1,alice,1.0\n2,bob,2.0\n3,alice,3.0\n4,carol,4\n5,bob,5\n"
NAMED = (
    "upsert needs each key (customer) once, but the results repeat 2 key values: "
    "customer='alice' at rows 1, 3; customer='bob' at rows 2, 5"
)


def _spec(folder: Path, vendor: str, where: str) -> Path:
    body = BASIC.split("  orders_copy:")[0].replace(
        "truncateAndLoad", "upsert\n    key: [customer]"
    )
    if vendor == "postgres":
        conn = (f"    vendor: postgres\n    host: {PG_HOST}\n    port: {PG_PORT}\n"
                "    database: test\n    username: postgres\n")  # fmt: skip
    elif vendor == "mysql":
        conn = (f"    vendor: mysql\n    host: {MYSQL_HOST}\n    port: {MYSQL_PORT}\n"
                f"    database: {where}\n    username: root\n")  # fmt: skip
    else:
        conn = "    vendor: sqlite\n    database: warehouse.db\n"
    body = body.replace("    vendor: sqlite\n    database: warehouse.db\n", conn)
    return write_spec(folder, body.replace("path: [main]", f"path: [{where}]"), csv=CSV)


def _names_the_keys(capsys: pytest.CaptureFixture[str], spec: Path) -> None:
    plan = publish(capsys, "plan", str(spec))
    assert plan.code == 1, plan.err  # the previewed results, named at the target's key
    assert (
        "target.orders_out: upsert key (customer) repeats in the results: 2 key value(s) on "
        "more than one row, such as customer='alice' in rows 1, 3" in plan.err
    )
    r = publish(capsys, "apply", "--auto-approve", "--no-preview", str(spec))
    assert r.code == 1
    assert f"✗ failed: upsert into warehouse.{spec_where(spec)}.orders: {NAMED}; " in r.out, r.out
    assert "_stage" not in r.out and "_stg" not in r.out and "_pub_" not in r.out


def spec_where(spec: Path) -> str:
    return spec.read_text().split("path: [")[1].split("]")[0]


def test_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _names_the_keys(capsys, _spec(tmp_path, "sqlite", "main"))


def test_postgres(tmp_path: Path, capsys: pytest.CaptureFixture[str], pg_schema: str) -> None:
    _names_the_keys(capsys, _spec(tmp_path, "postgres", pg_schema))


def test_mariadb(tmp_path: Path, capsys: pytest.CaptureFixture[str], mysql_database: str) -> None:
    _names_the_keys(capsys, _spec(tmp_path, "mysql", mysql_database))
