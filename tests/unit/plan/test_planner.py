"""The Planner on its own: a fake platform, a dict-backed target, state in memory.

Each test builds a spec in Python, plans, and checks the plan's changes; the ones that
need a state first apply a plan with the Executor (also with fakes).
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from runner.apply.executor import Executor
from runner.apply.journal import Journal
from runner.errors import PlanError, PlatformError
from runner.plan.model import Plan
from runner.plan.options import PlanOptions, table_ref
from runner.plan.planner import Planner
from runner.spec.model import Spec
from runner.state.model import State
from runner.state.open import new_state
from tests.support.fakes import DictPool, DictTarget, FakePlatform, MemoryBackend, make_spec

ONE = {"orders_out": {"action": "truncateAndLoad"}}


class World:
    """A spec with its fake platform, target and state, planned and applied in memory."""

    def __init__(self, spec: Spec, tmp_path: Path, rows: int = 3) -> None:
        self.spec = spec
        self.target = DictTarget()
        self.platform = FakePlatform(self.target, {name: rows for name in spec.jobs})
        self.backend = MemoryBackend()
        self.tmp_path = tmp_path

    def plan(self, **options: object) -> Plan:
        opts = PlanOptions(**options)  # type: ignore[arg-type]
        pool = DictPool(self.target)
        return Planner(self.spec, self.backend.read(), self.platform, pool, opts).build()

    def apply(self, plan: Plan) -> State:
        state = self.backend.read() or new_state(self.spec)
        journal = Journal(self.backend, state, errored_dir=self.tmp_path)
        report = Executor(plan, self.spec, journal, self.platform, self.tmp_path).run()
        assert report.ok, report.steps
        assert self.backend.state is not None
        return self.backend.state

    def converge(self) -> State:
        return self.apply(self.plan())


def actions(plan: Plan) -> list[tuple[str, str]]:
    return [(c.address, c.action) for c in plan.changes]


def test_a_new_spec_creates_runs_and_publishes_in_dependency_order(tmp_path: Path) -> None:
    plan = World(make_spec(ONE), tmp_path).plan()
    assert actions(plan) == [
        ("connection.wh", "create"),
        ("job.orders", "run"),
        ("target.orders_out", "publish"),
    ]
    publish = plan.changes[2]
    assert publish.depends_on == ("job.orders", "connection.wh")
    assert publish.consequence == "create table wh.main.orders_out and load the new run's rows"
    assert publish.run_id == plan.changes[1].run_id
    assert publish.rows_existing is None and not publish.destructive


def test_a_converged_spec_plans_nothing(tmp_path: Path) -> None:
    world = World(make_spec(ONE), tmp_path)
    world.converge()
    plan = world.plan()
    assert plan.changes == () and plan.drift == ()


def test_changed_inputs_run_the_job_and_publish_again(tmp_path: Path) -> None:
    world = World(make_spec(ONE), tmp_path)
    world.converge()
    world.platform.fingerprints["orders"] = "fp-orders-2"
    plan = world.plan()
    assert actions(plan) == [("job.orders", "run"), ("target.orders_out", "publish")]
    assert "fp-orders-1 -> fp-orders-2" in plan.changes[0].reason
    publish = plan.changes[1]
    assert publish.destructive and publish.rows_existing == 3
    assert publish.consequence.startswith("replace all 3 rows of wh.main.orders_out")


def test_exclude_a_connection_excludes_the_targets_on_it(tmp_path: Path) -> None:
    plan = World(make_spec(ONE), tmp_path).plan(exclude=("connection.wh",))
    assert actions(plan) == [("job.orders", "run")]


def test_exclude_a_job_excludes_its_targets_even_with_a_recorded_run(tmp_path: Path) -> None:
    spec = make_spec(ONE)
    world = World(spec, tmp_path)
    world.apply(world.plan(select=("job.orders",)))  # a run, not published yet
    assert actions(world.plan()) == [("connection.wh", "create"), ("target.orders_out", "publish")]
    assert actions(world.plan(exclude=("job.orders",))) == [("connection.wh", "create")]


def test_select_a_target_pulls_in_its_job_and_connection(tmp_path: Path) -> None:
    spec = make_spec({**ONE, "other": {"job": "customers"}}, jobs=("orders", "customers"))
    plan = World(spec, tmp_path).plan(select=("target.orders_out",))
    assert actions(plan) == [
        ("connection.wh", "create"),
        ("job.orders", "run"),
        ("target.orders_out", "publish"),
    ]
    assert plan.pulled_in == ("connection.wh", "job.orders")


def test_unknown_addresses_are_all_reported_with_a_did_you_mean(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as err:
        World(make_spec(ONE), tmp_path).plan(select=("target.orders_outt",), replace=("job.nope",))
    assert err.value.problems == (
        "--select target.orders_outt: no such object in the spec; did you mean target.orders_out?",
        "--replace job.nope: no such object in the spec; did you mean job.orders?",
    )


def test_lost_result_files_run_the_job_again(tmp_path: Path) -> None:
    spec = make_spec(ONE)
    world = World(spec, tmp_path)
    state = world.apply(world.plan(select=("job.orders",)))
    world.platform.lost.add(state.jobs["orders"].run_id)
    plan = world.plan()
    run = plan.change("job.orders")
    assert run is not None and run.reason.endswith("are not on this machine")
    publish = plan.change("target.orders_out")
    assert publish is not None and publish.run_id == run.run_id


def test_changing_only_the_action_records_it_without_publishing(tmp_path: Path) -> None:
    world = World(make_spec(ONE), tmp_path)
    world.converge()
    world.spec = make_spec({"orders_out": {"action": "dropAndLoad"}})
    plan = world.plan()
    assert actions(plan) == [("target.orders_out", "update")]
    assert plan.changes[0].details == {"action": {"from": "truncateAndLoad", "to": "dropAndLoad"}}


def test_replace_target_publishes_the_same_run_under_a_new_ledger_id(tmp_path: Path) -> None:
    world = World(make_spec(ONE), tmp_path)
    state = world.converge()
    plan = world.plan(replace=("target.orders_out",))
    assert actions(plan) == [("target.orders_out", "publish")]
    change = plan.changes[0]
    run_id = state.jobs["orders"].run_id
    assert change.run_id == run_id
    assert change.details["publication_id"] == f"{run_id}.{state.serial}"


def test_protected_destructive_publish_needs_allow_destructive(tmp_path: Path) -> None:
    world = World(make_spec({"orders_out": {"action": "dropAndLoad", "protect": True}}), tmp_path)
    world.converge()
    world.platform.fingerprints["orders"] = "fp-orders-2"
    with pytest.raises(PlanError, match="is protected and this publish is destructive"):
        world.plan()
    assert world.plan(allow_destructive=True).change("target.orders_out") is not None


def test_two_replacing_targets_on_one_table_is_an_error(tmp_path: Path) -> None:
    spec = make_spec({"a": {"table": "t", "action": "truncateAndLoad"}, "b": {"table": "t"}})
    with pytest.raises(
        PlanError, match=re.escape("target.a and target.b all publish to wh.main.t")
    ):
        World(spec, tmp_path).plan()


def test_appending_targets_may_share_a_table(tmp_path: Path) -> None:
    spec = make_spec({"a": {"table": "t"}, "b": {"table": "t", "action": "load"}})
    world = World(spec, tmp_path)
    world.target.create(table_ref(spec.targets["a"]), 0)
    assert [a for a, _ in actions(world.plan())][-2:] == ["target.a", "target.b"]


def test_a_recipe_error_is_a_plan_error_at_the_recipe(tmp_path: Path) -> None:
    spec = make_spec(ONE, positions={"$.jobs.orders.recipe": _pos(7, 13)})
    world = World(spec, tmp_path)
    world.platform.fail["job.orders.schema"] = PlatformError("job.orders: recipe: no column x")
    with pytest.raises(PlanError) as err:
        world.plan()
    assert err.value.problems == ("publish.yaml:7:13: job.orders: recipe: no column x",)


def test_objects_removed_from_the_spec_are_forgotten(tmp_path: Path) -> None:
    world = World(make_spec({**ONE, "old": {}}), tmp_path)
    world.converge()
    world.spec = make_spec(ONE)
    plan = world.plan()
    assert actions(plan) == [("target.old", "forget")]
    assert "tables and their rows stay as they are" in plan.changes[0].reason


def test_drift_is_reported_apart_from_changes(tmp_path: Path) -> None:
    spec = make_spec({**ONE, "gone": {}, "grown": {}})
    world = World(spec, tmp_path)
    world.converge()
    del world.target.tables[table_ref(spec.targets["gone"])]
    world.target.create(table_ref(spec.targets["grown"]), 5)
    plan = world.plan()
    assert plan.changes == ()
    assert [(d.address, d.kind, d.recorded, d.actual) for d in plan.drift] == [
        ("target.gone", "table_dropped", 3, None),
        ("target.grown", "rows_changed", 3, 5),
    ]
    assert plan.drift[0].message.endswith("`publish plan --replace target.gone` publishes it again")
    assert world.plan(refresh=False).drift == ()


def test_the_planner_never_writes(tmp_path: Path) -> None:
    world = World(make_spec(ONE), tmp_path)
    world.converge()
    writes, tables = world.backend.writes, dict(world.target.tables)
    world.platform.fingerprints["orders"] = "fp-orders-2"
    world.plan()
    assert world.backend.writes == writes and world.target.tables == tables
    assert world.platform.ran == ["orders"] and len(world.target.published) == 1


def test_plans_are_deterministic(tmp_path: Path) -> None:
    world = World(make_spec({**ONE, "b": {"table": "b"}}), tmp_path)
    assert world.plan().dumps() == world.plan().dumps()


def _pos(line: int, column: int) -> object:
    from runner.spec.model import Position

    return Position("publish.yaml", line, column)


def test_planner_is_safe_to_build_from_threads(tmp_path: Path) -> None:
    world = World(make_spec(ONE), tmp_path)
    out: list[str] = []
    threads = [threading.Thread(target=lambda: out.append(world.plan().dumps())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(out)) == 1
