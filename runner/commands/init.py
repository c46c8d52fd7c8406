"""`publish init`: a starter spec that runs on a fresh machine."""

from __future__ import annotations

from pathlib import Path

from runner.commands.context import Echo
from runner.errors import PublishError
from runner.schemafiles import modeline

SPEC = """\
version: 1
name: starter

connections:
  warehouse:
    vendor: sqlite
    database: warehouse.db

jobs:
  orders_clean:
    inputs:
      orders: data/orders.csv
    recipe: |
      select id, customer, amount from orders where amount is not null
    outputs: [avro]

targets:
  orders_out:
    job: orders_clean
    connection: warehouse
    path: [main]
    table: orders
    action: truncateAndLoad
    inputFormat: avro
"""

DATA = """\
id,customer,amount
1,alice,10.50
2,bob,
3,carol,7.25
"""


def init_command(directory: str, *, echo: Echo) -> None:
    folder = Path(directory)
    spec = folder / "publish.yaml"
    data = folder / "data" / "orders.csv"
    for path in (spec, data):
        if path.exists():
            raise PublishError(f"{path} already exists; init writes only into a fresh folder")
    data.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(f"{modeline(folder)}\n{SPEC}", encoding="utf-8")
    data.write_text(DATA, encoding="utf-8")
    echo(f"Wrote {spec} and {data}.\nNext: publish plan {folder}  then  publish apply {folder}")
