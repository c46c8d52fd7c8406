"""The planner's preview stage: exact rows, row diffs and checks from previewed results.

A platform that can run a job without side effects (local) offers ``preview(job,
fingerprint)``; its results give the plan exact incoming rows, the row-level diff per
target (:mod:`runner.rowdiff`) and the checks (:mod:`runner.checks`). Results of a run
recorded in state that are still on this machine serve the same purpose for targets
that publish them. A blocking check is a plan problem at the check's position.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl

from runner.checks.evaluate import CheckContext, evaluate_results, evaluate_row_change
from runner.checks.model import CheckResult
from runner.errors import PublishError
from runner.plan.model import Change
from runner.plan.options import PlanOptions
from runner.plan.problems import locate
from runner.plan.table_rules import append_problems, constraint_problems
from runner.plan.upsert_keys import key_problems, upsert_table_problem
from runner.platforms.local.preview import TRIFACTA_REASON
from runner.results import ResultSchema, ResultSet, iter_frames, normalise_format
from runner.rowdiff.engine import DiffOptions, diff_table
from runner.rowdiff.model import RowDiff
from runner.spec.model import Checks, Connection, Job, Spec, Target
from runner.spec.secrets import redact
from runner.state.model import State
from runner.targets.base import TableInfo, TableTarget
from runner.targets.frames import refused_in
from runner.targets.registry import dialect_for


class _Targets(Protocol):
    def get(self, connection: Connection) -> TableTarget: ...


@dataclass(frozen=True)
class PreviewSettings:
    enabled: bool = True  # --no-preview turns it off
    samples: int = 5  # --diff-samples
    rows_limit: int = 2_000_000  # --diff-rows-limit
    skip_checks: tuple[str, ...] = ()  # --skip-check ADDRESS.NAME

    @classmethod
    def of(cls, options: PlanOptions) -> PreviewSettings:
        return cls(
            options.preview, options.diff_samples, options.diff_rows_limit, options.skip_checks
        )

    def to_json(self) -> dict[str, Any]:
        """What a plan records in its options (apply of a saved plan uses the same)."""
        return {
            "preview": self.enabled,
            "diff_samples": self.samples,
            "diff_rows_limit": self.rows_limit,
            "skip_checks": list(self.skip_checks),
        }


@dataclass(frozen=True)
class JobPreview:
    """What the plan shows for a job it runs: the preview, or why there is none."""

    details: Mapping[str, Any]
    results: Mapping[str, ResultSet] = field(default_factory=dict)
    checks: tuple[CheckResult, ...] = ()

    @property
    def rows(self) -> int | None:
        return next(iter(self.results.values())).rows if self.results else None

    def change_fields(self) -> dict[str, Any]:
        """What the job's run change carries: the preview and the job's checks."""
        return {"preview": self.details, "checks": self.checks}

    @property
    def schema(self) -> ResultSchema | None:
        return next(iter(self.results.values())).schema if self.results else None


def results_frame(results: Mapping[str, ResultSet]) -> pl.LazyFrame:
    """The results as a LazyFrame (parquet scanned lazily, other formats read in batches)."""
    parquet = results.get("parquet")
    if parquet is not None and parquet.files:
        return pl.scan_parquet(list(parquet.files))
    rs = next(iter(results.values()))
    frames = list(iter_frames(rs))
    if not frames:
        from runner.results import polars_dtype

        schema = {c.name: polars_dtype(c.type) for c in rs.schema.columns}
        return pl.DataFrame(schema=schema).lazy()
    return pl.concat(frames).lazy()


def rows_after(action: str, existing: int | None, incoming: int, diff: RowDiff | None) -> int:
    """The table's row count after publishing (upsert: from the diff when there is one)."""
    before = existing or 0
    if action in ("truncateAndLoad", "dropAndLoad") or existing is None:
        return incoming
    if action == "upsert":
        return before + (diff.count("new") if diff is not None and not diff.skipped else incoming)
    return before + incoming


