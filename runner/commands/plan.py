"""`publish plan`: show what apply would change; optionally save the plan."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from runner.commands.context import Context, Echo, open_context, use_color
from runner.plan.model import Plan
from runner.plan.planfile import write_plan_file
from runner.plan.planner import PlanOptions, make_plan
from runner.plan.render import render_plan
from runner.state.model import State
from runner.targets.pool import TargetPool


def build_plan(
    ctx: Context,
    state: State | None,
    *,
    spec_path: str,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    replace: Sequence[str] = (),
    allow_destructive: bool = False,
    refresh: bool = True,
    check_connections: bool = False,
) -> Plan:
    options = PlanOptions(
        select=tuple(select),
        exclude=tuple(exclude),
        replace=tuple(replace),
        allow_destructive=allow_destructive,
        refresh=refresh,
        check_connections=check_connections,
        load=ctx.load_options,
        spec_path=spec_path,
    )
    platform = ctx.platform()
    try:
        with TargetPool(ctx.spec.base_dir) as pool:
            return make_plan(ctx.spec, state, platform, pool, options)
    finally:
        platform.close()


def plan_command(
    spec_path: str,
    *,
    environment: str | None,
    cli_vars: Mapping[str, str],
    var_files: Sequence[str],
    out: str | None,
    fmt: str,
    select: Sequence[str],
    exclude: Sequence[str],
    replace: Sequence[str],
    allow_destructive: bool,
    refresh: bool,
    echo: Echo,
    check_connections: bool = False,
) -> bool:
    """Make and show the plan; returns whether it has changes."""
    ctx = open_context(spec_path, environment=environment, cli_vars=cli_vars, var_files=var_files)
    state = ctx.backend.read()
    plan = build_plan(
        ctx,
        state,
        spec_path=spec_path,
        select=select,
        exclude=exclude,
        replace=replace,
        allow_destructive=allow_destructive,
        refresh=refresh,
        check_connections=check_connections,
    )
    if out:
        write_plan_file(plan, out)
    echo(render_plan(plan, fmt, color=use_color() and fmt == "text"), nl=False)  # type: ignore[arg-type]
    if out and fmt == "text":
        echo(f"\nSaved the plan to {out}. Apply exactly this plan with: publish apply {out}")
    return plan.has_changes
