"""Regressions found by tests/property/test_plan_then_apply.py, each cut to its smallest spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import count, publish, write_spec
from tests.conftest import PG_HOST, PG_PORT

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


UPSERT = """\
version: 1
name: r
connections:
  wh:
{connection}
jobs:
  j:
    inputs: {{t: data/orders.csv}}
targets:
  u: {{job: j, connection: wh, path: [{path}], table: u, action: upsert, key: [id]}}
"""
SQLITE = "    vendor: sqlite\n    database: wh.db"


def _upsert(folder: Path, csv: str, connection: str = SQLITE, path: str = "main") -> Path:
    return write_spec(folder, UPSERT.format(connection=connection, path=path), csv=csv)


def test_repeated_upsert_keys_fail_the_plan_naming_value_and_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Apply failed on an internal staging table's UNIQUE constraint."""
    spec = _upsert(tmp_path, "id,v\n1,a\n2,b\n1,c\n2,d\n3,e\n2,f\n")
    result = publish(capsys, "plan", str(spec))
    assert result.code == 1
    assert (
        "publish.yaml:11:71: target.u: upsert key (id) repeats in the results: 2 key value(s) "
        "on more than one row, such as id=1 in rows 1, 3; an upsert writes one row per key"
    ) in result.err


def test_null_upsert_keys_fail_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """SQLite stored NULL-keyed rows again on every apply; PostgreSQL failed at apply."""
    spec = _upsert(tmp_path, "id,v\n1,a\n,b\n")
    result = publish(capsys, "plan", str(spec))
    assert result.code == 1
    assert "target.u: upsert key column 'id' is null in 1 result row(s) (row 2)" in result.err


@pytest.mark.postgres
def test_null_upsert_keys_fail_the_plan_on_postgres(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pg_schema: str
) -> None:
    pg = (f"    vendor: postgres\n    host: {PG_HOST}\n    port: {PG_PORT}\n"
          "    database: test\n    username: postgres")  # fmt: skip
    spec = _upsert(tmp_path, "id,v\n1,a\n,b\n,c\n", pg, pg_schema)
    result = publish(capsys, "plan", str(spec))
    assert result.code == 1
    assert "target.u: upsert key column 'id' is null in 2 result row(s) (rows 2, 3)" in result.err
    (tmp_path / "data" / "orders.csv").write_text("id,v\n1,a\n2,b\n")
    assert publish(capsys, "plan", str(spec)).code == 0
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0


REFUSED = """\
version: 1
name: r
connections:
  wh:
{connection}
jobs:
  j:
    inputs: {{t: data/values.parquet}}
targets:
  t: {{job: j, connection: wh, path: [{path}], table: t, action: createAndLoad}}
"""


def _refused(folder: Path, frame: object, connection: str, path: str) -> Path:
    import polars as pl

    assert isinstance(frame, pl.DataFrame)
    spec = write_spec(folder, REFUSED.format(connection=connection, path=path))
    frame.write_parquet(folder / "data" / "values.parquet")
    return spec


def test_nan_for_sqlite_fails_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Apply refused it (SQLite stores NaN as NULL) after the plan had passed."""
    import polars as pl

    frame = pl.DataFrame({"id": [1, 2], "f": [1.0, float("nan")]})
    spec = _refused(tmp_path, frame, SQLITE, "main")
    result = publish(capsys, "plan", str(spec))
    assert result.code == 1
    assert (
        "target.t: column 'f' is NaN at row 2 of the results, and SQLite stores NaN as NULL; "
        "replace it in the recipe, or cast the column to text"
    ) in result.err


@pytest.mark.postgres
def test_nul_character_for_postgres_fails_the_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pg_schema: str
) -> None:
    """Apply refused it (PostgreSQL text cannot hold \\0) after the plan had passed."""
    import polars as pl

    pg = (f"    vendor: postgres\n    host: {PG_HOST}\n    port: {PG_PORT}\n"
          "    database: test\n    username: postgres")  # fmt: skip
    frame = pl.DataFrame({"id": [1, 2], "s": ["a", "b\x00c"]})
    spec = _refused(tmp_path, frame, pg, pg_schema)
    result = publish(capsys, "plan", str(spec))
    assert result.code == 1
    assert (
        "target.t: column 's' holds the NUL character (\\0) at row 2 of the results, and "
        "PostgreSQL text cannot hold it"
    ) in result.err


def test_upsert_into_a_table_whose_key_repeats_fails_the_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table (made by createAndLoad) repeats the key: apply failed creating the unique
    index on it, after a plan whose row diff had noticed it."""
    spec = _upsert(tmp_path, "id,v\n1,a\n1,b\n")
    spec.write_text(spec.read_text().replace("action: upsert, key: [id]", "action: createAndLoad"))
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    spec.write_text(spec.read_text().replace("action: createAndLoad", "action: upsert, key: [id]"))
    (tmp_path / "data" / "orders.csv").write_text("id,v\n1,c\n2,d\n")
    result = publish(capsys, "plan", str(spec))
    assert result.code == 1, result.out
    assert (
        "publish.yaml:11:71: target.u: upsert key (id) repeats in the table wh.main.u, and an "
        "upsert needs it unique there"
    ) in result.err


