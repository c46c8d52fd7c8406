"""The Python API: from runner import load_spec, plan, apply — typed results, documented errors,
nothing printed."""

from __future__ import annotations

import gc
import sqlite3
import sys
import threading
from pathlib import Path

import pytest

import runner
import runner.apply.executor  # the subpackages load, and runner.plan / runner.apply stay the API
import runner.plan.model
from runner import ApplyFailed, ApplyResult, apply, load_spec, plan
from runner.apply.executor import Events, StepResult
from runner.errors import PlanError, SpecError, StalePlanError
from runner.plan.model import Change, Plan
from tests.cli.helpers import BASIC, write_spec


@pytest.fixture
def spec_path(tmp_path: Path) -> Path:
    return write_spec(tmp_path / "shop", BASIC)


def _rows(db: Path, table: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as c:
        return c.execute(f"select * from {table} order by id").fetchall()


def test_names_are_the_api_functions_and_reach_the_subpackages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import inspect

    from runner import api

    assert runner.plan is plan and runner.apply is apply
    assert plan.__wrapped__ is api.plan and apply.__wrapped__ is api.apply  # type: ignore[attr-defined]
    assert plan.__doc__ == api.plan.__doc__
    assert "select" in inspect.signature(plan).parameters
    assert runner.plan.model is sys.modules["runner.plan.model"]  # type: ignore[attr-defined]
    assert runner.apply.executor.Events is Events  # type: ignore[attr-defined]
    from runner.plan.model import Plan as P

    assert P is Plan
    monkeypatch.setattr("runner.plan.planner.Planner.build", lambda self: "patched")
    from runner.plan.planner import Planner

    assert Planner.build(None) == "patched"  # type: ignore[arg-type]


def test_load_plan_apply_prints_nothing(
    spec_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = load_spec(spec_path)
    assert spec.name == "shop" and set(spec.targets) == {"orders_out", "orders_copy"}
    made = plan(spec)
    assert isinstance(made, Plan) and made.has_changes
    assert {c.address for c in made.changes} >= {"job.orders_clean", "target.orders_out"}
    result = apply(made)
    assert isinstance(result, ApplyResult) and result.ok
    assert result.plan is made
    assert {s.address for s in result.by_status("done")} == {c.address for c in made.changes}
    assert _rows(spec_path.parent / "warehouse.db", "orders") == [
        (1, "alice", 10.5),
        (3, "carol", 7.25),
        (4, "dave", 3.0),
    ]
    assert not plan(spec_path).has_changes
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_a_plan_is_applied_at_most_once_and_stale_plans_are_refused(spec_path: Path) -> None:
    made = plan(spec_path)
    apply(made)
    with pytest.raises(StalePlanError, match="already applied"):
        apply(made)
    newer = plan(spec_path, replace=["job.orders_clean"])
    spec_path.write_text(spec_path.read_text().replace("name: shop", "name: shop\n# edited"))
    with pytest.raises(StalePlanError, match="spec file changed"):
        apply(newer)


def test_saved_plan_file_and_variables(tmp_path: Path) -> None:
    spec_path = write_spec(
        tmp_path / "v",
        BASIC.replace("table: orders\n", 'table: "{{ vars.table }}"\n').replace(
            "name: shop\n", "name: shop\nvars: {table: orders}\n"
        ),
    )
    spec = load_spec(spec_path, variables={"table": "orders_v"})
    out = tmp_path / "plan.json"
    made = plan(spec, out=out)
    assert out.is_file() and made.options["vars"] == {"table": "orders_v"}
    result = apply(out)  # the plan file loads the spec with the same variables
    assert result.ok
    assert len(_rows(spec_path.parent / "warehouse.db", "orders_v")) == 3
    with pytest.raises(TypeError, match="load_spec"):
        plan(spec, environment="prod")
    with pytest.raises(TypeError, match="exactly"):
        apply(made, select=["target.orders_out"])


def test_errors_are_the_documented_ones(spec_path: Path) -> None:
    good = spec_path.read_text()
    spec_path.write_text(good.replace("job: orders_clean", "job: nope", 1))
    with pytest.raises(SpecError) as err:
        load_spec(spec_path)
    (issue,) = err.value.issues
    assert issue.line is not None and issue.path.endswith(".job")
    spec_path.write_text(good)
    with pytest.raises(PlanError):
        plan(spec_path.parent, exclude=["target.nothere"])


def test_failed_step_raises_apply_failed_with_the_result(spec_path: Path) -> None:
    made = plan(spec_path)
    csv = spec_path.parent / "data" / "orders.csv"
    csv.write_text(csv.read_text() + "5,erin,1.0\n")
    with pytest.raises(ApplyFailed) as err:
        apply(made)
    result = err.value.result
    assert not result.ok
    (failed,) = result.by_status("failed")
    assert failed.address == "job.orders_clean"
    assert "inputs or definition changed" in failed.message
    assert {s.address for s in result.by_status("skipped")} == {
        "target.orders_out",
        "target.orders_copy",
    }
    assert "job.orders_clean" in str(err.value)


def test_events_hear_every_step(spec_path: Path) -> None:
    heard: list[str] = []
    lock = threading.Lock()

    class Recorder(Events):
        def started(self, change: Change) -> None:
            with lock:
                heard.append(f"start {change.address}")

        def finished(self, result: StepResult) -> None:
            with lock:
                heard.append(f"{result.status} {result.address}")

    result = apply(spec_path, events=Recorder(), parallelism=1)
    assert result.ok
    for step in result.steps:
        assert heard.index(f"start {step.address}") < heard.index(f"done {step.address}")


def test_loaded_specs_are_not_kept_alive(spec_path: Path) -> None:
    from runner import api

    before = len(api._LOADED)
    spec = load_spec(spec_path)
    assert len(api._LOADED) == before + 1
    del spec
    gc.collect()
    assert len(api._LOADED) == before
