"""Tables for people at a terminal: ``publish state list`` and the changes of ``publish show``.

Only on a terminal: piped or redirected output keeps its plain form (one address a line,
the text plan), which scripts read. rich is imported here only, when a table is printed.
Every cell passes through the secret filter.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

from runner.plan.model import Plan
from runner.spec.secrets import redact
from runner.state.model import State

if TYPE_CHECKING:
    from rich.table import Table

_KIND_ORDER = {"connection": 0, "job": 1, "target": 2}


def _rows(state: State, prefix: str) -> list[tuple[str, str, str, str, str]]:
    out: list[tuple[str, str, str, str, str]] = []
    for addr in state.addresses():
        if not addr.startswith(prefix):
            continue
        kind, _, name = addr.partition(".")
        detail = rows = when = ""
        if kind == "connection":
            conn = state.connections[name]
            detail = " ".join(
                x
                for x in (conn.vendor or "", f"id {conn.remote_id}" if conn.remote_id else "")
                if x
            )
        elif kind == "job":
            job = state.jobs[name]
            detail, when = f"run {job.run_id}", job.finished_at
            rows = f"{job.rows:,}" if job.rows is not None else ""
        elif kind == "target":
            pub = state.publications[name]
            detail = f"{pub.table} ({pub.action}, run {pub.run_id})"
            rows, when = f"{pub.rows_after:,}", pub.published_at
        when = when[:19].replace("T", " ")  # to the second
        failure = state.failures.get(addr)
        failed = f"{failure.get('at', '')}: {failure.get('error', '')}" if failure else ""
        out.append((addr, detail, rows, when, failed))
    return out


def state_table(state: State, prefix: str = "", *, title: str | None = None) -> Table:
    """What state records, one row per address."""
    from rich.table import Table

    table = Table(title=title)
    for header, justify in (
        ("address", "left"),
        ("what", "left"),
        ("rows", "right"),
        ("when (UTC)", "left"),
        ("last failure", "left"),
    ):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for row in _rows(state, prefix):
        table.add_row(*(redact(cell) for cell in row), style="red" if row[4] else None)
    return table


def changes_table(plan: Plan) -> Table:
    """One row per change of a plan: what, where, rows before and after, destructive."""
    from rich.table import Table

    table = Table(title=f"Plan {plan.plan_id}")
    for header, justify in (
        ("address", "left"),
        ("action", "left"),
        ("table", "left"),
        ("rows now", "right"),
        ("rows in", "right"),
        ("destructive", "center"),
    ):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for c in plan.changes:
        action = f"{c.action} ({c.publish_action})" if c.publish_action else c.action
        now = (
            ""
            if c.rows_existing is None
            else f"{'~' if c.rows_estimated else ''}{c.rows_existing:,}"
        )
        incoming = "" if c.rows_incoming is None else f"{c.rows_incoming:,}"
        table.add_row(
            redact(c.address),
            action,
            redact(c.table or ""),
            now,
            incoming,
            "yes" if c.destructive else "",
            style="red" if c.destructive else None,
        )
    return table


def print_table(
    table: Table, *, color: bool, file: TextIO | None = None, width: int | None = None
) -> None:
    from rich.console import Console

    Console(file=file or sys.stdout, no_color=not color, width=width, highlight=False).print(table)
