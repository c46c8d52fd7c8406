"""How apply reports its steps: a line per finished step, live row counts on a terminal."""

from __future__ import annotations

import sys
import threading
import time

from runner.apply.executor import Events, StepResult
from runner.commands.context import Echo
from runner.plan.model import Change

_MARK = {"done": "✓", "failed": "✗", "skipped": "-"}


class LineEvents(Events):
    """Prints one line as each step starts and finishes; row progress only on a terminal."""

    def __init__(self, echo: Echo, *, live: bool | None = None) -> None:
        self._echo = echo
        self._lock = threading.Lock()
        self._live = sys.stderr.isatty() if live is None else live
        self._started: dict[str, float] = {}
        self._last_print: dict[str, float] = {}
        self._dirty = False  # a live progress line without its newline is on screen

    def _clear(self) -> None:
        if self._dirty:
            self._echo("\r\x1b[K", err=True, nl=False)
            self._dirty = False

    def started(self, change: Change) -> None:
        with self._lock:
            self._clear()
            self._started[change.address] = time.monotonic()
            verb = {"run": "running", "publish": "publishing", "delete": "forgetting"}.get(
                change.action,
                f"{change.action[:-1] if change.action.endswith('e') else change.action}ing",
            )
            self._echo(f"{change.address}: {verb}...")

    def progress(self, change: Change, rows: int) -> None:
        if not self._live:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._last_print.get(change.address, 0.0) < 0.5:
                return
            self._last_print[change.address] = now
            elapsed = now - self._started.get(change.address, now)
            rate = f" ({rows / elapsed:,.0f} rows/s)" if elapsed > 0 else ""
            self._echo(f"\r\x1b[K{change.address}: {rows:,} rows{rate}", err=True, nl=False)
            self._dirty = True

    def note(self, change: Change, message: str) -> None:
        """A job's own progress messages (stage names, remote status), on a terminal only."""
        if not self._live:
            return
        with self._lock:
            elapsed = time.monotonic() - self._started.get(change.address, time.monotonic())
            self._echo(f"\r\x1b[K{change.address}: {message} ({elapsed:.0f}s)", err=True, nl=False)
            self._dirty = True

    def finished(self, result: StepResult) -> None:
        with self._lock:
            self._clear()
            took = f" ({result.seconds:.1f}s)" if result.seconds >= 0.05 else ""
            self._echo(
                f"{result.address}: {_MARK[result.status]} {result.status}: {result.message}{took}"
            )
