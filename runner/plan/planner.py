"""The planner: Spec x State x what the platform and the targets report now -> Plan.

The planner never writes: it reads state, asks the platform read-only questions
(fingerprints, result schemas) and describes target tables (one catalog query per
schema). Every problem it finds is collected and raised at once as a PlanError before
anything runs.

Rules it applies:

- a job runs when it has no successful run, when its fingerprint (definition plus
  inputs) differs from its last successful run, or with ``--replace job.NAME``;
- a target is published when the results of its job's current run have not been
  published to its table yet (one job run is published to a target at most once), or
  with ``--replace target.NAME``;
- objects in state but no longer in the spec are forgotten (``delete``); their tables
  and rows are never touched.
"""

from __future__ import annotations

import difflib
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.errors import PlanError, PublishError
from runner.plan.diff import outcome
from runner.plan.model import Change, Drift, Plan
from runner.platforms.base import Platform
from runner.results import ResultSchema
from runner.spec.model import Connection, Spec, Target
from runner.state.model import State
from runner.targets.base import TableInfo, TableRef
from runner.targets.pool import TargetPool


@dataclass(frozen=True)
class PlanOptions:
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    allow_destructive: bool = False
    refresh: bool = True
    #: test every connection in scope (trifacta: status / dryRun endpoints)
    check_connections: bool = False
    #: how the spec was loaded (environment, vars, var files): recorded for apply
    load: Mapping[str, Any] = field(default_factory=dict)
    #: the spec path as the user gave it
    spec_path: str = ""


def table_ref(target: Target) -> TableRef:
    return TableRef(target.connection, tuple(target.path), target.table)


def run_id_for(spec: Spec, state: State | None, job: str, fingerprint: str) -> str:
    """A run id derived from the spec, environment and state version.

    Deterministic for the same inputs (plans are byte-identical), and new after any state
    write. Two specs or environments never share one, so a target database's ledger
    (keyed on run id, target and table) cannot mistake one for the other.
    """
    version = f"{state.lineage}:{state.serial}" if state else "-:0"
    seed = f"{spec.name}:{spec.environment}:{version}:{job}:{fingerprint}"
    return "r" + hashlib.sha256(seed.encode()).hexdigest()[:15]


def all_addresses(spec: Spec) -> set[str]:
    return (
        {f"connection.{n}" for n in spec.connections}
        | {f"job.{n}" for n in spec.jobs}
        | {f"target.{n}" for n in spec.targets}
    )


def _did_you_mean(address: str, known: set[str]) -> str:
    close = difflib.get_close_matches(address, sorted(known), n=1)
    if close:
        return f"; did you mean {close[0]}?"
    return " (addresses look like target.NAME, job.NAME, connection.NAME)"


def _scope(
    spec: Spec, state: State | None, options: PlanOptions
) -> tuple[set[str], list[str], list[str]]:
    """The addresses to plan, the ones pulled in by --select, and address errors."""
    known = all_addresses(spec)
    in_state = set(state.addresses()) if state else set()
    errors = [
        f"{flag} {addr}: no such object in the spec{_did_you_mean(addr, known)}"
        for flag, addrs in (
            ("--select", options.select),
            ("--exclude", options.exclude),
            ("--replace", options.replace),
        )
        for addr in addrs
        if addr not in known and not (flag != "--replace" and addr in in_state)
    ]
    scope = known | in_state
    pulled: list[str] = []
    if options.select:
        chosen = set(options.select)
        for addr in options.select:
            kind, _, name = addr.partition(".")
            if kind == "target" and name in spec.targets:
                t = spec.targets[name]
                for need in (f"job.{t.job}", f"connection.{t.connection}"):
                    if need not in chosen:
                        chosen.add(need)
                        pulled.append(need)
        scope = chosen
    excluded = set(options.exclude)
    for name, t in spec.targets.items():  # excluding what a target needs excludes the target
        if f"job.{t.job}" in excluded or f"connection.{t.connection}" in excluded:
            excluded.add(f"target.{name}")
    return scope - excluded, sorted(set(pulled)), errors


