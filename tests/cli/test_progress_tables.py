"""apply's progress (rich live display, plain lines, JSON lines) and the rich tables of
`state list` and `show`."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from rich.console import Console

from runner.apply.executor import StepResult
from runner.commands import progress
from runner.commands.live import LiveEvents, new_progress
from runner.plan.model import Change
from runner.plan.planfile import read_plan_file
from runner.tables import changes_table, print_table, state_table
from tests.cli.helpers import BASIC, publish, write_spec


def _live() -> tuple[LiveEvents, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    return LiveEvents(new_progress(console)), out


def _rendered(events: LiveEvents) -> str:
    display = events.progress_display
    buffer = io.StringIO()
    Console(file=buffer, width=120, color_system=None).print(
        display.make_tasks_table(display.tasks)
    )
    return buffer.getvalue()


def test_live_line_with_known_rows_has_bar_rate_and_eta() -> None:
    events, _ = _live()
    change = Change("target.orders_out", "publish", "r")
    events.started(change)
    events.progress(change, 500, 1000)
    events.progress(change, 600, 1000)
    line = _rendered(events)
    events.close()
    assert "target.orders_out: publishing" in line
    assert "600/1,000 rows" in line and "rows/s" in line
    assert "━" in line  # the bar
    assert "0:00:" in line  # time left


def test_live_line_without_a_total_spins_with_rows_or_the_jobs_status() -> None:
    events, out = _live()
    job = Change("job.orders_clean", "run", "r")
    events.started(job)
    events.note(job, "jobGroup 7: InProgress")
    assert "jobGroup 7: InProgress" in _rendered(events)
    target = Change("target.t", "publish", "r")
    events.started(target)
    events.progress(target, 1234)
    line = next(x for x in _rendered(events).splitlines() if "target.t" in x)
    assert "1,234 rows" in line and "/" not in line.split("rows")[0] and "━" not in line
    events.finished(StepResult("job.orders_clean", "run", "done", "run r1: 3 rows", 1.5))
    assert "job.orders_clean" not in _rendered(events)  # finished steps leave the live area
    events.close()
    assert "job.orders_clean: ✓ done: run r1: 3 rows (1.5s)" in out.getvalue()


def test_reporter_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    echoed: list[str] = []

    def echo(text: str = "", **_: object) -> None:
        echoed.append(text)

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert isinstance(progress.make_reporter(echo), LiveEvents)
    monkeypatch.setenv("NO_COLOR", "1")
    assert isinstance(progress.make_reporter(echo), progress.LineEvents)
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert isinstance(progress.make_reporter(echo), progress.LineEvents)


def test_plain_and_json_step_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path / "a", BASIC)
    r = publish(capsys, "apply", "--auto-approve", str(spec))
    assert r.code == 0, r.err
    assert "job.orders_clean: running..." in r.out
    assert "target.orders_out: ✓ done: truncateAndLoad: 3 rows loaded" in r.out
    assert "\x1b[" not in r.out + r.err  # no terminal: no escape codes

    spec = write_spec(tmp_path / "b", BASIC)
    r = publish(capsys, "--log-format", "json", "apply", "--auto-approve", str(spec))
    assert r.code == 0, r.err
    lines = [json.loads(x) for x in r.err.splitlines() if x.startswith("{")]
    finished = {e["address"]: e for e in lines if e.get("event") == "finished"}
    assert set(finished) >= {"job.orders_clean", "target.orders_out", "target.orders_copy"}
    assert finished["target.orders_out"]["status"] == "done"
    progress_events = [e for e in lines if e.get("event") == "progress"]
    assert {"address": "target.orders_out", "rows": 3, "total": 3}.items() <= next(
        e for e in progress_events if e["address"] == "target.orders_out"
    ).items()  # the row count known from the job's run gives the bar its total
    assert all(e["logger"] == "runner.apply" and "time" in e for e in lines)
    assert "job.orders_clean: running..." not in r.out  # the events went to JSON instead


def test_state_and_plan_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path, BASIC)
    assert publish(capsys, "plan", str(spec), "--out", str(tmp_path / "plan.json")).code == 0
    plan = read_plan_file(tmp_path / "plan.json")
    assert plan is not None
    out = io.StringIO()
    print_table(changes_table(plan), color=False, file=out, width=150)
    text = out.getvalue()
    assert "target.orders_out" in text and "publish (truncateAndLoad)" in text
    assert "warehouse.main.orders" in text

    assert publish(capsys, "apply", str(tmp_path / "plan.json")).code == 0
    from runner.commands.args import SpecArgs
    from runner.commands.context import open_context

    state = open_context(SpecArgs(str(spec))).backend.read()
    assert state is not None
    out = io.StringIO()
    print_table(state_table(state, title="shop"), color=False, file=out, width=200)
    text = out.getvalue()
    for address in ("connection.warehouse", "job.orders_clean", "target.orders_out"):
        assert address in text
    assert "warehouse.main.orders (truncateAndLoad" in text
    row = next(line for line in text.splitlines() if "target.orders_out" in line)
    assert " 3 " in row  # rows in the table
    out = io.StringIO()
    print_table(state_table(state, "target."), color=False, file=out, width=200)
    assert "job.orders_clean" not in out.getvalue()
