"""Evaluate ``checks:`` over results (a polars LazyFrame) and against the table now.

Every declared check gives one :class:`CheckResult` with the number of offending rows
and up to ``samples`` of them (values as text, secrets masked). A check that cannot be
evaluated (a column the results lack, an expression polars cannot parse) fails with
what to fix, so a typo never passes silently.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import polars as pl

from runner.checks.model import CheckResult
from runner.plan.words import plural
from runner.rowdiff.canon import display_expr
from runner.spec.model import Checks
from runner.spec.secrets import redact

#: sample offending rows per failing check
DEFAULT_SAMPLES = 5
_ERRORS: tuple[type[BaseException], ...] = (
    pl.exceptions.PolarsError,
    pl.exceptions.PanicException,
    ValueError,
)


@dataclass(frozen=True)
class CheckContext:
    owner: str  # job.NAME or target.NAME
    position: Callable[[str], str]  # check name -> FILE:LINE:COL
    skip: Collection[str] = ()  # check ids given to --skip-check
    samples: int = DEFAULT_SAMPLES

    def result(self, name: str, passed: bool, message: str, **kw: object) -> CheckResult:
        skipped = f"{self.owner}.{name}" in self.skip
        return CheckResult(
            owner=self.owner,
            name=name,
            passed=passed,
            message=message + (" (skipped with --skip-check)" if skipped and not passed else ""),
            position=self.position(name),
            skipped=skipped,
            **kw,  # type: ignore[arg-type]
        )


def _rows_text(frame: pl.DataFrame) -> tuple[dict[str, str | None], ...]:
    shown = frame.select([display_expr(c, frame.schema[c]) for c in frame.columns])
    return tuple(
        {k: None if v is None else redact(str(v)) for k, v in row.items()}
        for row in shown.iter_rows(named=True)
    )


def _offending(
    ctx: CheckContext, name: str, frame: pl.LazyFrame, bad: pl.Expr, what: str
) -> CheckResult:
    try:
        count = int(frame.select(bad.sum()).collect().item() or 0)
        samples = frame.filter(bad).head(ctx.samples).collect() if count else pl.DataFrame()
    except _ERRORS as exc:
        message = str(exc).strip().split("\n\n", 1)[0]
        return ctx.result(name, False, f"cannot evaluate: {message}")
    if not count:
        return ctx.result(name, True, f"no row {what}")
    rows = "row" if count == 1 else "rows"
    return ctx.result(
        name, False, f"{count:,} {rows} {what}", failing=count, samples=_rows_text(samples)
    )


def _missing(
    ctx: CheckContext, name: str, columns: Sequence[str], have: Collection[str]
) -> CheckResult | None:
    lacking = [c for c in columns if c not in have]
    if not lacking:
        return None
    listed = ", ".join(lacking)
    return ctx.result(name, False, f"the results have no column {listed}; fix the check's columns")


def _rows(ctx: CheckContext, checks: Checks, rows: int) -> CheckResult:
    lo, hi = checks.rows_min, checks.rows_max
    bounds = " and ".join(
        b
        for b in (
            f"at least {lo:,}" if lo is not None else "",
            f"at most {hi:,}" if hi is not None else "",
        )
        if b
    )
    ok = (lo is None or rows >= lo) and (hi is None or rows <= hi)
    return ctx.result("rows", ok, f"{plural(rows, 'row')}; {bounds} expected")


def _not_null(
    ctx: CheckContext, checks: Checks, frame: pl.LazyFrame, have: Collection[str]
) -> CheckResult:
    cols = list(checks.not_null)
    missing = _missing(ctx, "notNull", cols, have)
    if missing:
        return missing
    bad = pl.any_horizontal([pl.col(c).is_null() for c in cols])
    return _offending(ctx, "notNull", frame, bad, f"with a null in {', '.join(cols)}")


def _unique(
    ctx: CheckContext, checks: Checks, frame: pl.LazyFrame, have: Collection[str]
) -> list[CheckResult]:
    groups = checks.unique
    missing = _missing(ctx, "unique", [c for g in groups for c in g], have)
    if missing:
        return [missing]
    bad = pl.any_horizontal([pl.struct(list(g)).is_duplicated() for g in groups])
    names = "; ".join(", ".join(g) for g in groups)
    return [_offending(ctx, "unique", frame, bad, f"sharing a value of {names} with another row")]


def _accepted(
    ctx: CheckContext, checks: Checks, frame: pl.LazyFrame, schema: pl.Schema
) -> CheckResult:
    missing = _missing(ctx, "acceptedValues", list(checks.accepted_values), schema)
    if missing:
        return missing
    conds = []
    for column, values in checks.accepted_values.items():
        allowed = pl.Series(list(values), strict=False).cast(schema[column], strict=False)
        conds.append(pl.col(column).is_not_null() & ~pl.col(column).is_in(allowed.implode()))
    listed = ", ".join(checks.accepted_values)
    return _offending(
        ctx,
        "acceptedValues",
        frame,
        pl.any_horizontal(conds),
        f"with a value of {listed} not accepted",
    )


def _expression(ctx: CheckContext, checks: Checks, frame: pl.LazyFrame) -> CheckResult:
    conds = []
    for text in checks.expression:
        try:
            conds.append(~pl.sql_expr(text).fill_null(False))
        except _ERRORS as exc:
            message = str(exc).strip().split("\n\n", 1)[0]
            return ctx.result("expression", False, f"cannot parse {text!r}: {message}")
    what = "where " + " and ".join(checks.expression) + " is not true"
    return _offending(ctx, "expression", frame, pl.any_horizontal(conds), what)


def evaluate_results(
    checks: Checks, frame: pl.LazyFrame, rows: int, ctx: CheckContext
) -> tuple[CheckResult, ...]:
    """Every data check of ``checks`` (all but maxRowChange) over the results."""
    out: list[CheckResult] = []
    schema = frame.collect_schema()
    have = set(schema.names())
    if checks.rows_min is not None or checks.rows_max is not None:
        out.append(_rows(ctx, checks, rows))
    if checks.not_null:
        out.append(_not_null(ctx, checks, frame, have))
    if checks.unique:
        out.extend(_unique(ctx, checks, frame, have))
    if checks.accepted_values:
        out.append(_accepted(ctx, checks, frame, schema))
    if checks.expression:
        out.append(_expression(ctx, checks, frame))
    return tuple(out)


def evaluate_row_change(
    checks: Checks, existing: int | None, after: int, ctx: CheckContext
) -> CheckResult | None:
    """maxRowChange: the table's row count after publishing against its count now."""
    limit = checks.max_row_change
    if limit is None:
        return None
    if not existing:
        what = "does not exist" if existing is None else "is empty"
        return ctx.result("maxRowChange", True, f"the table {what}: no row count to compare")
    change = abs(after - existing) / existing
    ok = change <= limit + 1e-12
    return ctx.result(
        "maxRowChange",
        ok,
        f"{existing:,} -> {after:,} rows ({change:.1%} change; at most {limit * 100:g}% allowed)",
    )
