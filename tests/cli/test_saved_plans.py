"""Saved plans: applied exactly as shown, or refused as stale when what they were made on moved."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.cli.helpers import BASIC, ORDERS_CSV, count, publish, tables, write_spec


def test_inputs_changed_after_a_saved_plan_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC)
    planfile = tmp_path / "p.json"
    assert publish(capsys, "plan", str(spec), "--out", str(planfile)).code == 0
    (tmp_path / "data" / "orders.csv").write_text(ORDERS_CSV + "8,yves,2.0\n")
    r = publish(capsys, "apply", str(planfile))
    assert r.code == 1
    assert "input orders (data/orders.csv) of job.orders_clean changed since the plan" in r.err
    assert not (tmp_path / "warehouse.db").exists() or "orders" not in tables(
        tmp_path / "warehouse.db"
    )


def test_a_table_created_after_a_saved_plan_makes_it_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = BASIC.replace(
        "    action: dropAndLoad\n", "    action: dropAndLoad\n    protect: true\n"
    )
    spec = write_spec(tmp_path, body)
    planfile = tmp_path / "p.json"
    assert publish(capsys, "plan", str(spec), "--out", str(planfile)).code == 0
    with sqlite3.connect(tmp_path / "warehouse.db") as c:
        c.execute("create table orders_copy (x int)")
        c.execute("insert into orders_copy values (1), (2)")
    r = publish(capsys, "apply", str(planfile))
    assert r.code == 1
    assert "orders_copy exists now" in r.err
    assert count(tmp_path / "warehouse.db", "orders_copy") == 2


def test_an_empty_table_filled_after_a_saved_plan_makes_it_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Planned as replacing no rows (not destructive), the publish would now replace some."""
    spec = write_spec(tmp_path, BASIC)
    db = tmp_path / "warehouse.db"
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    with sqlite3.connect(db) as c:
        c.execute("delete from orders")
    (tmp_path / "data" / "orders.csv").write_text(ORDERS_CSV + "8,yves,2.0\n")
    planfile = tmp_path / "p.json"
    assert publish(capsys, "plan", str(spec), "--out", str(planfile)).code == 0
    with sqlite3.connect(db) as c:
        c.execute("insert into orders (id, customer, amount) values (1, 'x', 1.0), (2, 'y', 2.0)")
    r = publish(capsys, "apply", str(planfile))
    assert r.code == 1
    assert "main.orders held no rows when the plan was made and holds 2 now" in r.err
    assert count(db, "orders") == 2