def make_plan(
    spec: Spec,
    state: State | None,
    platform: Platform,
    pool: TargetPool,
    options: PlanOptions,
) -> Plan:
    """Plan what apply must do to bring every target to the spec; raise PlanError on problems."""
    scope, pulled, errors = _scope(spec, state, options)
    errors += platform.check(spec)
    changes: list[Change] = []

    # --- connections ---------------------------------------------------------------
    conn_changes: dict[str, Change] = {}
    for name, conn in sorted(spec.connections.items()):
        if f"connection.{name}" not in scope:
            continue
        fp = platform.connection_fingerprint(conn)
        record = state.connections.get(name) if state else None
        remote_id = record.remote_id if record else conn.id
        if record is None:
            reason = (
                "adopt the connection made in the application" if conn.adopted else "new connection"
            )
            change = Change(
                f"connection.{name}",
                "create",
                reason,
                fingerprint=fp,
                api_calls=_calls(platform.connection_calls(conn, None)),
            )
        elif record.fingerprint != fp:
            change = Change(
                f"connection.{name}",
                "update",
                "the connection's definition changed",
                fingerprint=fp,
                api_calls=_calls(platform.connection_calls(conn, remote_id)),
            )
        else:
            continue
        conn_changes[name] = change
        changes.append(change)

    if options.check_connections:
        errors += _check_connections(spec, state, platform, scope)

    # --- jobs ----------------------------------------------------------------------
    job_runs: dict[str, tuple[str, ResultSchema | None, int | None, bool]] = {}
    fingerprints: dict[str, str] = {}

    def schedule_run(name: str, reason: str) -> None:
        job, fp = spec.jobs[name], fingerprints[name]
        try:
            schema = platform.result_schema(job)
        except PublishError as exc:
            errors.append(str(exc))
            return
        run_id = run_id_for(spec, state, name, fp)
        job_runs[name] = (run_id, schema, None, True)
        changes.append(
            Change(
                f"job.{name}",
                "run",
                reason,
                run_id=run_id,
                fingerprint=fp,
                api_calls=_calls(
                    platform.job_calls(job, run_id, publications=_riding(spec, state, name))
                ),
                details={"columns": schema.to_json()} if schema else {},
            )
        )

    for name, job in sorted(spec.jobs.items()):
        try:
            fp = fingerprints[name] = platform.job_fingerprint(job)
        except PublishError as exc:
            errors.append(str(exc))
            continue
        last = state.jobs.get(name) if state else None
        forced = f"job.{name}" in options.replace
        reuse = last is not None and last.fingerprint == fp and not forced
        if last is not None and (reuse or f"job.{name}" not in scope):
            schema = ResultSchema.from_json(last.schema) if last.schema else None
            job_runs[name] = (last.run_id, schema, last.rows, False)
            continue
        if f"job.{name}" not in scope:
            continue
        if forced:
            schedule_run(name, "--replace: run again")
        elif last is None:
            schedule_run(name, "no successful run yet")
        else:
            schedule_run(
                name,
                f"the job's definition or inputs changed ({last.fingerprint[:12]} -> {fp[:12]})",
            )

    # --- targets: what needs publishing ----------------------------------------------
    def wanted_targets() -> list[tuple[Target, str, str]]:
        wanted: list[tuple[Target, str, str]] = []  # target, run id, reason
        for name, target in sorted(spec.targets.items()):
            if f"target.{name}" not in scope or target.job not in job_runs:
                continue
            run_id, _schema, _rows, runs_now = job_runs[target.job]
            pub = state.publications.get(name) if state else None
            ref_name = str(table_ref(target))
            if runs_now:
                reason = f"job.{target.job} runs again"
            elif f"target.{name}" in options.replace:
                reason = "--replace: publish the current results again"
            elif pub is None:
                reason = "not published yet"
            elif pub.run_id != run_id:
                reason = f"the results of run {run_id} are not published yet"
            elif pub.table != ref_name:
                reason = f"the table changed from {pub.table} to {ref_name}"
            else:
                if pub.action != target.action:
                    settings.append((target, pub.action))
                continue
            wanted.append((target, run_id, reason))
        return wanted

    settings: list[tuple[Target, str]] = []  # targets whose action changed, results in place
    wanted = wanted_targets()
    # a reused run whose result files are gone (a fresh CI runner) must run again
    missing = set()
    for target, _run_id, _ in wanted:
        last_run = state.jobs.get(target.job) if state else None
        if last_run is None or job_runs[target.job][3]:
            continue
        if not platform.has_results(last_run, target.inputFormat):
            missing.add(target.job)
    for name in sorted(missing):
        if f"job.{name}" in scope:
            schedule_run(name, f"the results of run {job_runs[name][0]} are not on this machine")
        else:
            errors.append(
                f"job.{name}: the results of its run {job_runs[name][0]} are not on this machine "
                f"and the job is excluded; include it, or run `publish plan --replace job.{name}`"
            )
    if missing:
        settings.clear()
        wanted = wanted_targets()
    for target, before in settings:
        changes.append(
            Change(
                target.address,
                "update",
                f"the action changed from {before} to {target.action}; the table already holds "
                f"the latest results of job.{target.job}, so nothing is published now: the new "
                f"action applies from the job's next run (`--replace {target.address}` publishes "
                "the current results with it now)",
                details={"action": {"from": before, "to": target.action}},
            )
        )

    # two targets replacing or merging into one table would overwrite each other
    by_table: dict[TableRef, list[Target]] = defaultdict(list)
    for target in spec.targets.values():
        by_table[table_ref(target)].append(target)
    for ref, targets in sorted(by_table.items()):
        if len(targets) > 1 and any(t.action not in ("load", "createAndLoad") for t in targets):
            names = " and ".join(sorted(t.address for t in targets))
            errors.append(
                f"{names} all publish to {ref}; only appending actions (load, createAndLoad) "
                "can share a table: give each target its own table"
            )

    # --- describe every table once per connection -----------------------------------
    infos: dict[TableRef, TableInfo | None] = {}
    described: set[str] = set()
    refs_by_conn: dict[str, set[TableRef]] = defaultdict(set)
    for target, _, _ in wanted:
        refs_by_conn[target.connection].add(table_ref(target))
    if options.refresh and state:
        for name in state.publications:
            t = spec.targets.get(name)
            if t is not None and f"target.{name}" in scope:
                refs_by_conn[t.connection].add(table_ref(t))
    for conn_name, refs in sorted(refs_by_conn.items()):
        conn = spec.connections[conn_name]
        if conn.vendor is None:  # adopted trifacta connection: no credentials to look
            continue
        try:
            infos.update(pool.get(conn).describe(sorted(refs)))
            described.add(conn_name)
        except PublishError as exc:
            if spec.platform.type == "local":
                errors.append(f"connection.{conn_name}: cannot describe its tables: {exc}")

    # --- publications -----------------------------------------------------------------
    for target, run_id, reason in wanted:
        _, schema, rows, runs_now = job_runs[target.job]
        ref = table_ref(target)
        conn = spec.connections[target.connection]
        known = target.connection in described
        info = infos.get(ref) if known else None
        tgt = pool.get(conn) if known else None
        out = outcome(
            address=target.address,
            action=target.action,
            table_name=str(ref),
            table=info,
            results=schema,
            target=tgt,
            key=target.key,
            incoming=rows,
        )
        if not known:
            out = type(out)(
                f"{target.action} into {ref} (table not inspected: no database "
                "credentials in the spec)",
                out.destructive,
                (),
                out.error,
            )
        if out.error:
            errors.append(out.error)
            continue
        if out.destructive and target.protect and not options.allow_destructive:
            errors.append(
                f"{target.address} is protected and this publish is destructive ({out.consequence}); "
                "run with --allow-destructive to allow it, or change the action"
            )
        depends = []
        if runs_now:
            depends.append(f"job.{target.job}")
        if target.connection in conn_changes:
            depends.append(f"connection.{target.connection}")
        changes.append(
            Change(
                target.address,
                "publish",
                reason,
                depends_on=tuple(depends),
                publishAction=target.action,
                table=str(ref),
                destructive=out.destructive,
                rows_existing=info.rows if info else None,
                rows_estimated=info.rows_estimated if info else False,
                rows_incoming=rows,
                schemaDiff=out.diff,
                consequence=out.consequence,
                run_id=run_id,
                api_calls=_calls(
                    platform.publish_calls(target, conn, connection_id=_remote_id(state, conn))
                ),
                # a forced publish of results already in the table gets its own ledger id
                details={
                    **(
                        {"publication_id": f"{run_id}.{state.serial if state else 0}"}
                        if reason.startswith("--replace")
                        else {}
                    ),
                    **({} if known else {"inspected": False}),
                },
            )
        )

    # --- forget what left the spec ---------------------------------------------------------
    if state:
        for addr in state.addresses():
            kind, _, name = addr.partition(".")
            present = {"connection": spec.connections, "job": spec.jobs, "target": spec.targets}[
                kind
            ]
            if name not in present and addr in scope:
                changes.append(
                    Change(
                        addr,
                        "delete",
                        "removed from the spec: forget it (tables and their rows stay as they are)",
                    )
                )

    if errors:
        raise PlanError(errors)

    drift = (
        _drift(spec, state, infos, described, scope, {c.address for c in changes})
        if options.refresh
        else []
    )
    return Plan(
        spec_name=spec.name,
        spec_path=options.spec_path or str(spec.file),
        spec_sha256=spec.sha256,
        rendered_sha256=spec.rendered_sha256,
        environment=spec.environment,
        lineage=state.lineage if state else None,
        serial=state.serial if state else 0,
        changes=tuple(_ordered(changes)),
        drift=tuple(drift),
        options={
            **dict(options.load),
            "select": list(options.select),
            "exclude": list(options.exclude),
            "replace": list(options.replace),
            "allow_destructive": options.allow_destructive,
            "refresh": options.refresh,
        },
        pulled_in=tuple(pulled),
    )


