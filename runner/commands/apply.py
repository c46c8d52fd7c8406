"""`publish apply`: apply a saved plan exactly, or plan, show, ask and apply."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import click

from runner.apply.executor import ApplyReport, Executor
from runner.apply.journal import Journal
from runner.commands.context import Context, Echo, open_context, use_color
from runner.commands.plan import build_plan
from runner.commands.progress import LineEvents
from runner.errors import ApplyError, InternalError, Interrupted, PublishError
from runner.plan.model import Plan
from runner.plan.planfile import read_plan_file
from runner.plan.render import render_plan
from runner.plan.stale import check_spec_unchanged, check_state_unchanged, check_tables_unchanged
from runner.state.model import State
from runner.state.open import new_state

EXIT_INTERRUPTED = 130


@contextmanager
def interrupts(cancel: threading.Event, echo: Echo) -> Iterator[None]:
    """First Ctrl-C: stop gracefully (cancel running steps, save state); second: exit now."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            echo(
                "\nInterrupted again: exiting now. Loads in flight roll back; run apply again.",
                err=True,
            )
            os._exit(EXIT_INTERRUPTED)
        cancel.set()
        echo(
            "\nInterrupting: stopping running steps and saving state (Ctrl-C again to exit at once).",
            err=True,
        )

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def report(result: ApplyReport, echo: Echo) -> None:
    done, failed, skipped = (result.by_status(s) for s in ("done", "failed", "skipped"))
    echo("")
    if result.ok:
        echo(f"Apply complete: {len(done)} done, 0 failed, 0 skipped.")
        return
    head = "Apply interrupted" if result.interrupted else "Apply failed"
    echo(f"{head}: {len(done)} done, {len(failed)} failed, {len(skipped)} skipped.")
    for s in failed:
        echo(f"  ✗ {s.address}: {s.message}")
    for s in skipped:
        echo(f"  - {s.address}: skipped ({s.message})")
    echo("What finished is recorded in state; run apply again to continue where it stopped.")


def execute(plan: Plan, ctx: Context, state: State | None, parallelism: int, echo: Echo) -> None:
    journal = Journal(ctx.backend, state or new_state(ctx.spec))
    journal.record(lambda s: s.replace(applied_plans=(*s.applied_plans[-49:], plan.plan_id)))
    cancel = threading.Event()
    platform = ctx.platform()
    try:
        with interrupts(cancel, echo):
            result = Executor(
                plan,
                ctx.spec,
                journal,
                platform,
                ctx.state_dir,
                parallelism=parallelism,
                cancel=cancel,
                events=LineEvents(echo),
            ).run()
        if result.ok:  # keep only the results of the runs state points at
            prune = getattr(platform, "prune_results", None)
            if prune is not None:
                prune({name: run.run_id for name, run in journal.state.jobs.items()})
    finally:
        platform.close()
    report(result, echo)
    if result.interrupted:
        raise Interrupted("apply was interrupted; what finished is recorded in state")
    bugs = [s.address for s in result.steps if s.bug]
    if bugs:
        raise InternalError(
            f"{len(bugs)} step(s) failed with a bug in publish ({', '.join(bugs)}); "
            "their crash logs are named above"
        )
    if not result.ok:
        raise ApplyError(f"{len(result.by_status('failed'))} step(s) failed; see above")


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


def apply_command(
    spec_or_plan: str,
    *,
    environment: str | None,
    cli_vars: Mapping[str, str],
    var_files: Sequence[str],
    auto_approve: bool,
    parallelism: int,
    lock_timeout: float,
    allow_destructive: bool,
    select: Sequence[str],
    exclude: Sequence[str],
    replace: Sequence[str],
    echo: Echo,
) -> None:
    saved = read_plan_file(Path(spec_or_plan)) if Path(spec_or_plan).is_file() else None
    if saved is not None:
        given = [
            flag
            for flag, value in (
                ("--env", environment),
                ("--var", cli_vars),
                ("--var-file", var_files),
                ("--allow-destructive", allow_destructive),
                ("--select", select),
                ("--exclude", exclude),
                ("--replace", replace),
            )
            if value
        ]
        if given:
            raise PublishError(
                f"{spec_or_plan} is a saved plan: it is applied exactly as it was made, so "
                f"{', '.join(given)} cannot change it; pass them to publish plan instead"
            )
        _apply_saved(
            saved, spec_or_plan, parallelism=parallelism, lock_timeout=lock_timeout, echo=echo
        )
        return
    ctx = open_context(
        spec_or_plan, environment=environment, cli_vars=cli_vars, var_files=var_files
    )
    with ctx.backend.lock("apply", timeout=lock_timeout):
        state = ctx.backend.read()
        plan = build_plan(
            ctx,
            state,
            spec_path=spec_or_plan,
            select=select,
            exclude=exclude,
            replace=replace,
            allow_destructive=allow_destructive,
        )
        echo(render_plan(plan, "text", color=use_color()), nl=False)
        if not plan.has_changes:
            return
        if not auto_approve:
            approve(echo)
        echo("")
        execute(plan, ctx, state, parallelism, echo)


def _apply_saved(
    plan: Plan, planfile: str, *, parallelism: int, lock_timeout: float, echo: Echo
) -> None:
    opts: Mapping[str, Any] = plan.options
    spec_path = plan.spec_path
    if not Path(spec_path).exists():
        beside = Path(planfile).parent / spec_path
        if not beside.exists():
            raise PublishError(
                f"saved plan {planfile} names spec {spec_path}, which does not exist here"
            )
        spec_path = str(beside)
    ctx = open_context(
        spec_path,
        environment=opts.get("environment"),
        cli_vars=opts.get("vars", {}),
        var_files=opts.get("var_files", []),
    )
    check_spec_unchanged(plan, ctx.spec, planfile)
    with ctx.backend.lock("apply", timeout=lock_timeout):
        state = ctx.backend.read()
        check_state_unchanged(plan, state, planfile)
        check_tables_unchanged(plan, ctx.spec, planfile)
        if not plan.has_changes:
            echo("No changes in the saved plan; nothing to do.")
            return
        echo(f"Applying saved plan {planfile} ({plan.plan_id}).")
        execute(plan, ctx, state, parallelism, echo)
