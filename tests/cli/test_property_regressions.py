"""Regressions found by tests/property/test_plan_then_apply.py, each cut to its smallest spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import publish, write_spec

EMPTY_UPSERT = """\
version: 1
name: r
connections:
  wh: {vendor: sqlite, database: wh.db}
jobs:
  j:
    inputs: {t: data/orders.csv}
    recipe: select * from t where false
targets:
  u: {job: j, connection: wh, table: u, action: upsert, key: [id]}
"""


def test_upsert_of_empty_results_into_an_empty_table_plans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both sides of the row diff empty: no key columns to join on (was KeyError: 'id')."""
    spec = write_spec(tmp_path, EMPTY_UPSERT)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    (tmp_path / "data" / "orders.csv").write_text("id,customer,amount\n9,zoe,1.0\n")
    result = publish(capsys, "plan", "--detailed-exitcode", str(spec))
    assert result.code == 2, result.err
    assert "rows: 0 new keys (matched by key id)" in result.out
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0


NO_COLUMNS = """\
version: 1
name: r
connections:
  wh: {vendor: sqlite, database: wh.db}
jobs:
  j:
    inputs: {t: data/empty.json}
targets:
  t: {job: j, connection: wh, table: t, action: createAndLoad}
"""


def test_results_without_columns_fail_the_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty JSON array has no columns: apply failed on 'create table t ()'."""
    spec = write_spec(tmp_path, NO_COLUMNS)
    (tmp_path / "data" / "empty.json").write_text("[]")
    result = publish(capsys, "plan", str(spec))
    assert result.code == 1
    assert "target.t: the results have no columns, and a table needs at least one" in result.err
