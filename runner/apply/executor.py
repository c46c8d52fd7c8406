"""The executor: runs a Plan's changes exactly, in dependency order, never deciding anything.

Steps whose dependencies finished run in parallel (``--parallelism``). Each finished
step is written to state at once (the journal), so an interrupted or failed apply
keeps what it did and a rerun continues where it stopped. A failed step stops its
dependents (reported as skipped). Ctrl-C sets ``cancel``: running steps stop at their
next safe point (database loads roll back, remote jobs are canceled), nothing new starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from runner.apply.gate import check_previewed, job_checks, publication_checks
from runner.apply.journal import Journal, now
from runner.crash import write_crash_log
from runner.errors import PublishError
from runner.plan import words
from runner.plan.model import Change, Plan
from runner.plan.words import plural
from runner.platforms.base import JobRun, Platform
from runner.results import ResultSchema, ResultSet
from runner.spec.model import Spec
from runner.spec.secrets import redact
from runner.state.model import ConnectionRecord, JobRunRecord, PublicationRecord

StepStatus = Literal["done", "failed", "skipped"]


@dataclass(frozen=True)
class StepResult:
    address: str
    action: str
    status: StepStatus
    message: str
    seconds: float = 0.0
    bug: bool = False  # failed with an unexpected exception (a crash log was written)
    #: failed for a reason that says nothing about the spec or data (lost connection,
    #: deadlock, server error after retries): running again may succeed
    transient: bool = False


@dataclass(frozen=True)
class ApplyReport:
    steps: tuple[StepResult, ...]
    interrupted: bool = False

    def by_status(self, status: StepStatus) -> list[StepResult]:
        return [s for s in self.steps if s.status == status]

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(s.status == "done" for s in self.steps)


class Events:
    """What the executor tells the user; the CLI supplies a printing implementation."""

    def started(self, change: Change) -> None: ...
    def progress(self, change: Change, rows: int, total: int | None = None) -> None: ...
    def note(self, change: Change, message: str) -> None: ...
    def finished(self, result: StepResult) -> None: ...


def _job_run_from(record: JobRunRecord, state_dir: Path) -> JobRun:
    return JobRun(
        job=record.job,
        run_id=record.run_id,
        fingerprint=record.fingerprint,
        results={k: ResultSet.from_json(v, state_dir) for k, v in record.results.items()},
        rows=record.rows,
        schema=ResultSchema.from_json(record.schema) if record.schema else None,
        remote_id=record.remote_id,
    )


class Executor:
    def __init__(
        self,
        plan: Plan,
        spec: Spec,
        journal: Journal,
        platform: Platform,
        state_dir: Path,
        *,
        parallelism: int = 4,
        cancel: threading.Event | None = None,
        events: Events | None = None,
    ) -> None:
        self.plan = plan
        self.spec = spec
        self.journal = journal
        self.platform = platform
        self.state_dir = state_dir
        self.parallelism = max(1, parallelism)
        self.cancel = cancel or threading.Event()
        self.events = events or Events()
        self.planned = frozenset(c.address for c in plan.changes)
        #: failing checks let through (--skip-check at plan time, recorded in the plan)
        self.skip_checks = tuple(plan.options.get("skip_checks", ()))

    # --- one step ---------------------------------------------------------------------
    def _run(self, change: Change) -> str:
        kind = change.kind
        if change.action in ("forget", "delete"):
            self.journal.record(lambda s: s.without(change.address).without_failure(change.address))
            return "forgotten"
        if kind == "connection":
            return self._connection(change)
        if kind == "job":
            return self._job(change)
        if kind == "target" and change.action == "update":
            return self._target_settings(change)
        if kind == "target":
            return self._publish(change)
        raise AssertionError(f"unknown step {change.address}")  # pragma: no cover

    def _connection(self, change: Change) -> str:
        conn = self.spec.connections[change.name]
        record = self.journal.state.connections.get(change.name)
        result = self.platform.ensure_connection(conn, record.remote_id if record else conn.id)
        rec = ConnectionRecord(
            name=conn.name,
            fingerprint=change.fingerprint or "",
            remote_id=result.remote_id if result.remote_id is not None else conn.id,
            vendor=conn.vendor,
        )
        self.journal.record(lambda s: s.with_connection(rec).without_failure(change.address))
        verb = "adopted" if conn.adopted and change.action == "create" else f"{change.action}d"
        return verb + (f" (id {rec.remote_id})" if rec.remote_id is not None else "")

    def _job(self, change: Change) -> str:
        job = self.spec.jobs[change.name]
        assert change.run_id is not None and change.fingerprint is not None
        now_fp = self.platform.job_fingerprint(job)
        if now_fp != change.fingerprint:
            raise PublishError(
                f"{change.address}: its inputs or definition changed since the plan was made "
                f"({change.fingerprint[:12]} -> {now_fp[:12]}); nothing was run. Plan again to "
                "see what the new data does to the tables"
            )
        state = self.journal.state
        riding = [
            (t, conn, state.remote_id(conn.name, conn.id))
            for t in self.spec.override_targets(job.name)
            if t.address in self.planned
            for conn in (self.spec.connections[t.connection],)
        ]
        run = self.platform.run_job(
            job,
            change.run_id,
            change.fingerprint,
            self.cancel,
            lambda message: self.events.note(change, message),
            publications=tuple(riding),
        )
        check_previewed(change, run)
        skipped = job_checks(self.spec, job, run, self.skip_checks)
        record = JobRunRecord(
            job=job.name,
            run_id=run.run_id,
            fingerprint=run.fingerprint,
            finished_at=now(),
            rows=run.rows,
            schema=run.schema.to_json() if run.schema else None,
            results={k: v.to_json(self.state_dir) for k, v in run.results.items()},
            remote_id=run.remote_id,
            skipped_checks=skipped,
        )
        self.journal.record(lambda s: s.with_job(record).without_failure(change.address))
        rows = plural(run.rows, "row") if run.rows is not None else "finished"
        if run.details.get("previewed"):
            rows += " (the results previewed at plan; the job did not run again)"
        return f"run {run.run_id}: {rows}"

    def _target_settings(self, change: Change) -> str:
        """Record a target's new action; its table already holds the latest results."""
        target = self.spec.targets[change.name]
        record = self.journal.state.publications.get(change.name)
        if record is None:
            raise PublishError(f"{change.address}: not in state any more; plan again")
        updated = dataclasses.replace(record, action=target.action)
        self.journal.record(lambda s: s.with_publication(updated).without_failure(change.address))
        return f"action recorded as {target.action}; the table was not touched"

    def _publish(self, change: Change) -> str:
        target = self.spec.targets[change.name]
        state = self.journal.state
        record = state.jobs.get(target.job)
        if record is None or record.run_id != change.run_id:
            raise PublishError(
                f"{change.address}: the plan publishes run {change.run_id} of job.{target.job}, "
                f"but state holds run {record.run_id if record else 'none'}; plan again"
            )
        run = _job_run_from(record, self.state_dir)
        publication_id = change.details.get("publication_id")
        if publication_id:  # --replace target: publish the same results under a new ledger id
            run = dataclasses.replace(run, run_id=str(publication_id))
        skipped = publication_checks(self.spec, self.plan, change, target, run, self.skip_checks)
        started = time.monotonic()
        result = self.platform.publish(
            target,
            self.spec.connections[target.connection],
            run,
            self.cancel,
            lambda rows: self.events.progress(change, rows, run.rows),
            connection_id=state.remote_id(target.connection),
        )
        seconds = time.monotonic() - started
        pub = PublicationRecord(
            target=target.name,
            run_id=record.run_id,
            table=result.table or change.table or "",
            action=target.action,
            rows_loaded=result.rows_loaded,
            rows_after=result.rows_after,
            columns=[[c.name, c.sql_type] for c in result.columns],
            published_at=now(),
            skipped_checks=skipped,
        )
        self.journal.record(lambda s: s.with_publication(pub).without_failure(change.address))
        if not result.columns and not result.rows_loaded and not result.already_published:
            return (
                f"{target.action}: published {pub.table} through the platform (run {record.run_id})"
            )
        if result.already_published:
            where = (
                "the table's ledger"
                if self.spec.platform.type != "trifacta"
                else "the job group's publications"
            )
            return f"already published run {record.run_id} (found in {where}); recorded"
        # over the load alone: a wait for the table's lock is not loading (0 rows/s)
        loading = result.load_seconds or seconds
        rate = (
            f", {words.rate(result.rows_loaded, loading)}"
            if loading >= 0.5 and result.rows_loaded
            else ""
        )
        loaded = plural(result.rows_loaded, "row")
        return f"{target.action}: {loaded} loaded, {result.rows_after:,} in the table{rate}"

    def _step(self, change: Change) -> StepResult:
        self.events.started(change)
        started = time.monotonic()
        try:
            if self.cancel.is_set():
                return StepResult(change.address, change.action, "skipped", "interrupted")
            message = self._run(change)
        except PublishError as exc:
            message = redact(str(exc))
            self._record_failure(change, message)
            # the step is shown under its address already: not "job.x: job.x: ..."
            message = message.removeprefix(f"{change.address}: ")
            transient = bool(getattr(exc, "transient", False))
            return StepResult(
                change.address,
                change.action,
                "failed",
                message,
                time.monotonic() - started,
                transient=transient,
            )
        except Exception as exc:  # a bug: log it, keep the other steps going, report it
            path = write_crash_log(exc)
            where = f"traceback in {path}" if path else "no crash log could be written"
            message = redact(
                f"internal error (a bug in publish): {type(exc).__name__}: {exc}; {where}"
            )
            self._record_failure(change, message)
            elapsed = time.monotonic() - started
            return StepResult(change.address, change.action, "failed", message, elapsed, bug=True)
        return StepResult(
            change.address, change.action, "done", message, time.monotonic() - started
        )

    def _record_failure(self, change: Change, message: str) -> None:
        with contextlib.suppress(PublishError):  # the step's own error is what the user needs
            self.journal.record(
                lambda s: s.with_failure(change.address, change.run_id, message, now())
            )

    # --- the whole plan --------------------------------------------------------------------
    def run(self) -> ApplyReport:
        changes = {c.address: c for c in self.plan.changes}
        pending = dict(changes)
        results: dict[str, StepResult] = {}
        running: dict[Future[StepResult], str] = {}

        def blocked_by(change: Change) -> str | None:
            for dep in change.depends_on:
                r = results.get(dep)
                if r is not None and r.status != "done":
                    return dep
            return None

        def ready(change: Change) -> bool:
            return all(
                d not in changes or (d in results and results[d].status == "done")
                for d in change.depends_on
            )

        with ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="apply") as pool:
            while pending or running:
                # skip what can no longer run
                for addr, change in list(pending.items()):
                    dep = blocked_by(change)
                    if dep is not None or self.cancel.is_set():
                        why = f"{dep} did not finish" if dep else "interrupted"
                        results[addr] = StepResult(addr, change.action, "skipped", why)
                        self.events.finished(results[addr])
                        del pending[addr]
                for addr, change in list(pending.items()):
                    if len(running) >= self.parallelism:
                        break
                    if ready(change):
                        running[pool.submit(self._step, change)] = addr
                        del pending[addr]
                if not running:
                    if pending:  # pragma: no cover - cycles cannot be planned
                        raise AssertionError(f"steps cannot start: {sorted(pending)}")
                    break
                done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in done:
                    addr = running.pop(fut)
                    results[addr] = fut.result()
                    self.events.finished(results[addr])
        ordered = tuple(results[c.address] for c in self.plan.changes if c.address in results)
        return ApplyReport(ordered, interrupted=self.cancel.is_set())
