"""`publish diff SPEC target.NAME`: the row-level diff of one target, on its own.

It plans that target as if its current results were published again (``--replace``), with
previews on, and prints the diff of that publication: what publishing would do to the
table's rows. Checks are evaluated but never stop the diff (they are for plan and apply).
"""

from __future__ import annotations

import dataclasses
import json

from runner.commands.args import PlanArgs, PreviewArgs, Selection, SpecArgs
from runner.commands.context import Echo, open_context
from runner.commands.plan import build_plan
from runner.errors import PublishError
from runner.plan.model import Change
from runner.plan.render_markdown import esc
from runner.plan.render_preview import diff_table_markdown, rows_line, sample_lines
from runner.plan.render_text import clean, headline


def diff_command(
    spec: SpecArgs, address: str, preview: PreviewArgs, *, fmt: str, echo: Echo
) -> None:
    ctx = open_context(spec)
    name = address.removeprefix("target.")
    target = ctx.spec.targets.get(name)
    if not address.startswith("target.") or target is None:
        known = ", ".join(f"target.{n}" for n in sorted(ctx.spec.targets)) or "none"
        raise PublishError(f"{address} is not a target of the spec (targets: {known})")
    job = ctx.spec.jobs[target.job]
    every_check = (
        *(f"{target.address}.{c}" for c in target.checks.names),
        *(f"{job.address}.{c}" for c in job.checks.names),
    )
    chosen = dataclasses.replace(
        preview, preview=True, skip_checks=(*preview.skip_checks, *every_check)
    )
    args = PlanArgs(spec, Selection(select=(address,), replace=(address,)), preview=chosen)
    plan = build_plan(ctx, ctx.backend.read(), args)
    change = plan.change(address)
    if change is None or change.diff is None:
        raise PublishError(
            f"{address}: no row diff: the rows of job.{target.job} are not known before it "
            "runs (the trifacta platform, or a job with preview: false)"
        )
    echo(_render(change, fmt), nl=False)


def _render(change: Change, fmt: str) -> str:
    diff = change.diff
    assert diff is not None
    if fmt == "json":
        body = {"address": change.address, "table": change.table, "diff": diff.to_json()}
        return json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        table = diff_table_markdown(change, esc)
        return f"**{esc(headline(change))}**: {esc(rows_line(diff))}\n\n{table}"
    lines = [clean(headline(change)), f"  rows: {clean(rows_line(diff))}"]
    lines.extend(f"    {clean(line)}" for line in sample_lines(diff))
    return "\n".join(lines) + "\n"
