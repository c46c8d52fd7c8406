"""The spark platform against a real local Spark Connect server (one per test run)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.helpers import publish

pytestmark = pytest.mark.spark
QUICKSTART = Path(__file__).resolve().parents[2] / "publish_specs" / "quickstart"


def _copy_quickstart(folder: Path) -> Path:
    shutil.copytree(QUICKSTART, folder, ignore=shutil.ignore_patterns(".publish", "*.db"))
    return folder / "publish.yaml"


def _on_spark(spec: Path, url: str) -> None:
    """The quickstart as a spark spec: same recipes, results as parquet."""
    data: dict[str, Any] = yaml.safe_load(spec.read_text())
    data["platform"] = {"type": "spark", "url": url, "resultsPath": "results"}
    for job in data["jobs"].values():
        job["outputs"] = ["parquet"]
    for target in data["targets"].values():
        target.pop("inputFormat", None)  # parquet is the spark platform's default
    spec.write_text(yaml.safe_dump(data, sort_keys=False))


def _tables(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(db) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "select name from sqlite_master where type = 'table' and name not like '\\_%' "
                "escape '\\' order by name"
            )
        ]
        return {n: sorted(conn.execute(f'select * from "{n}"').fetchall()) for n in names}


def test_quickstart_on_spark_publishes_what_local_does(
    tmp_path: Path, spark_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    local = _copy_quickstart(tmp_path / "local")
    spark = _copy_quickstart(tmp_path / "spark")
    _on_spark(spark, spark_url)

    assert publish(capsys, "apply", str(local), "--auto-approve").code == 0
    result = publish(capsys, "apply", str(spark), "--auto-approve")
    assert result.code == 0, result.out + result.err

    want, got = _tables(local.parent / "warehouse.db"), _tables(spark.parent / "warehouse.db")
    assert set(got) == {"customer_totals", "orders_latest", "orders_merged", "orders_rebuilt"}
    assert got == want
    assert len(got["orders_latest"]) > 5
    parts = list((spark.parent / "results").rglob("part-*.parquet"))
    assert parts, "the cluster wrote no part files under resultsPath"

    again = publish(capsys, "plan", str(spark), "--detailed-exitcode")
    assert again.code == 0, again.out + again.err


SPEC = """\
version: 1
name: shop
platform: {{type: spark, url: "{url}", resultsPath: results}}
connections:
  wh: {{vendor: sqlite, database: wh.db}}
jobs:
  events:
    inputs: {{events: data/events.jsonl}}
    recipe: |
      select id, cast(price as decimal(10,2)) as price, tags, at, cast(null as string) as note
      from events where id > {min_id}
targets:
  events_out: {{job: events, connection: wh, path: [main], table: events, action: dropAndLoad}}
"""


def test_json_input_types_and_a_plan_error(
    tmp_path: Path, spark_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "events.jsonl").write_text(
        '{"id": 1, "price": 2.5, "tags": ["a", "b"], "at": "2024-01-02T03:04:05"}\n'
        '{"id": 2, "price": 10.25, "tags": [], "at": "2024-02-03T04:05:06"}\n'
    )
    spec = tmp_path / "publish.yaml"
    spec.write_text(SPEC.format(url=spark_url, min_id=0))
    result = publish(capsys, "apply", str(spec), "--auto-approve")
    assert result.code == 0, result.out + result.err
    with sqlite3.connect(tmp_path / "wh.db") as conn:
        rows = conn.execute("select id, price, tags, note from events order by id").fetchall()
        types = {r[1]: r[2] for r in conn.execute("pragma table_info(events)")}
    assert [(r[0], float(r[1]), r[2], r[3]) for r in rows] == [
        (1, 2.5, '["a","b"]', None),
        (2, 10.25, "[]", None),
    ]
    assert types["id"] != "TEXT" and types["tags"] == "TEXT"  # json is text in SQLite

    spec.write_text(SPEC.format(url=spark_url, min_id="no_such_column"))
    bad = publish(capsys, "plan", str(spec))
    assert bad.code == 1
    assert "job.events: recipe: [UNRESOLVED_COLUMN" in bad.out + bad.err
    assert "JVM stacktrace" not in bad.out + bad.err


def test_avro_input_is_a_plan_error_without_spark_avro(
    tmp_path: Path, spark_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import polars as pl

    (tmp_path / "data").mkdir()
    pl.DataFrame({"id": [1]}).write_avro(tmp_path / "data" / "x.avro")
    spec = tmp_path / "publish.yaml"
    spec.write_text(
        SPEC.format(url=spark_url, min_id=0).replace("data/events.jsonl", "data/x.avro")
    )
    result = publish(capsys, "plan", str(spec))
    assert result.code == 1
    assert "job.events: input events: the cluster cannot read Avro" in result.out + result.err
