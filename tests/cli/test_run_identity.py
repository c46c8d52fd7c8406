"""Which run a table holds: renamed tables, environments and lost state never skip a publish."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli.helpers import BASIC, ORDERS_CSV, count, publish, tables, write_spec


def test_renamed_table_is_published_not_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    spec.write_text(spec.read_text().replace("table: orders\n", "table: orders_v2\n"))
    r = publish(capsys, "apply", "--auto-approve", str(spec))
    assert r.code == 0, r.err + r.out
    assert "already published" not in r.out
    assert count(tmp_path / "warehouse.db", "orders_v2") == 3


def test_environments_share_a_database_without_sharing_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = BASIC.replace("table: orders\n", 'table: "orders_{{ environment }}"\n')
    body += "environments:\n  dev: {}\n  prod: {}\n"
    spec = write_spec(tmp_path, body)
    for env in ("dev", "prod"):
        r = publish(capsys, "apply", "--auto-approve", "--env", env, str(spec))
        assert r.code == 0, r.err + r.out
        assert "already published" not in r.out
    assert {"orders_dev", "orders_prod"} <= tables(tmp_path / "warehouse.db")


def test_forgotten_state_with_reverted_inputs_publishes_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    (tmp_path / "data" / "orders.csv").write_text(ORDERS_CSV + "9,zed,1.0\n")
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    assert count(tmp_path / "warehouse.db", "orders") == 4
    shutil.rmtree(tmp_path / ".publish")  # state lost; inputs back to the first version
    (tmp_path / "data" / "orders.csv").write_text(ORDERS_CSV)
    r = publish(capsys, "apply", "--auto-approve", str(spec))
    assert r.code == 0, r.err + r.out
    assert count(tmp_path / "warehouse.db", "orders") == 3
