"""The live display of apply on a terminal (rich): one line per running step.

A step whose row count is known (a publication: the job's run says how many rows it made)
shows a bar, the rows so far, rows/s and the time left; anything else shows a spinner with
the rows so far or the job's own status message (Trifacta: the job group's status).
Finished steps are printed above the live lines and stay.
"""

from __future__ import annotations

import threading

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

from runner.apply.executor import Events, StepResult
from runner.commands.progress import finished_line, verb
from runner.plan.model import Change
from runner.spec.secrets import redact

STYLE = {"done": "green", "failed": "red", "skipped": "yellow"}


class BarWhenKnown(ProgressColumn):
    """A bar when the row count is known; nothing otherwise (the spinner says it runs)."""

    def __init__(self) -> None:
        super().__init__()
        self._bar = BarColumn(bar_width=20)

    def render(self, task: Task) -> RenderableType:
        return self._bar.render(task) if task.total else Text("")


class Rows(ProgressColumn):
    """'1,234/10,000 rows  45,678 rows/s', '1,234 rows', or the job's status message."""

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True))

    def render(self, task: Task) -> RenderableType:
        rows = task.fields.get("rows")
        if rows is None:
            return Text(str(task.fields.get("note", "")), style="dim")
        of = f"/{int(task.total):,}" if task.total else ""
        rate = f"  {task.speed:,.0f} rows/s" if task.speed else ""
        return Text(f"{int(rows):,}{of} rows{rate}", style="cyan", overflow="ellipsis")


class EtaWhenKnown(ProgressColumn):
    """The time left, only when the row count is known."""

    def __init__(self) -> None:
        super().__init__()
        self._eta = TimeRemainingColumn()

    def render(self, task: Task) -> RenderableType:
        return self._eta.render(task) if task.total else Text("")


def new_progress(console: Console | None = None) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False, table_column=Column(no_wrap=True, ratio=1)),
        BarWhenKnown(),
        Rows(),
        EtaWhenKnown(),
        console=console or Console(stderr=True),
        transient=True,
        refresh_per_second=8,
    )


class LiveEvents(Events):
    """A rich live display on stderr: one line per running step, finished steps above it."""

    def __init__(self, progress: Progress | None = None) -> None:
        self.progress_display = progress or new_progress()
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()
        self._live = False

    def _start(self) -> None:
        if not self._live:
            self.progress_display.start()
            self._live = True

    def started(self, change: Change) -> None:
        with self._lock:
            self._start()
            self._tasks[change.address] = self.progress_display.add_task(
                f"{change.address}: {verb(change)}", total=None, rows=None, note=""
            )

    def progress(self, change: Change, rows: int, total: int | None = None) -> None:
        with self._lock:
            task = self._tasks.get(change.address)
            if task is not None:
                self.progress_display.update(task, completed=rows, total=total, rows=rows)

    def note(self, change: Change, message: str) -> None:
        with self._lock:
            task = self._tasks.get(change.address)
            if task is not None:
                self.progress_display.update(task, note=redact(message))

    def finished(self, result: StepResult) -> None:
        with self._lock:
            self._start()
            task = self._tasks.pop(result.address, None)
            if task is not None:
                self.progress_display.remove_task(task)
            line = Text(redact(finished_line(result)), style=STYLE[result.status])
            self.progress_display.console.print(line)

    def close(self) -> None:
        with self._lock:
            if self._live:
                self.progress_display.stop()
                self._live = False
