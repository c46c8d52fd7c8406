"""Properties of plan/apply on random data edits (hypothesis):

- after apply, every table holds what its action promises for the data so far;
- plan(spec, apply(plan(spec))) is empty;
- the same upsert applied twice gives the same table.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.cli import run
from tests.cli.helpers import write_spec

SPEC = """\
version: 1
name: props
connections:
  w:
    vendor: sqlite
    database: w.db
jobs:
  j:
    inputs:
      t: data/orders.csv
    recipe: select cast(id as bigint) as id, cast(v as bigint) as v from t
    outputs: [avro]
targets:
  replaced:
    job: j
    connection: w
    table: replaced
    action: truncateAndLoad
  merged:
    job: j
    connection: w
    table: merged
    action: upsert
    key: [id]
  appended:
    job: j
    connection: w
    table: appended
    action: createAndLoad
"""

batch = st.dictionaries(st.integers(0, 50), st.integers(-1000, 1000), min_size=1, max_size=20)


def table(db: Path, name: str) -> list[tuple[int, int]]:
    with sqlite3.connect(db) as c:
        return sorted(c.execute(f'select id, v from "{name}"').fetchall())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(batch, min_size=1, max_size=4))
def test_apply_converges_on_random_edits(batches: list[dict[int, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spec = write_spec(folder, SPEC, csv="id,v\n")
        merged: dict[int, int] = {}
        appended: list[tuple[int, int]] = []
        previous: dict[int, int] | None = None
        for rows in batches:
            csv = "id,v\n" + "".join(f"{k},{v}\n" for k, v in rows.items())
            (folder / "data" / "orders.csv").write_text(csv)
            assert run(["apply", "--auto-approve", str(spec)]) == 0
            if rows != previous:  # the same data again is not a new run: nothing to publish
                merged.update(rows)
                appended += rows.items()
            previous = rows
            db = folder / "w.db"
            assert table(db, "replaced") == sorted(rows.items())
            assert table(db, "merged") == sorted(merged.items())
            assert table(db, "appended") == sorted(appended)
            assert run(["plan", "--detailed-exitcode", str(spec)]) == 0


@pytest.fixture(autouse=True)
def _quiet(capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI prints plans; keep the test output readable."""
