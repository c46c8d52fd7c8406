"""The platform API calls a plan shows, and the remote ids they name (trifacta; empty on local)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from runner.plan.diff import Outcome
from runner.plan.options import run_id_for
from runner.results import ResultSchema
from runner.spec.model import Connection, Job, Spec, Target
from runner.state.model import State


def remote_id(state: State | None, conn: Connection) -> int | None:
    return state.remote_id(conn.name, conn.id) if state else conn.id


def riding(
    spec: Spec, state: State | None, job: str
) -> tuple[tuple[Target, Connection, int | None], ...]:
    """The targets published by a run of ``job`` (trifacta ``via: outputObject``), with ids."""
    return tuple(
        (t, spec.connections[t.connection], remote_id(state, spec.connections[t.connection]))
        for t in spec.override_targets(job)
    )


def shown_calls(calls: Iterable[Any]) -> tuple[Mapping[str, Any], ...]:
    return tuple(c.to_json() for c in calls)


# --- what a remote platform (trifacta) adds to a plan; local platforms have none of these ---
def run_details(
    platform: Any, job: Job, riders: Sequence[Any], schema: ResultSchema | None
) -> dict[str, Any]:
    """A run's details: its columns, and what the platform adds (trifacta: the output
    object's steps, field by field)."""
    details = getattr(platform, "job_details", None)
    extra = dict(details(job, publications=riders)) if details is not None else {}
    return {**({"columns": schema.to_json()} if schema else {}), **extra}


def rider_connections(riders: Sequence[tuple[Target, Connection, int | None]]) -> tuple[str, ...]:
    """Connections a run waits for: those its publications name that are made in this plan."""
    return tuple(sorted({conn.address for _t, conn, rid in riders if rid is None}))


def same_table(platform: Any, target: Target, recorded: str, ref_name: str) -> bool:
    """Whether the recorded table is the target's (trifacta: ``t_<timestamp>`` for create)."""
    matches = getattr(platform, "table_matches", None)
    return recorded == ref_name or (matches is not None and bool(matches(target, recorded)))


def platform_outcome(platform: Any, target: Target, out: Outcome) -> Outcome:
    """The outcome as the platform's service will do it (trifacta names the table pattern)."""
    note = getattr(platform, "publish_note", None)
    if note is None:
        return out
    timestamped = getattr(platform, "table_matches", None) is not None and target.action in (
        "create",
        "createAndLoad",
    )
    # a service that makes a new table on every run never finds the table there
    return Outcome(note(target), out.destructive, out.diff, None if timestamped else out.error)


def rides_on_run(spec: Spec, target: Target) -> bool:
    """Whether the target is published by its job's run (trifacta ``via: outputObject``)."""
    return any(t.name == target.name for t in spec.override_targets(target.job))


def rerun_reason(spec: Spec, job: str, recorded: str) -> str:
    riders = sorted(t.address for t in spec.override_targets(job))
    if riders:
        return (
            f"{', '.join(riders)} {'is' if len(riders) == 1 else 'are'} published by the job's "
            f"run (via: outputObject), not by run {recorded} any more: run it again"
        )
    return f"the results of run {recorded} are not on this machine"


def update_reason(platform: Any, conn: Connection, remote: int | None) -> str:
    note = getattr(platform, "connection_update_note", None)
    return "the connection's definition changed" if note is None else str(note(conn, remote))


def job_problems(platform: Any, spec: Spec, names: Iterable[str]) -> list[str]:
    """``plan --check-jobs``: the platform validates each run without running it."""
    check = getattr(platform, "check_job", None)
    if check is None:
        return []
    return [str(p) for p in (check(spec.jobs[n]) for n in sorted(names)) if p]


def run_id(spec: Spec, state: State | None, job: str, fingerprint: str) -> str:
    """The id of a new run of ``job`` in this plan.

    On trifacta it is also the run's ``x-execution-id``, so it stays the same until this
    job's own record changes (a successful run, or a failure recorded): an apply killed
    while the job group ran plans the same id again, and the service answers the repeated
    POST with 304 instead of running (and publishing) a second time.
    """
    if spec.platform.type != "trifacta":
        return run_id_for(spec, state, job, fingerprint)
    last = state.jobs.get(job) if state else None
    failure = state.failures.get(f"job.{job}", {}) if state else {}
    seed = ":".join(
        (
            spec.name,
            spec.environment,
            job,
            fingerprint,
            last.run_id if last else "-",
            str(failure.get("at", "-")),
        )
    )
    return "r" + hashlib.sha256(seed.encode()).hexdigest()[:15]
