"""`publish apply`: apply a saved plan exactly, or plan, show, ask and apply."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections import defaultdict
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
from runner.errors import ApplyError, InternalError, Interrupted, PublishError, StalePlanError
from runner.plan.model import Change, Plan
from runner.plan.planner import table_ref
from runner.plan.render import render_plan
from runner.spec.model import REPLACING_ACTIONS
from runner.state.model import State
from runner.state.open import new_state
from runner.targets.base import TableRef
from runner.targets.pool import TargetPool

EXIT_INTERRUPTED = 130


def read_plan_file(path: Path) -> Plan | None:
    """The plan in ``path``, or None when the file is not a plan (a spec)."""
    try:
        head = path.read_bytes()[:4096].lstrip()
    except OSError:
        return None
    if not head.startswith(b"{"):
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PublishError(f"{path}: not a readable plan file: {exc}") from exc
    if not isinstance(data, dict) or "plan_id" not in data or "format_version" not in data:
        raise PublishError(f"{path}: a JSON file that is not a publish plan")
    if data["format_version"] != "1":
        raise PublishError(
            f"{path}: plan format_version {data['format_version']!r} is not supported"
        )
    try:
        plan = Plan.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PublishError(
            f"{path}: not a complete publish plan (missing or malformed {exc})"
        ) from exc
    if plan.plan_id != data["plan_id"]:
        raise StalePlanError(f"{path}: the plan file was edited after it was made; plan again")
    return plan


def check_spec_unchanged(plan: Plan, ctx: Context, planfile: str) -> None:
    again = f"Make a new plan: publish plan {plan.spec_path} --out {planfile}"
    if ctx.spec.sha256 != plan.spec_sha256:
        raise StalePlanError(
            f"saved plan {planfile} is stale: the spec file changed since it was made. {again}"
        )
    if ctx.spec.rendered_sha256 != plan.rendered_sha256:
        raise StalePlanError(
            f"saved plan {planfile} is stale: the rendered spec changed since it was made (a variable, "
            f"an environment variable or a secret has another value). {again}"
        )


def check_state_unchanged(plan: Plan, state: State | None, planfile: str) -> None:
    again = f"Make a new plan: publish plan {plan.spec_path} --out {planfile}"
    if state is not None and plan.plan_id in state.applied_plans:
        raise StalePlanError(
            f"saved plan {planfile} is stale: it was already applied (a plan is applied at most once). {again}"
        )
    if plan.lineage is None and state is not None:
        raise StalePlanError(
            f"saved plan {planfile} is stale: it was made when no state existed, and state has been "
            f"written since (serial {state.serial}). {again}"
        )
    if plan.lineage is not None and state is None:
        raise StalePlanError(
            f"saved plan {planfile} is stale: the state it was made against is gone. {again}"
        )
    if state is not None and (state.lineage != plan.lineage or state.serial != plan.serial):
        raise StalePlanError(
            f"saved plan {planfile} is stale: state moved from serial {plan.serial} to {state.serial} "
            f"since it was made. {again}"
        )


def check_tables_unchanged(plan: Plan, ctx: Context, planfile: str) -> None:
    """Refuse a saved plan when a table it publishes to appeared, vanished or filled up since.

    The plan's consequences (and the destructive guard of protected targets) were decided on
    what the tables held then; applying it to different tables would do something unshown.
    """
    items: dict[str, list[tuple[Change, TableRef]]] = defaultdict(list)
    for change in plan.changes:
        target = ctx.spec.targets.get(change.name) if change.action == "publish" else None
        if target is not None and ctx.spec.connections[target.connection].vendor is not None:
            items[target.connection].append((change, table_ref(target)))
    again = f"Make a new plan: publish plan {plan.spec_path} --out {planfile}"
    with TargetPool(ctx.spec.base_dir) as pool:
        for conn_name, pairs in sorted(items.items()):
            try:
                infos = pool.get(ctx.spec.connections[conn_name]).describe([r for _, r in pairs])
            except PublishError:
                continue  # unreachable now: the publish itself will say so
            for change, ref in pairs:
                info = infos.get(ref)
                if (info is None) != (change.rows_existing is None):
                    now = "exists now" if info is not None else "was dropped since"
                    raise StalePlanError(
                        f"saved plan {planfile} is stale: {change.address}'s table {ref} {now}, "
                        f"so the plan's '{change.consequence}' no longer holds. {again}"
                    )
                if (
                    info is not None
                    and change.publishAction in REPLACING_ACTIONS
                    and not change.destructive
                    and info.rows > 0
                ):
                    raise StalePlanError(
                        f"saved plan {planfile} is stale: {ref} held no rows when the plan was made "
                        f"and holds {info.rows:,} now, which {change.publishAction} would replace. "
                        f"{again}"
                    )


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
    check_spec_unchanged(plan, ctx, planfile)
    with ctx.backend.lock("apply", timeout=lock_timeout):
        state = ctx.backend.read()
        check_state_unchanged(plan, state, planfile)
        check_tables_unchanged(plan, ctx, planfile)
        if not plan.has_changes:
            echo("No changes in the saved plan; nothing to do.")
            return
        echo(f"Applying saved plan {planfile} ({plan.plan_id}).")
        execute(plan, ctx, state, parallelism, echo)
