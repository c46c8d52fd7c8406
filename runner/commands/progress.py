"""How apply reports its steps: live rich progress on a terminal, plain lines otherwise.

- On a terminal (stdout and stderr, no ``NO_COLOR``, ``TERM`` not ``dumb``): one live line
  per running step on stderr, a bar with rows, rows/s and ETA when the row count is known,
  a spinner with the rows so far (or the job's own status) otherwise; each finished step is
  printed above as a permanent line.
- Anywhere else (CI logs, pipes): one plain line when a step starts and one when it finishes.
- ``--log-format json``: the same events as JSON lines on stderr.

rich is imported only when a live display is made, so ``publish --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from runner import logjson
from runner.apply.executor import Events, StepResult
from runner.commands.context import Echo
from runner.plan.model import Change
from runner.plan.words import plural

MARK = {"done": "✓", "failed": "✗", "skipped": "-"}


def verb(change: Change) -> str:
    fixed = {
        "run": "running",
        "publish": "publishing",
        "forget": "forgetting",
        "delete": "forgetting",
    }
    action = change.action
    return fixed.get(action, f"{action[:-1] if action.endswith('e') else action}ing")


def finished_line(result: StepResult) -> str:
    took = f" ({result.seconds:.1f}s)" if result.seconds >= 0.05 else ""
    return f"{result.address}: {MARK[result.status]} {result.status}: {result.message}{took}"


def live_terminal() -> bool:
    """Whether a live display fits: both streams on a terminal, colour and cursor allowed."""
    return (
        sys.stdout.isatty()
        and sys.stderr.isatty()
        and "NO_COLOR" not in os.environ
        and os.environ.get("TERM") != "dumb"
    )


def make_reporter(echo: Echo) -> Events:
    """The reporter for this process: JSON lines, a live display, or plain lines."""
    if logjson.log_format() == "json":
        return JsonEvents()
    if live_terminal():
        from runner.commands.live import LiveEvents  # rich, only for a live display

        return LiveEvents()
    return LineEvents(echo)


class LineEvents(Events):
    """One plain line as each step starts and one as it finishes (CI logs, pipes, NO_COLOR)."""

    def __init__(self, echo: Echo) -> None:
        self._echo = echo
        self._lock = threading.Lock()

    def started(self, change: Change) -> None:
        with self._lock:
            self._echo(f"{change.address}: {verb(change)}...")

    def finished(self, result: StepResult) -> None:
        with self._lock:
            self._echo(finished_line(result))


class JsonEvents(Events):
    """Step events as JSON lines on stderr; row progress at most every 10 s per step."""

    def __init__(self, every: float = 10.0) -> None:
        self._every = every
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def started(self, change: Change) -> None:
        logjson.emit(
            "started",
            f"{change.address}: {verb(change)}",
            address=change.address,
            action=change.action,
        )

    def progress(self, change: Change, rows: int, total: int | None = None) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(change.address, 0.0) < self._every:
                return
            self._last[change.address] = now
        logjson.emit(
            "progress",
            f"{change.address}: {plural(rows, 'row')}",
            address=change.address,
            rows=rows,
            total=total,
        )

    def finished(self, result: StepResult) -> None:
        logjson.emit(
            "finished",
            finished_line(result),
            address=result.address,
            action=result.action,
            status=result.status,
            seconds=round(result.seconds, 3),
        )
