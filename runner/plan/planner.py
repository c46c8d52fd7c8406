"""The planner: Spec x State x what the platform and the targets report now -> Plan.

The planner never writes: it reads state, asks the platform read-only questions
(fingerprints, result schemas) and describes target tables (one catalog query per
schema). Every problem it finds is collected and raised at once as a PlanError before
anything runs.

:class:`Planner` builds a plan in stages, each a method returning a named dataclass the
next one takes (:mod:`runner.plan.stages`): scope -> connections -> jobs -> targets ->
describe -> publications -> forget -> drift.

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

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from runner.errors import PlanError, PublishError
from runner.plan import calls as remote
from runner.plan import scope as scoping
from runner.plan.calls import remote_id, riding, shown_calls
from runner.plan.drift import published_drift
from runner.plan.model import Change, Drift, Plan, in_dependency_order
from runner.plan.options import PlanOptions, table_ref
from runner.plan.outcomes import publication_outcome
from runner.plan.preview_stage import Previewer
from runner.plan.problems import locate
from runner.plan.replan import input_hashes
from runner.plan.schema_stage import missing_schemas, with_schema_steps
from runner.plan.stages import (
    ActionChange,
    ConnectionChanges,
    Described,
    JobRunPlan,
    Jobs,
    Publication,
    Scope,
    TargetSource,
    Wanted,
)
from runner.platforms.base import Platform
from runner.results import ResultSchema
from runner.spec.model import Spec
from runner.state.model import State
from runner.targets.base import TableInfo, TableRef
from runner.targets.names import name_problems
from runner.targets.registry import dialect_for

__all__ = ["PlanOptions", "Planner", "TargetSource", "make_plan"]


def make_plan(
    spec: Spec,
    state: State | None,
    platform: Platform,
    pool: TargetSource,
    options: PlanOptions,
) -> Plan:
    """Plan what apply must do to bring every target to the spec; raise PlanError on problems."""
    return Planner(spec, state, platform, pool, options).build()


class Planner:
    """Builds one Plan; make a new Planner for each plan."""

    def __init__(
        self,
        spec: Spec,
        state: State | None,
        platform: Platform,
        pool: TargetSource,
        options: PlanOptions,
    ) -> None:
        self.spec = spec
        self.state = state
        self.platform = platform
        self.pool = pool
        self.options = options
        self.problems: list[str] = []
        self.previewer = Previewer(spec, state, platform, pool, options, self.problems)

    def build(self) -> Plan:
        scope = self.scope()
        self._problems(self.platform.check(self.spec))
        connections = self.connections(scope)
        if self.options.check_connections:
            self._problems(self.check_connections(scope))
        wanted = self.targets(scope, self.jobs(scope))
        if self.options.check_jobs:
            self.problems += remote.job_problems(self.platform, self.spec, wanted.jobs.running)
        described = self.describe(scope, wanted)
        changes = [
            *connections.changes.values(),
            *wanted.jobs.changes,
            *(a.change() for a in wanted.action_changes),
            *self.publications(wanted, described, connections),
            *self.forget(scope),
        ]
        if self.problems:
            raise PlanError(self.problems)
        drift = self.drift(scope, described, {c.address for c in changes})
        changes = with_schema_steps(self.spec, in_dependency_order(changes), described)
        return self._plan(scope, changes, drift)

    def _problem(self, message: str, field: str | None = None) -> None:
        """Collect a problem, placed at the spec position of the object (or field) it names."""
        self.problems.append(locate(self.spec, message, field))

    def _problems(self, messages: Iterable[str], field: str | None = None) -> None:
        for message in messages:
            self._problem(message, field)

    # --- scope ----------------------------------------------------------------------------
    def scope(self) -> Scope:
        """The addresses to plan; --select pulls in what a selected target needs."""
        self.problems += scoping.address_errors(self.spec, self.state, self.options)  # flags
        return scoping.resolve(self.spec, self.state, self.options)

    # --- connections ------------------------------------------------------------------------
    def connections(self, scope: Scope) -> ConnectionChanges:
        changes: dict[str, Change] = {}
        for name, conn in sorted(self.spec.connections.items()):
            if f"connection.{name}" not in scope:
                continue
            fp = self.platform.connection_fingerprint(conn)
            record = self.state.connections.get(name) if self.state else None
            if record is None:
                reason = (
                    "adopt the connection made in the application"
                    if conn.adopted
                    else "new connection"
                )
                calls = self.platform.connection_calls(conn, None)
                changes[name] = Change(
                    conn.address, "create", reason, fingerprint=fp, api_calls=shown_calls(calls)
                )
            elif record.fingerprint != fp:
                calls = self.platform.connection_calls(conn, record.remote_id)
                changes[name] = Change(
                    conn.address,
                    "update",
                    remote.update_reason(self.platform, conn, record.remote_id),
                    fingerprint=fp,
                    api_calls=shown_calls(calls),
                )
        return ConnectionChanges(changes)

    def check_connections(self, scope: Scope) -> list[str]:
        """Test each connection in scope (``--check-connections``)."""
        problems = []
        for name, conn in sorted(self.spec.connections.items()):
            if f"connection.{name}" in scope:
                record = self.state.connections.get(name) if self.state else None
                problem = self.platform.check_connection(conn, record.remote_id if record else None)
                if problem:
                    problems.append(str(problem))
        return problems

    # --- jobs -------------------------------------------------------------------------------
    def jobs(self, scope: Scope) -> Jobs:
        """The run each job's targets publish: the recorded one, or a new run of this plan."""
        runs: dict[str, JobRunPlan] = {}
        fingerprints: dict[str, str] = {}
        for name, job in sorted(self.spec.jobs.items()):
            try:
                fp = fingerprints[name] = self.platform.job_fingerprint(job)
            except PublishError as exc:
                self._problem(str(exc), field="inputs")
                continue
            last = self.state.jobs.get(name) if self.state else None
            forced = job.address in self.options.replace
            reuse = last is not None and last.fingerprint == fp and not forced
            if last is not None and (reuse or job.address not in scope):
                schema = ResultSchema.from_json(last.schema) if last.schema else None
                runs[name] = JobRunPlan(name, last.run_id, schema, last.rows, runs_now=False)
                continue
            if job.address not in scope:
                continue
            if forced:
                reason = "--replace: run again"
            elif last is None:
                reason = "no successful run yet"
            else:
                reason = (
                    f"the job's definition or inputs changed ({last.fingerprint[:12]} -> {fp[:12]})"
                )
            run = self._new_run(name, fp, reason)
            if run is not None:
                runs[name] = run
        return Jobs(runs, fingerprints)

    def _new_run(self, name: str, fingerprint: str, reason: str) -> JobRunPlan | None:
        """A run of ``name`` in this plan, or None (with a problem) when its schema is unknowable."""
        job = self.spec.jobs[name]
        try:
            schema = self.platform.result_schema(job)
        except PublishError as exc:
            self._problem(str(exc), field="recipe")
            return None
        run_id = remote.run_id(self.spec, self.state, name, fingerprint)
        riders = riding(self.spec, self.state, name)
        preview = self.previewer.job(job, fingerprint, schema)
        change = Change(
            job.address,
            "run",
            reason,
            depends_on=remote.rider_connections(riders),
            run_id=run_id,
            fingerprint=fingerprint,
            api_calls=shown_calls(self.platform.job_calls(job, run_id, publications=riders)),
            details=remote.run_details(self.platform, job, riders, schema),
            **preview.change_fields(),
        )
        return JobRunPlan(name, run_id, schema, preview.rows, runs_now=True, change=change)

    # --- targets ----------------------------------------------------------------------------
    def targets(self, scope: Scope, jobs: Jobs) -> Wanted:
        """The targets to publish; a reused run whose result files are gone runs again."""
        wanted = self._wanted(scope, jobs)
        missing = sorted(
            {p.target.job for p in wanted.publications if not self._results_here(p, jobs)}
        )
        for name in missing:
            recorded = jobs.runs[name].run_id
            if f"job.{name}" in scope:
                reason = remote.rerun_reason(self.spec, name, recorded)
                run = self._new_run(name, jobs.fingerprints[name], reason)
                if run is not None:
                    jobs = jobs.with_run(run)
            else:
                self._problem(
                    f"job.{name}: the results of its run {recorded} are not on this machine "
                    f"and the job is excluded; include it, or run `publish plan --replace job.{name}`"
                )
        if missing:
            wanted = self._wanted(scope, jobs)
        self._problems(scoping.shared_table_problems(self.spec), field="table")
        return wanted

    def _ran(self, job: str) -> bool:
        """Whether state records a run of ``job`` (a new run is its first otherwise)."""
        return self.state is not None and job in self.state.jobs

    def _results_here(self, publication: Publication, jobs: Jobs) -> bool:
        target = publication.target
        last_run = self.state.jobs.get(target.job) if self.state else None
        if last_run is None or jobs.runs[target.job].runs_now:
            return True
        if remote.rides_on_run(self.spec, target):
            return False
        return self.platform.has_results(last_run, target.input_format)

    def _wanted(self, scope: Scope, jobs: Jobs) -> Wanted:
        publications: list[Publication] = []
        action_changes: list[ActionChange] = []
        for name, target in sorted(self.spec.targets.items()):
            if target.address not in scope or target.job not in jobs.runs:
                continue
            run = jobs.runs[target.job]
            pub = self.state.publications.get(name) if self.state else None
            ref_name = str(table_ref(target))
            if run.runs_now:
                reason = f"job.{target.job} {'runs again' if self._ran(target.job) else 'runs'}"
            elif target.address in self.options.replace:
                reason = "--replace: publish the current results again"
            elif pub is None:
                reason = "not published yet"
            elif pub.run_id != run.run_id:
                reason = f"the results of run {run.run_id} are not published yet"
            elif not remote.same_table(self.platform, target, pub.table, ref_name):
                reason = f"the table changed from {pub.table} to {ref_name}"
            else:
                if pub.action != target.action:
                    action_changes.append(ActionChange(target, pub.action))
                continue
            publications.append(Publication(target, run.run_id, reason))
        return Wanted(jobs, tuple(publications), tuple(action_changes))

    # --- describe ---------------------------------------------------------------------------
    def describe(self, scope: Scope, wanted: Wanted) -> Described:
        """Describe every table to publish (and, with refresh, every published one) once."""
        refs_by_conn: dict[str, set[TableRef]] = defaultdict(set)
        for p in wanted.publications:
            refs_by_conn[p.target.connection].add(table_ref(p.target))
        publishing = {name: set(refs) for name, refs in refs_by_conn.items()}
        if self.options.refresh and self.state:
            for name in self.state.publications:
                t = self.spec.targets.get(name)
                if t is not None and t.address in scope:
                    refs_by_conn[t.connection].add(table_ref(t))
        tables: dict[TableRef, TableInfo | None] = {}
        described: set[str] = set()
        for conn_name, refs in sorted(refs_by_conn.items()):
            conn = self.spec.connections[conn_name]
            if conn.vendor is None:  # adopted trifacta connection: no credentials to look
                continue
            try:
                tables.update(self.pool.get(conn).describe(sorted(refs)))
                described.add(conn_name)
            except PublishError as exc:
                if self.spec.platform.type != "trifacta":  # publish loads it itself
                    self._problem(f"connection.{conn_name}: cannot describe its tables: {exc}")
        missing = missing_schemas(self.spec, self.pool, publishing, described, self._problem)
        return Described(tables, frozenset(described), missing)

    # --- publications -----------------------------------------------------------------------
    def publications(
        self, wanted: Wanted, described: Described, connections: ConnectionChanges
    ) -> list[Change]:
        changes = []
        for publication in wanted.publications:
            change = self._publication(publication, wanted.jobs, described, connections)
            if change is not None:
                changes.append(change)
        return changes

    def _publication(
        self,
        publication: Publication,
        jobs: Jobs,
        described: Described,
        connections: ConnectionChanges,
    ) -> Change | None:
        target, run_id, reason = publication.target, publication.run_id, publication.reason
        run = jobs.runs[target.job]
        ref = table_ref(target)
        conn = self.spec.connections[target.connection]
        known = target.connection in described.connections
        info = described.tables.get(ref) if known else None
        forced = target.address in self.options.replace
        out = publication_outcome(
            self.spec, self.pool, self.platform, target, run, info if known else None, known, forced
        )
        names = name_problems(
            dialect_for(conn.vendor),
            target.table,
            run.schema,
            target.key,
            creates_key=known and info is None and target.action == "upsert",
        )
        if names:
            self._problems(f"{target.address}: {p}" for p in names)
            return None
        if out.error:
            self._problem(out.error, field=out.error_field)
            return None
        if out.destructive and target.protect and not self.options.allow_destructive:
            self._problem(
                f"{target.address} is protected and this publish is destructive ({out.consequence}); "
                "run with --allow-destructive to allow it, or change the action"
            )
        depends = [f"job.{target.job}"] if run.runs_now else []
        if target.connection in connections.changes:
            depends.append(conn.address)
        details: dict[str, Any] = {}
        if reason.startswith("--replace"):  # results already in the table get their own ledger id
            details["publication_id"] = f"{run_id}.{self.state.serial if self.state else 0}"
        if not known:
            details["inspected"] = False
        if out.ledger is not None:  # apply records it: the table holds this run already
            details["ledger"] = {"run_id": run_id, "rows": out.ledger}
            reason = "state does not record this publish but the table's ledger does"
        publish = Change(
            target.address,
            "publish",
            reason,
            depends_on=tuple(depends),
            publish_action=target.action,
            table=str(ref),
            destructive=out.destructive,
            rows_existing=info.rows if info else None,
            rows_estimated=info.rows_estimated if info else False,
            rows_incoming=run.rows,
            schema_diff=out.diff,
            alter=out.alter,
            consequence=out.consequence,
            run_id=run_id,
            api_calls=shown_calls(
                self.platform.publish_calls(target, conn, connection_id=remote_id(self.state, conn))
            ),
            details=details,
        )
        if out.ledger is not None:
            return publish  # no rows move: no row diff, no checks on rows
        return self.previewer.publication(publish, target, info, known)

    # --- forget -----------------------------------------------------------------------------
    def forget(self, scope: Scope) -> list[Change]:
        """Objects in state that left the spec: forgotten; their tables stay as they are."""
        if self.state is None:
            return []
        present = {
            "connection": self.spec.connections,
            "job": self.spec.jobs,
            "target": self.spec.targets,
        }
        return [
            Change(
                addr,
                "forget",
                "removed from the spec: forget it (tables and their rows stay as they are)",
            )
            for addr in self.state.addresses()
            if addr.partition(".")[2] not in present[addr.partition(".")[0]] and addr in scope
        ]

    # --- drift ------------------------------------------------------------------------------
    def drift(self, scope: Scope, described: Described, changing: set[str]) -> list[Drift]:
        """What the published tables hold now against what state recorded publishing."""
        if not self.options.refresh or self.state is None:
            return []
        return published_drift(self.spec, self.state, scope, described, changing)

    # --- the plan ---------------------------------------------------------------------------
    def _plan(self, scope: Scope, changes: list[Change], drift: list[Drift]) -> Plan:
        options, state = self.options, self.state
        return Plan(
            spec_name=self.spec.name,
            spec_path=options.spec_path or str(self.spec.file),
            spec_sha256=self.spec.sha256,
            rendered_sha256=self.spec.rendered_sha256,
            environment=self.spec.environment,
            lineage=state.lineage if state else None,
            serial=state.serial if state else 0,
            changes=in_dependency_order(changes),
            drift=tuple(drift),
            options={
                **dict(options.load),
                "select": list(options.select),
                "exclude": list(options.exclude),
                "replace": list(options.replace),
                "allow_destructive": options.allow_destructive,
                "refresh": options.refresh,
                **self.previewer.settings.to_json(),
                "inputs": input_hashes(self.spec, changes),
            },
            pulled_in=scope.pulled_in,
        )
