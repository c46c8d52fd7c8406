"""`publish apply`: apply a saved plan exactly, or plan, show, ask and apply."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from runner.commands.args import ApplyArgs, SpecArgs
from runner.commands.context import Echo, open_context, use_color
from runner.commands.execute import execute
from runner.commands.plan import build_plan
from runner.errors import PublishError
from runner.plan.model import Plan
from runner.plan.planfile import read_plan_file
from runner.plan.render import render_plan
from runner.plan.replan import check_inputs_unchanged
from runner.plan.stale import check_spec_unchanged, check_state_unchanged, check_tables_unchanged
from runner.targets import sqlite_ahead


def approve(echo: Echo) -> None:
    if not sys.stdin.isatty():
        raise PublishError(
            "refusing to ask for approval: standard input is not a terminal. Run with "
            "--auto-approve, or save a plan (publish plan SPEC --out plan.json), review it, and "
            "apply exactly that plan (publish apply plan.json)"
        )
    answer = click.prompt(
        "\nDo you want to apply this plan? Only 'yes' will be accepted",
        default="",
        show_default=False,
    )
    if answer.strip() != "yes":
        raise PublishError("apply cancelled; nothing was changed")


def apply_command(args: ApplyArgs, *, echo: Echo) -> None:
    given = args.plan.spec.path
    saved = read_plan_file(Path(given)) if Path(given).is_file() else None
    if saved is not None:
        flags = (*args.plan.spec.given, *args.plan.selection.given, *args.plan.preview.given)
        if flags:
            raise PublishError(
                f"{given} is a saved plan: it is applied exactly as it was made, so "
                f"{', '.join(flags)} cannot change it; pass them to publish plan instead"
            )
        _apply_saved(saved, given, args, echo=echo)
        return
    ctx = open_context(args.plan.spec)
    # SQLite targets stage the previewed rows while the plan runs (taken if it is applied)
    with ctx.backend.lock("apply", timeout=args.lock_timeout), sqlite_ahead.session():
        state = ctx.backend.read()
        plan = build_plan(ctx, state, args.plan)
        echo(render_plan(plan, "text", color=use_color()), nl=False)
        if not plan.has_changes:
            return
        if not args.auto_approve:
            approve(echo)
        echo("")
        execute(plan, ctx, state, args.parallelism, echo)


def _spec_of(plan: Plan, planfile: str) -> SpecArgs:
    """How to load the spec a saved plan was made from, as it was loaded then."""
    spec_path = plan.spec_path
    if not Path(spec_path).exists():
        beside = Path(planfile).parent / spec_path
        if not beside.exists():
            raise PublishError(
                f"saved plan {planfile} names spec {spec_path}, which does not exist here"
            )
        spec_path = str(beside)
    opts = plan.options
    return SpecArgs(
        spec_path,
        environment=opts.get("environment"),
        cli_vars=opts.get("vars", {}),
        var_files=tuple(opts.get("var_files", ())),
    )


def _apply_saved(plan: Plan, planfile: str, args: ApplyArgs, *, echo: Echo) -> None:
    ctx = open_context(_spec_of(plan, planfile))
    check_spec_unchanged(plan, ctx.spec, planfile)
    with ctx.backend.lock("apply", timeout=args.lock_timeout):
        state = ctx.backend.read()
        check_state_unchanged(plan, state, planfile)
        check_tables_unchanged(plan, ctx.spec, planfile)
        check_inputs_unchanged(plan, ctx.spec, planfile)
        if not plan.has_changes:
            echo("No changes in the saved plan; nothing to do.")
            return
        echo(f"Applying saved plan {planfile} ({plan.plan_id}).")
        execute(plan, ctx, state, args.parallelism, echo, planfile)
