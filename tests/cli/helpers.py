"""Run the CLI in-process and build small specs in a temp folder."""

from __future__ import annotations

import sqlite3
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from runner.cli import run


@dataclass
class Result:
    code: int
    out: str
    err: str


def publish(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    code = run(list(args))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


ORDERS_CSV = """\
id,customer,amount
1,alice,10.5
2,bob,
3,carol,7.25
4,dave,3.0
"""


def write_spec(folder: Path, body: str, *, csv: str = ORDERS_CSV) -> Path:
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "data" / "orders.csv").write_text(csv)
    spec = folder / "publish.yaml"
    spec.write_text(textwrap.dedent(body))
    return spec


BASIC = """\
version: 1
name: shop
connections:
  warehouse:
    vendor: sqlite
    database: warehouse.db
jobs:
  orders_clean:
    inputs:
      orders: data/orders.csv
    recipe: select id, customer, amount from orders where amount is not null
    outputs: [avro, csv]
targets:
  orders_out:
    job: orders_clean
    connection: warehouse
    path: [main]
    table: orders
    action: truncateAndLoad
    inputFormat: avro
  orders_copy:
    job: orders_clean
    connection: warehouse
    path: [main]
    table: orders_copy
    action: dropAndLoad
    inputFormat: csv
"""


def assert_valid_plan(text: str) -> dict[str, object]:
    """Parse a plan's JSON and check it against schemas/plan.schema.json."""
    import json

    import jsonschema

    schema_path = Path(__file__).resolve().parents[2] / "schemas" / "plan.schema.json"
    plan = json.loads(text)
    jsonschema.Draft202012Validator(json.loads(schema_path.read_text())).validate(plan)
    assert isinstance(plan, dict)
    return plan


def tables(db: Path) -> set[str]:
    """The names of the tables of a SQLite database."""
    with sqlite3.connect(db) as c:
        return {r[0] for r in c.execute("select name from sqlite_master where type='table'")}


def count(db: Path, table: str) -> int:
    """The number of rows of a SQLite table."""
    with sqlite3.connect(db) as c:
        return int(c.execute(f'select count(*) from "{table}"').fetchone()[0])