class Previewer:
    def __init__(
        self,
        spec: Spec,
        state: State | None,
        platform: Any,
        pool: _Targets,
        options: PlanOptions,
        problems: list[str],
    ) -> None:
        self.spec = spec
        self.state = state
        self.platform = platform
        self.pool = pool
        self.settings = PreviewSettings.of(options)
        self.results: dict[str, Mapping[str, ResultSet]] = {}
        #: the planner's list: blocking checks and failed previews are plan problems
        self.problems = problems

    def _context(self, owner: str, where: str) -> CheckContext:
        return CheckContext(
            owner,
            lambda name: self.spec.position_of(f"{where}.checks.{name}"),
            skip=self.settings.skip_checks,
            samples=self.settings.samples,
        )

    def _blocking(self, results: tuple[CheckResult, ...]) -> None:
        for r in results:
            if r.blocks:
                rows = "".join(f"\n      {dict(s)}" for s in r.samples)
                self.problems.append(f"{r.describe()}{rows}")

    # --- jobs -------------------------------------------------------------------------
    def job(self, job: Job, fingerprint: str, schema: ResultSchema | None) -> JobPreview:
        """Run the job into the preview store (local), or say why it is not previewed."""
        reason = self._no_preview_reason(job)
        if not reason and schema and any(redact(c.name) != c.name for c in schema.columns):
            reason = "a result column's name holds a secret's value (never written to disk)"
        if reason:
            return JobPreview({"previewed": False, "reason": reason})
        try:
            preview = self.platform.preview(job, fingerprint)
        except PublishError as exc:
            self.problems.append(locate(self.spec, str(exc), "recipe"))
            return JobPreview({"previewed": False, "reason": "the preview failed"})
        self.results[job.name] = preview.results
        checks = self.data_checks(job.checks, job.address, f"$.jobs.{job.name}", preview.results)
        details = {
            "previewed": True,
            "rows": preview.rows,
            "sha256": preview.sha256(job.outputs),
        }
        return JobPreview(details, preview.results, checks)

    def _local(self) -> bool:
        """Whether the platform runs jobs here and can preview them (local; not spark yet)."""
        return getattr(self.platform, "type", "") == "local" and hasattr(self.platform, "preview")

    def _no_preview_reason(self, job: Job) -> str:
        if self.spec.platform.type == "trifacta":
            return TRIFACTA_REASON
        if not self._local():
            return f"the {self.spec.platform.type} platform does not preview jobs"
        if not self.settings.enabled:
            return "--no-preview: rows are known after the job runs"
        if not job.preview:
            return "preview: false on the job: rows are known after the job runs"
        return ""

    def recorded(self, name: str) -> Mapping[str, ResultSet] | None:
        """Results of the run recorded in state, when they are still on this machine."""
        if name in self.results:
            return self.results[name]
        record = self.state.jobs.get(name) if self.state else None
        load = getattr(self.platform, "recorded_results", None)
        if record is None or load is None or not self.settings.enabled or not self._local():
            return None
        results: Mapping[str, ResultSet] | None = load(record)
        if results:
            self.results[name] = results
        return results

    def data_checks(
        self, checks: Checks, owner: str, where: str, results: Mapping[str, ResultSet]
    ) -> tuple[CheckResult, ...]:
        if not checks.names:
            return ()
        rows = next(iter(results.values())).rows
        found = evaluate_results(checks, results_frame(results), rows, self._context(owner, where))
        self._blocking(found)
        return found

    # --- publications -----------------------------------------------------------------
    def publication(
        self, change: Change, target: Target, info: TableInfo | None, known: bool
    ) -> Change:
        """The publish change with its row diff and checks, when the job's rows are known."""
        results = self.recorded(target.job)
        if not results:
            return change
        fmt = normalise_format(target.input_format)
        # the same rows in every format; parquet (always in a preview) reads fastest
        rs = results.get("parquet") or results.get(fmt) or next(iter(results.values()))
        diff: RowDiff | None = None
        if known:
            table = self.pool.get(self.spec.connections[target.connection])
            options = DiffOptions(self.settings.samples, self.settings.rows_limit)
            try:
                diff = diff_table(rs, target.action, info, table, key=target.key, options=options)
            except PublishError as exc:
                self.problems.append(f"{target.address}: cannot compare rows: {exc}")
        if target.action == "upsert" and diff is not None and diff.duplicated == "table":
            self.problems.append(locate(self.spec, upsert_table_problem(target, info), "key"))
        frame = results_frame(results)  # once: without parquet it reads the rows
        if target.action == "upsert":
            found = key_problems(target.address, target.key, frame)
            self.problems += [locate(self.spec, p, "key") for p in found]
        found = constraint_problems(target.address, target.action, target.key, info, frame)
        if known and not found and info is not None and info.rows <= self.settings.rows_limit:
            table = self.pool.get(self.spec.connections[target.connection])
            try:
                found = append_problems(target.address, target.action, info, rs, table)
            except PublishError as exc:
                found = [f"{target.address}: cannot read the table's keys: {exc}"]
        self.problems += [locate(self.spec, p) for p in found]
        dialect = dialect_for(self.spec.connections[target.connection].vendor)
        refused = refused_in(frame, dialect) if dialect else None
        if refused:  # apply would refuse it before touching the table: say so now
            self.problems.append(locate(self.spec, f"{target.address}: {refused}"))
        checks = self.data_checks(
            target.checks, target.address, f"$.targets.{target.name}", results
        )
        after = rows_after(target.action, info.rows if info else None, rs.rows, diff)
        for owner, where, declared in (
            (target.address, f"$.targets.{target.name}", target.checks),
            (f"job.{target.job}", f"$.jobs.{target.job}", self.spec.jobs[target.job].checks),
        ):
            change_check = evaluate_row_change(
                declared, info.rows if info else None, after, self._context(owner, where)
            )
            if change_check is not None:
                self._blocking((change_check,))
                checks += (change_check,)
        return dataclasses.replace(change, diff=diff, checks=checks, rows_incoming=rs.rows)
