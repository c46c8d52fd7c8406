"""The apply gate: previewed results must be the bytes the plan showed."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.apply.gate import check_previewed
from runner.errors import PublishError
from runner.plan.model import Change
from runner.platforms.base import JobRun
from runner.results import Column, ResultSchema, ResultSet

SCHEMA = ResultSchema((Column("id", "int64"),))


def run_with(sha: str) -> JobRun:
    rs = ResultSet("avro", (Path("part-00000.avro"),), SCHEMA, 3, sha)
    return JobRun("orders", "r1", "fp", results={"avro": rs}, rows=3, schema=SCHEMA)


def change(preview: dict[str, object]) -> Change:
    return Change("job.orders", "run", "new", run_id="r1", fingerprint="fp", preview=preview)


def test_results_other_than_the_previewed_ones_are_refused() -> None:
    planned = change({"previewed": True, "rows": 3, "sha256": {"avro": "a" * 64}})
    check_previewed(planned, run_with("a" * 64))
    with pytest.raises(PublishError, match="not the ones the plan previewed"):
        check_previewed(planned, run_with("b" * 64))


def test_runs_the_plan_did_not_preview_are_not_compared() -> None:
    check_previewed(change({"previewed": False, "reason": "--no-preview"}), run_with("b" * 64))
    check_previewed(change({}), run_with("b" * 64))
