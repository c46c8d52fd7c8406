"""What apply checks before it publishes: the previewed bytes, and the checks.

- a job the plan previewed must give exactly the results the plan showed (content hash
  per format); otherwise its targets are not published and the plan must be made again;
- the checks (``checks:`` of the job and the target) are evaluated on the real results
  before any table is touched, unless the plan evaluated them on these very bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

from runner.checks.evaluate import CheckContext, evaluate_results, evaluate_row_change
from runner.checks.model import CheckResult
from runner.errors import PublishError
from runner.plan.model import Change, Plan
from runner.plan.preview_stage import results_frame, rows_after
from runner.platforms.base import JobRun
from runner.spec.model import Job, Spec, Target


def check_previewed(change: Change, run: JobRun) -> None:
    """Refuse results that differ from those the plan previewed (nothing is published)."""
    wanted = change.preview.get("sha256") if change.preview.get("previewed") else None
    if not wanted:
        return
    for fmt, sha in sorted(wanted.items()):
        got = run.results.get(fmt)
        if got is None or got.sha256 != sha:
            have = got.sha256[:12] if got is not None else "none"
            raise PublishError(
                f"{change.address}: the {fmt} results of this run ({have}) are not the ones the "
                f"plan previewed ({str(sha)[:12]}); nothing was published. Plan again to see "
                "what these results do to the tables"
            )


def _context(spec: Spec, owner: str, where: str, skip: Sequence[str]) -> CheckContext:
    return CheckContext(owner, lambda name: spec.position_of(f"{where}.checks.{name}"), skip)


def _enforce(address: str, results: Sequence[CheckResult]) -> list[str]:
    """Raise when a check blocks; the ids of failing checks let through by --skip-check."""
    blocking = [r for r in results if r.blocks]
    if blocking:
        lines = "; ".join(r.describe() for r in blocking)
        raise PublishError(
            f"{address}: a check failed on the results, so no table was touched: {lines}"
        )
    return [r.id for r in results if r.skipped]


def job_checks(spec: Spec, job: Job, run: JobRun, skip: Sequence[str]) -> list[str]:
    """The job's data checks on results the plan did not preview (raises when one blocks)."""
    if run.details.get("previewed") or not job.checks.names or not run.results:
        return []
    rows = next(iter(run.results.values())).rows
    ctx = _context(spec, job.address, f"$.jobs.{job.name}", skip)
    return _enforce(
        job.address, evaluate_results(job.checks, results_frame(run.results), rows, ctx)
    )


def publication_checks(
    spec: Spec, plan: Plan, change: Change, target: Target, run: JobRun, skip: Sequence[str]
) -> list[str]:
    """Checks of a publication before it touches the table; the ids skipped by --skip-check.

    When the plan compared rows (its change has a diff), it evaluated the checks on the very
    results apply publishes (their hashes were checked when the job ran): what it found
    holds. Otherwise they are evaluated now, on the real results.
    """
    job = spec.jobs[target.job]
    job_change = plan.change(job.address)
    if change.diff is not None:
        planned = [*change.checks, *(job_change.checks if job_change else ())]
        return _enforce(change.address, planned)
    if not run.results:
        return []
    rows = next(iter(run.results.values())).rows
    where = f"$.targets.{target.name}"
    ctx = _context(spec, target.address, where, skip)
    found = list(evaluate_results(target.checks, results_frame(run.results), rows, ctx))
    after = rows_after(target.action, change.rows_existing, rows, None)
    for owner, path, declared in (
        (target.address, where, target.checks),
        (job.address, f"$.jobs.{job.name}", job.checks),
    ):
        result = evaluate_row_change(
            declared, change.rows_existing, after, _context(spec, owner, path, skip)
        )
        if result is not None:
            found.append(result)
    return _enforce(change.address, found)
