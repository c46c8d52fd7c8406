"""The Executor on its own: a plan from the Planner, a fake platform, state in memory."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from runner.apply.executor import ApplyReport, Events, Executor, StepResult
from runner.apply.journal import Journal
from runner.errors import PlatformError, TargetError
from runner.plan.model import Change, Plan
from runner.plan.options import PlanOptions
from runner.plan.planner import Planner
from runner.spec.model import Spec
from runner.state.open import new_state
from tests.support.fakes import DictPool, DictTarget, FakePlatform, MemoryBackend, make_spec

TWO = {"a": {"action": "truncateAndLoad"}, "b": {"job": "customers"}}


class Setup:
    def __init__(self, tmp_path: Path, spec: Spec | None = None) -> None:
        self.spec = spec or make_spec(TWO, jobs=("orders", "customers"))
        self.target = DictTarget()
        self.platform = FakePlatform(self.target, {n: 2 for n in self.spec.jobs})
        self.backend = MemoryBackend()
        self.tmp_path = tmp_path
        self.cancel = threading.Event()
        self.events: list[tuple[str, str]] = []

    def plan(self, **options: object) -> Plan:
        opts = PlanOptions(**options)  # type: ignore[arg-type]
        return Planner(
            self.spec, self.backend.read(), self.platform, DictPool(self.target), opts
        ).build()

    def run(self, plan: Plan, parallelism: int = 2) -> ApplyReport:
        state = self.backend.read() or new_state(self.spec)
        journal = Journal(self.backend, state, errored_dir=self.tmp_path)
        setup = self

        class Log(Events):
            def started(self, change: Change) -> None:
                setup.events.append(("started", change.address))

            def finished(self, result: StepResult) -> None:
                setup.events.append((result.status, result.address))

        return Executor(
            plan,
            self.spec,
            journal,
            self.platform,
            self.tmp_path,
            parallelism=parallelism,
            cancel=self.cancel,
            events=Log(),
        ).run()


def statuses(report: ApplyReport) -> dict[str, str]:
    return {s.address: s.status for s in report.steps}


def test_every_step_runs_after_what_it_depends_on_and_is_journaled(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    report = s.run(s.plan())
    assert report.ok and set(statuses(report).values()) == {"done"}
    order = [addr for what, addr in s.events if what == "done"]
    for before, after in [("job.orders", "target.a"), ("job.customers", "target.b")]:
        assert order.index(before) < order.index(after)
    assert order.index("connection.wh") < min(order.index("target.a"), order.index("target.b"))
    state = s.backend.state
    assert state is not None and s.backend.writes == 5  # one write per step
    assert state.publications["a"].run_id == state.jobs["orders"].run_id
    assert state.publications["a"].rows_after == 2 and state.publications["b"].rows_loaded == 2
    assert s.plan().changes == ()


def test_a_failed_job_skips_its_targets_and_the_rest_finishes(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    s.platform.fail["job.orders"] = PlatformError("job.orders: recipe failed")
    report = s.run(s.plan())
    assert statuses(report) == {
        "connection.wh": "done",
        "job.customers": "done",
        "job.orders": "failed",
        "target.a": "skipped",
        "target.b": "done",
    }
    skipped = next(r for r in report.steps if r.address == "target.a")
    assert skipped.message == "job.orders did not finish"
    state = s.backend.state
    assert state is not None and "orders" not in state.jobs and "b" in state.publications
    assert state.failures["job.orders"]["error"] == "job.orders: recipe failed"
    rerun = s.plan()  # a rerun does only what is left
    assert [c.address for c in rerun.changes] == ["job.orders", "target.a"]


@pytest.mark.parametrize("transient", [True, False])
def test_a_failure_says_whether_it_is_transient(tmp_path: Path, transient: bool) -> None:
    s = Setup(tmp_path)
    s.platform.fail["target.b"] = TargetError("lost connection", transient=transient)
    report = s.run(s.plan())
    failed = report.by_status("failed")
    assert [(r.address, r.transient) for r in failed] == [("target.b", transient)]


def test_a_job_whose_inputs_changed_since_the_plan_does_not_run(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    plan = s.plan()
    s.platform.fingerprints["orders"] = "fp-orders-2"
    report = s.run(plan)
    failed = {r.address: r.message for r in report.by_status("failed")}
    assert list(failed) == ["job.orders"]
    assert "inputs or definition changed since the plan was made" in failed["job.orders"]
    assert "orders" not in s.platform.ran


def test_a_publish_of_a_run_state_does_not_hold_fails(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    s.run(s.plan())
    s.platform.fingerprints["orders"] = "fp-orders-2"
    plan = s.plan()
    only_publish = Plan(**{**plan.__dict__, "changes": (plan.change("target.a"),)})
    report = s.run(only_publish)
    assert report.by_status("failed")[0].message.startswith("the plan publishes run ")


def test_cancel_skips_everything_not_started(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    s.cancel.set()
    report = s.run(s.plan())
    assert report.interrupted and not report.ok
    assert set(statuses(report).values()) == {"skipped"}
    assert s.platform.ran == [] and s.target.published == []


def test_forget_removes_from_state_and_touches_no_table(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    s.run(s.plan())
    tables = dict(s.target.tables)
    s.spec = make_spec({"a": TWO["a"]}, jobs=("orders",))
    plan = s.plan()
    assert {c.action for c in plan.changes} == {"forget"}
    assert s.run(plan).ok
    state = s.backend.state
    assert state is not None and "b" not in state.publications and "customers" not in state.jobs
    assert s.target.tables == tables


def test_parallelism_one_runs_one_step_at_a_time(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    s.run(s.plan(), parallelism=1)
    running = 0
    for what, _ in s.events:
        running += 1 if what == "started" else -1
        assert running <= 1