def _remote_id(state: State | None, conn: Connection) -> int | None:
    return state.remote_id(conn.name, conn.id) if state else conn.id


def _riding(
    spec: Spec, state: State | None, job: str
) -> tuple[tuple[Target, Connection, int | None], ...]:
    """The ``via: overrides`` targets that ride on a run of ``job``, with connection ids."""
    return tuple(
        (t, spec.connections[t.connection], _remote_id(state, spec.connections[t.connection]))
        for t in spec.override_targets(job)
    )


def _check_connections(
    spec: Spec, state: State | None, platform: Platform, scope: set[str]
) -> list[str]:
    """Test each connection in scope; a platform without a remote test has nothing to add."""
    check = getattr(platform, "check_connection", None)
    if check is None:
        return []
    problems = []
    for name, conn in sorted(spec.connections.items()):
        if f"connection.{name}" in scope:
            record = state.connections.get(name) if state else None
            problem = check(conn, record.remote_id if record else None)
            if problem:
                problems.append(str(problem))
    return problems


def _calls(calls: Iterable[Any]) -> tuple[Mapping[str, Any], ...]:
    return tuple(c.to_json() for c in calls)


_ORDER = {"connection": 0, "job": 1, "target": 2}


def _ordered(changes: list[Change]) -> list[Change]:
    """Dependency order: connections, jobs, publications; by address within each."""
    return sorted(changes, key=lambda c: (_ORDER[c.kind], c.address))