PG = (f"    vendor: postgres\n    host: {PG_HOST}\n    port: {PG_PORT}\n"
      "    database: test\n    username: postgres")  # fmt: skip


@pytest.mark.postgres
def test_load_into_a_table_whose_constraints_the_results_break_fails_the_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pg_schema: str
) -> None:
    """An upsert made the table (key NOT NULL, primary key); truncateAndLoad of results
    with a NULL and a repeated id then failed at apply."""
    spec = _upsert(tmp_path, "id,v\n1,a\n2,b\n", PG, pg_schema)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    spec.write_text(
        spec.read_text().replace("action: upsert, key: [id]", "action: truncateAndLoad")
    )
    (tmp_path / "data" / "orders.csv").write_text("id,v\n1,a\n,b\n1,c\n")
    result = publish(capsys, "plan", str(spec))
    assert result.code == 1, result.out
    assert (
        f"target.u: column 'id' of wh.{pg_schema}.u is NOT NULL, and the results hold null in "
        "it in 1 result row(s) (row 2); fill it in the recipe"
    ) in result.err
    assert (
        f"target.u: the primary key (id) of wh.{pg_schema}.u repeats in the results: 1 key "
        "value(s) on more than one row, such as id=1 in rows 1, 3"
    ) in result.err
    spec.write_text(spec.read_text().replace("truncateAndLoad", "dropAndLoad"))
    assert publish(capsys, "plan", str(spec)).code == 0
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0


def test_load_into_a_not_null_column_of_sqlite_fails_the_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    spec = _upsert(tmp_path, "id,v\n1,a\n2,\n")
    spec.write_text(spec.read_text().replace("action: upsert, key: [id]", "action: load"))
    with sqlite3.connect(tmp_path / "wh.db") as c:
        c.execute("create table u (id integer, v text not null)")
    result = publish(capsys, "plan", str(spec))
    assert result.code == 1, result.out
    assert "target.u: column 'v' of wh.main.u is NOT NULL, and the results hold null" in result.err


NAN_JSON = """\
version: 1
name: r
connections:
  wh: {vendor: sqlite, database: wh.db}
jobs:
  j:
    inputs: {t: data/x.json}
    recipe: select b from t
targets:
  t: {job: j, connection: wh, table: t, action: createAndLoad}
"""


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_recipe_error_over_json_that_polars_cannot_read_is_no_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """Python's json reads NaN, polars does not: checking the recipe crashed (exit 3)."""
    spec = write_spec(tmp_path, NAN_JSON)
    (tmp_path / "data" / "x.json").write_text('[{"a": 1.5}, {"a": NaN}]')
    result = publish(capsys, command, str(spec))
    assert result.code == 1, result.err
    assert "publish.yaml:8:20: $.jobs.j.recipe: unknown column 'b'; the inputs: t (a)" in (
        result.out + result.err
    )


QUOTED_CSV = """\
version: 1
name: r
connections:
  wh: {vendor: sqlite, database: wh.db}
jobs:
  j:
    inputs: {t: data/orders.csv}
    recipe: 'select id as "say ""hi""\" from t'
    outputs: [csv]
targets:
  t: {job: j, connection: wh, table: t, action: createAndLoad, inputFormat: csv}
"""


def test_csv_results_with_a_quote_in_a_column_name_publish(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """polars read the header's doubled quotes as another name: apply failed reading them."""
    spec = write_spec(tmp_path, QUOTED_CSV)
    result = publish(capsys, "apply", "--auto-approve", str(spec))
    assert result.code == 0, result.out + result.err
    assert count(tmp_path / "wh.db", "t") == 4
