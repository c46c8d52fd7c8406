"""`publish show`: render a saved plan in any format (stale or not)."""

from __future__ import annotations

import sys
from pathlib import Path

from runner.commands.context import Echo, use_color
from runner.errors import PublishError
from runner.plan.planfile import read_plan_file
from runner.plan.render import render_plan


def show_command(planfile: str, *, fmt: str, echo: Echo) -> None:
    path = Path(planfile)
    if not path.is_file():
        raise PublishError(f"{planfile}: no such plan file")
    plan = read_plan_file(path)
    if plan is None:
        raise PublishError(
            f"{planfile}: not a plan file (make one with publish plan SPEC --out FILE)"
        )
    if fmt == "text" and sys.stdout.isatty() and plan.changes:  # people get a table first
        from runner.tables import changes_table, print_table

        print_table(changes_table(plan), color=use_color())
    echo(render_plan(plan, fmt, color=use_color() and fmt == "text"), nl=False)  # type: ignore[arg-type]
