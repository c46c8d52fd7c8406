"""Result files of job runs: missing ones run the job again, old ones are pruned."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli.helpers import BASIC, ORDERS_CSV, assert_valid_plan, publish, write_spec


def test_results_missing_on_this_machine_run_the_job_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    shutil.rmtree(tmp_path / ".publish" / "results")
    r = publish(capsys, "plan", "--format", "json", "--replace", "target.orders_out", str(spec))
    assert r.code == 0, r.err
    changes = {c["address"]: c for c in assert_valid_plan(r.out)["changes"]}
    assert "are not on this machine" in changes["job.orders_clean"]["reason"]
    r = publish(capsys, "apply", "--auto-approve", "--replace", "target.orders_out", str(spec))
    assert r.code == 0, r.err + r.out


def test_old_results_are_pruned_after_a_complete_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    (tmp_path / "data" / "orders.csv").write_text(ORDERS_CSV + "5,erin,1.0\n")
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    runs = list((tmp_path / ".publish" / "results" / "orders_clean").iterdir())
    state = json.loads(next((tmp_path / ".publish").glob("*.state.json")).read_text())
    assert [r.name for r in runs] == [state["jobs"]["orders_clean"]["run_id"]]