def _columns(info: TableInfo) -> list[list[str]]:
    return [[c.name, c.sql_type] for c in info.columns]


def _drift(
    spec: Spec,
    state: State | None,
    infos: Mapping[TableRef, TableInfo | None],
    described: set[str],
    scope: set[str],
    changing: set[str],
) -> list[Drift]:
    """Differences between what state recorded publishing and what the tables hold now."""
    if state is None:
        return []
    out: list[Drift] = []
    for name, pub in sorted(state.publications.items()):
        target = spec.targets.get(name)
        if target is None or target.address not in scope or target.connection not in described:
            continue
        tref = table_ref(target)
        if str(tref) != pub.table:
            continue
        info = infos.get(tref)
        hint = (
            ""
            if target.address in changing
            else f"; `publish plan --replace {target.address}` publishes it again"
        )
        if info is None:
            out.append(
                Drift(
                    target.address,
                    "table_dropped",
                    f"{pub.table} was dropped outside publish{hint}",
                    pub.rows_after,
                    None,
                )
            )
        elif not pub.columns:
            continue  # published through an API that reports no columns or rows (trifacta)
        elif _columns(info) != [list(c) for c in pub.columns]:
            out.append(
                Drift(
                    target.address,
                    "columns_changed",
                    f"the columns of {pub.table} changed outside publish{hint}",
                    pub.columns,
                    _columns(info),
                )
            )
        elif not info.rows_estimated and info.rows != pub.rows_after:
            out.append(
                Drift(
                    target.address,
                    "rows_changed",
                    f"{pub.table} holds {info.rows:,} rows, {pub.rows_after:,} when publish "
                    f"last wrote it{hint}",
                    pub.rows_after,
                    info.rows,
                )
            )
    return out
