"""`publish plan`: show what apply would change; optionally save the plan."""

from __future__ import annotations

from runner.commands.args import PlanArgs
from runner.commands.context import Context, Echo, open_context, use_color
from runner.plan.model import Plan
from runner.plan.planfile import write_plan_file
from runner.plan.planner import Planner
from runner.plan.render import PlanFormat, render_plan
from runner.state.model import State
from runner.targets.pool import TargetPool


def build_plan(ctx: Context, state: State | None, args: PlanArgs) -> Plan:
    """Make the plan for ``args`` against ``state``; the platform is closed afterwards."""
    options = args.options()
    platform = ctx.platform()
    try:
        with TargetPool(ctx.spec.base_dir) as pool:
            return Planner(ctx.spec, state, platform, pool, options).build()
    finally:
        platform.close()


def plan_command(args: PlanArgs, *, out: str | None, fmt: PlanFormat, echo: Echo) -> bool:
    """Make and show the plan; returns whether it has changes or drift (exit 2 under
    ``--detailed-exitcode``: a reviewer must look at either)."""
    ctx = open_context(args.spec)
    plan = build_plan(ctx, ctx.backend.read(), args)
    if out:
        write_plan_file(plan, out)
    echo(render_plan(plan, fmt, color=use_color() and fmt == "text"), nl=False)
    if out and fmt == "text":
        echo(f"\nSaved the plan to {out}. Apply exactly this plan with: publish apply {out}")
    return plan.has_changes or bool(plan.drift)
