"""Exit codes and the lock, through the whole CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.spec.api import load_spec
from runner.state.open import open_backend
from tests.cli.helpers import BASIC, publish, write_spec


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    return write_spec(tmp_path, BASIC)


def test_a_held_lock_refuses_a_second_apply(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    backend = open_backend(load_spec(spec))
    with backend.lock("apply") as held:
        r = publish(capsys, "apply", "--auto-approve", "--lock-timeout", "0.3", str(spec))
        assert r.code == 1
        assert held.id in r.err
        assert "force-unlock" in r.err
        assert not (spec.parent / "warehouse.db").exists()
    r = publish(capsys, "apply", "--auto-approve", str(spec))
    assert r.code == 0, r.err


def test_a_bug_exits_3_with_one_line_and_a_log(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLISH_LOG_DIR", str(tmp_path / "logs"))

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr("runner.plan.planner.Planner.build", broken)
    r = publish(capsys, "plan", str(spec))
    assert r.code == 3
    assert len(r.err.strip().splitlines()) == 1
    assert "Internal error: ZeroDivisionError: boom" in r.err
    logs = list((tmp_path / "logs").glob("publish-crash-*.log"))
    assert len(logs) == 1 and "Traceback" in logs[0].read_text()
    assert "Traceback" not in r.err


def test_ctrl_c_exits_130(
    spec: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("runner.plan.planner.Planner.build", interrupted)
    assert publish(capsys, "plan", str(spec)).code == 130


def test_failed_step_stops_its_dependents_and_a_rerun_continues(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strict = BASIC.replace("select id,", "select cast(id as integer) as id,")
    spec = write_spec(tmp_path, strict)
    csv = spec.parent / "data" / "orders.csv"
    good = csv.read_text()
    assert publish(capsys, "plan", str(spec)).code == 0
    csv.write_text(good.replace("\n1,alice", "\nnot-a-number,alice"))
    # with previews the plan runs the recipe and says so before anything is applied
    r = publish(capsys, "apply", "--auto-approve", str(spec))
    assert r.code == 1 and "job.orders_clean: recipe: conversion" in r.err and not r.out
    r = publish(capsys, "apply", "--auto-approve", "--no-preview", str(spec))
    assert r.code == 1
    assert "Apply failed: 1 done, 1 failed, 2 skipped." in r.out
    assert "target.orders_out: skipped (job.orders_clean did not finish)" in r.out
    state = json.loads(next((spec.parent / ".publish").glob("*.state.json")).read_text())
    assert "job.orders_clean" in state["failures"]
    csv.write_text(good)
    r = publish(capsys, "apply", "--auto-approve", str(spec))
    assert r.code == 0, r.err + r.out
    assert "Apply complete: 3 done" in r.out


def test_a_state_that_cannot_be_saved_goes_to_errored_state(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from runner.errors import StateError
    from runner.state.local import LocalStateBackend

    monkeypatch.chdir(tmp_path)
    real_write = LocalStateBackend.write
    calls = []

    def failing_write(self: LocalStateBackend, state: object) -> object:
        calls.append(state)
        if len(calls) > 2:  # the plan id, the connection; then the disk is "full"
            raise StateError("cannot write the state: No space left on device")
        return real_write(self, state)  # type: ignore[arg-type]

    monkeypatch.setattr(LocalStateBackend, "write", failing_write)
    r = publish(capsys, "apply", "--auto-approve", "--parallelism", "1", str(spec))
    assert r.code == 1
    assert "errored.state.json" in r.out + r.err
    saved = json.loads((tmp_path / "errored.state.json").read_text())
    assert "orders_clean" in saved["jobs"]


def test_interrupted_apply_exits_130(
    spec: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from runner.apply.executor import Executor

    original = Executor._run

    def interrupt_then_run(self: Executor, change: object) -> str:
        self.cancel.set()  # as the first Ctrl-C does
        return original(self, change)  # type: ignore[arg-type]

    monkeypatch.setattr(Executor, "_run", interrupt_then_run)
    r = publish(capsys, "apply", "--auto-approve", "--parallelism", "1", str(spec))
    assert r.code == 130, r.err + r.out
    assert "Apply interrupted" in r.out


def test_a_bug_inside_a_step_exits_3_with_a_crash_log(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLISH_LOG_DIR", str(tmp_path / "logs"))

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("oops")

    monkeypatch.setattr("runner.platforms.local.platform.LocalPlatform.publish", broken)
    r = publish(capsys, "apply", "--auto-approve", str(spec))
    assert r.code == 3
    assert "internal error (a bug in publish): KeyError" in r.out
    assert "target.orders_out" in r.err
    assert len(list((tmp_path / "logs").glob("publish-crash-*.log"))) == 2


def test_ordinary_mistakes_are_errors_not_crashes(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = publish(capsys, "plan", str(spec), "--out", "/proc/nope/plan.json")
    assert r.code == 1 and "cannot write the plan there" in r.err
    bad = tmp_path / "bad.json"
    bad.write_text('{"plan_id": "x", "format_version": "1"}')
    for command in ("apply", "show"):
        r = publish(capsys, command, str(bad))
        assert r.code == 1, r.err
        assert "not a complete publish plan" in r.err


def test_a_saved_plan_refuses_flags_that_would_change_it(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    planfile = tmp_path / "p.json"
    assert publish(capsys, "plan", str(spec), "--out", str(planfile)).code == 0
    r = publish(capsys, "apply", str(planfile), "--env", "prod", "--var", "a=b")
    assert r.code == 1
    assert "--env, --var cannot change it" in r.err
    assert not (spec.parent / "warehouse.db").exists()
