"""Run a plan through the executor: Ctrl-C handling, the journal, and the end report."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from runner import exitcodes
from runner.apply.executor import ApplyReport, Events, Executor
from runner.apply.journal import Journal
from runner.commands.context import Context, Echo
from runner.commands.progress import make_reporter
from runner.errors import ApplyError, InternalError, Interrupted
from runner.lineage import lineage_events
from runner.observers import Observers
from runner.plan.model import Plan
from runner.plan.replan import replan_command
from runner.state.model import State
from runner.state.open import new_state


@contextmanager
def interrupts(cancel: threading.Event, echo: Echo) -> Iterator[None]:
    """First Ctrl-C: stop gracefully (cancel running steps, save state); second: exit now."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            echo(
                "\nInterrupted again: exiting now. Loads in flight roll back; plan and apply again "
                "to continue.",
                err=True,
            )
            os._exit(exitcodes.INTERRUPTED)
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


def report(result: ApplyReport, echo: Echo, replan: str | None = None) -> None:
    """The closing lines; ``replan``: the command that makes a new plan like a saved one
    (a saved plan is applied once, so "apply again" would only be refused)."""
    done, failed, skipped = (result.by_status(s) for s in ("done", "failed", "skipped"))
    echo("")
    if result.ok:
        echo(f"Apply complete: {len(done)} done, 0 failed, 0 skipped.")
        return
    head = "Apply interrupted" if result.interrupted else "Apply failed"
    echo(f"{head}: {len(done)} done, {len(failed)} failed, {len(skipped)} skipped.")
    for s in failed:
        echo(f"  ✗ {s.address}: {s.message}" + (" (transient)" if s.transient else ""))
    for s in skipped:
        echo(f"  - {s.address}: skipped ({s.message})")
    if replan is not None:
        echo(
            "What finished is recorded in state. A saved plan is applied once: make a new plan "
            f"with the same options ({replan}) and apply it; it does only what is left."
        )
    elif result.interrupted:
        echo("What finished is recorded in state; run apply again to continue where it stopped.")
    elif all(s.transient for s in failed):
        echo(
            "What finished is recorded in state. The failures look transient (a lost connection, "
            "a deadlock, a server error): run apply again to continue where it stopped."
        )
    else:
        echo(
            "What finished is recorded in state. Fix what the errors above name, then plan "
            "again and apply: the new plan does only what is left."
        )


def run_plan(
    plan: Plan,
    ctx: Context,
    state: State | None,
    *,
    parallelism: int,
    events: Events | None = None,
    cancel: threading.Event | None = None,
) -> ApplyReport:
    """Apply ``plan``'s steps (the caller holds the lock); print nothing, raise nothing per step.

    ``events`` hears every step (progress display, a caller's callback); lineage events are
    added when OpenLineage is configured (:mod:`runner.lineage`).
    """
    journal = Journal(ctx.backend, state or new_state(ctx.spec))
    journal.record(lambda s: s.replace(applied_plans=(*s.applied_plans[-49:], plan.plan_id)))
    platform = ctx.platform()
    observers = Observers(events, lineage_events(ctx.spec, lambda: journal.state, ctx.state_dir))
    try:
        result = Executor(
            plan,
            ctx.spec,
            journal,
            platform,
            ctx.state_dir,
            parallelism=parallelism,
            cancel=cancel,
            events=observers,
        ).run()
        if result.ok:  # keep only the results of the runs state points at
            platform.prune_results({name: run.run_id for name, run in journal.state.jobs.items()})
    finally:
        observers.close()
        platform.close()
    return result


def raise_for(result: ApplyReport) -> None:
    """The error an apply that did not finish ends with (the report is printed or returned)."""
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


def execute(
    plan: Plan,
    ctx: Context,
    state: State | None,
    parallelism: int,
    echo: Echo,
    planfile: str | None = None,
) -> None:
    cancel = threading.Event()
    with interrupts(cancel, echo):
        result = run_plan(
            plan, ctx, state, parallelism=parallelism, events=make_reporter(echo), cancel=cancel
        )
    report(result, echo, replan_command(plan, planfile) if planfile is not None else None)
    raise_for(result)
