"""The text form of a plan (terminals and CI logs), and the wording both renderers share.

Markers, as in Terraform:

====  ===========================================================================
``+``  create a connection, or publish into a table that does not exist yet
``~``  update a connection, or load into an existing table (append, upsert, truncate)
``-``  forget an object removed from the spec (its tables and rows are never touched)
``-/+`` drop the existing table and recreate it (dropAndLoad)
``>``  run a job
``=``  record in state a publish the table's ledger shows done (the table is untouched)
====  ===========================================================================

A destructive change carries a ``(destructive)`` tag. Drift is listed apart, after the
changes. Output is deterministic: changes keep the plan's order (it is the order apply
follows); drift, ``depends_on``, ``pulled_in`` and detail keys are sorted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import click

from runner.plan import render_preview as previewed
from runner.plan.model import Change, Drift, Plan, SchemaChange
from runner.plan.words import plural
from runner.spec.secrets import redact

NO_CHANGES = "No changes. Every target holds the results of its job's latest run."
NO_CHANGES_WITH_DRIFT = (
    "No changes to apply: every target was published from its job's latest run, but some "
    "tables changed outside publish since (drift, listed below)."
)


def no_changes_sentence(plan: Plan) -> str:
    return NO_CHANGES_WITH_DRIFT if plan.drift else NO_CHANGES


DRIFT_HEADING = "Objects changed outside publish (drift)"
LEGEND = (
    "Markers: + create, ~ update or load into an existing table, - forget, "
    "-/+ drop and recreate, > run a job."
)
#: added to the legend when a plan holds a ``=`` line
RECORD_LEGEND = ", = record only (the table's ledger shows it holds the run already)."

#: longest compact body of an API call shown; the rest is cut with "..."
BODY_LIMIT = 300

_COLORS = {"=": "blue", "+": "green", "~": "yellow", "-": "red", "-/+": "red", ">": "cyan"}
_DRIFT_WORDS = {
    "table_dropped": "table dropped",
    "rows_changed": "rows changed",
    "columns_changed": "columns changed",
}
# control characters would let a hostile value move the cursor or colour the terminal
_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F]}


# --- wording shared with the markdown renderer ---------------------------------------------


def marker(change: Change) -> str:
    if change.action == "run":
        return ">"
    if change.action in ("forget", "delete"):
        return "-"
    if change.action == "update":
        return "~"
    if change.action == "publish":
        if "ledger" in change.details:
            return "="
        if change.rows_existing is None:
            return "+"
        return "-/+" if change.publish_action == "dropAndLoad" else "~"
    return "+"


def headline(change: Change) -> str:
    """``target.x: truncateAndLoad into warehouse.main.orders`` (no marker, no tag)."""
    if change.action == "publish":
        action = change.publish_action or "publish"
        return f"{change.address}: {action} into {change.table or 'a table not named'}"
    return f"{change.address}: {change.action}"


#: the summary's words for each marker, in the order it lists them
MARKER_WORDS = (
    ("+", "to create"),
    ("~", "to update"),
    ("-/+", "to replace"),
    ("-", "to forget"),
    (">", "to run"),
)
#: listed after them when the plan holds such lines
RECORD_WORDS = ("=", "to record")


def shown_markers(plan: Plan) -> tuple[tuple[str, str], ...]:
    """The markers the summary lists: :data:`MARKER_WORDS`, and ``=`` when there are any."""
    if any(marker(c) == "=" for c in plan.changes):
        return (*MARKER_WORDS, RECORD_WORDS)
    return MARKER_WORDS


def legend(plan: Plan) -> str:
    if any(marker(c) == "=" for c in plan.changes):
        return LEGEND.removesuffix(".") + RECORD_LEGEND
    return LEGEND


def marker_counts(plan: Plan) -> dict[str, int]:
    """How many change lines carry each marker (what the summary counts)."""
    counts = dict.fromkeys((m for m, _ in (*MARKER_WORDS, RECORD_WORDS)), 0)
    for change in plan.changes:
        counts[marker(change)] += 1
        if change.create_schema is not None:  # its own "+ schema" line
            counts["+"] += 1
    return counts


def summary_sentence(plan: Plan) -> str:
    """``Plan: 4 to create, 1 to update, ...``: exactly the lines below, counted by marker."""
    counts = marker_counts(plan)
    line = "Plan: " + ", ".join(f"{counts[m]:,} {words}" for m, words in shown_markers(plan))
    destructive = plan.summary()["destructive"]
    if destructive:
        line += f" ({destructive:,} destructive)"
    return line + "."


def create_schema_line(change: Change) -> str:
    """``schema wh.staging: create (before its first table, ...)``, for a ``+`` line."""
    conn = (change.table or "").split(".")[0]
    return (  # MySQL calls it a database; CREATE SCHEMA is its synonym there
        f"schema {conn}.{change.create_schema}: create (it does not exist; created before "
        f"its first table, {change.table})"
    )


def drift_sentence(plan: Plan) -> str:
    n = len(plan.drift)
    return f"Drift: {plural(n, 'object', 'objects')} changed outside publish, listed below."


def rows_existing(change: Change) -> str:
    if change.details.get("inspected") is False:
        return "not inspected (no database credentials in the spec)"
    if change.rows_existing is None:
        return "none, the table does not exist yet"
    about = "about " if change.rows_estimated else ""
    return f"{about}{change.rows_existing:,}"


def rows_incoming(change: Change) -> str:
    if change.rows_incoming is None:
        return "known after the job runs"
    return f"{change.rows_incoming:,}"


def schema_line(sc: SchemaChange) -> str:
    if sc.change == "added":
        return f"+ column {sc.column} {sc.to_type or ''}".rstrip() + f" ({sc.change_class})"
    if sc.change == "removed":
        return f"- column {sc.column} ({sc.change_class})"
    return f"~ column {sc.column} {sc.from_type} -> {sc.to_type} ({sc.change_class})"


def _is_secret_ref(value: object) -> bool:
    return (
        isinstance(value, Mapping)
        and "secret" in value
        and set(value)
        <= {
            "secret",
            "fingerprint",
        }
    )


def _masked(value: Any) -> Any:
    """``value`` with every secret reference replaced by a short ``(sensitive ...)`` text."""
    if _is_secret_ref(value):
        raw = value.get("secret")
        names = [raw] if isinstance(raw, str) else [str(n) for n in raw or ()]
        return f"(sensitive: {', '.join(names)})" if names else "(sensitive)"
    if isinstance(value, Mapping):
        return {str(k): _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


def compact(value: Any, limit: int | None = None) -> str:
    """A one-line, key-sorted JSON form of ``value``; secret references shown as sensitive."""
    masked = _masked(value)
    if isinstance(masked, str):
        text = masked
    else:
        text = json.dumps(
            masked, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        )
    if limit is not None and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def api_call_line(call: Mapping[str, Any]) -> str:
    line = f"{call.get('method', '?')} {call.get('path', '?')}"
    if call.get("body") is not None:
        line += " " + compact(call["body"], BODY_LIMIT)
    return line


def detail_lines(change: Change) -> list[tuple[str, str | list[str]]]:
    """The labelled facts of a change, in a fixed order; a list value is shown as sub-lines."""
    out: list[tuple[str, str | list[str]]] = []
    if change.reason:
        out.append(("reason", change.reason))
    if change.depends_on:
        out.append(("depends on", ", ".join(sorted(change.depends_on))))
    if change.action == "publish":
        out.append(("existing rows", rows_existing(change)))
        out.append(("incoming rows", rows_incoming(change)))
        if change.consequence:
            out.append(("consequence", change.consequence))
        if change.schema_diff:
            out.append(("schema changes", [schema_line(s) for s in change.schema_diff]))
        if change.alter:
            out.append(("alter (onSchemaChange)", list(change.alter)))
        if change.diff is not None:
            out.append(("rows", previewed.rows_line(change.diff)))
            if lines := previewed.sample_lines(change.diff):
                out.append(("row diff", lines))
    if change.preview:
        out.append(("preview", previewed.preview_text(change)))
    if change.checks:
        out.append(("checks", previewed.check_lines(change)))
    if change.run_id is not None:
        out.append(("run id", change.run_id))
    if change.fingerprint is not None:
        out.append(("fingerprint", change.fingerprint))
    if change.api_calls:
        out.append(("api calls", [api_call_line(c) for c in change.api_calls]))
    if change.details:
        out.append(
            ("details", [f"{k}: {compact(change.details[k])}" for k in sorted(change.details)])
        )
    return out


def drift_words(drift: Drift) -> str:
    return _DRIFT_WORDS.get(drift.kind, drift.kind)


def sorted_drift(drift: Iterable[Drift]) -> list[Drift]:
    return sorted(drift, key=lambda d: (d.address, d.kind, d.message))


def context_line(plan: Plan) -> str:
    state = (
        f"state serial {plan.serial} (lineage {plan.lineage})"
        if plan.lineage is not None
        else "no state yet"
    )
    return (
        f"Spec {plan.spec_name} ({plan.spec_path}), environment {plan.environment}, "
        f"{state}, plan {plan.plan_id}."
    )


# --- the text renderer ---------------------------------------------------------------------


def clean(text: str) -> str:
    """``text`` with secrets masked and control characters shown as ``\\xNN`` (no terminal
    escapes from values)."""
    return redact(text).translate(_CONTROL)


def render_text(plan: Plan, *, color: bool = False) -> str:
    style: Callable[..., str] = click.style if color else _no_style
    lines: list[str] = []
    if plan.changes:
        lines.append(style(summary_sentence(plan), bold=True))
    else:
        lines.append(style(no_changes_sentence(plan), bold=True))
    if plan.drift:
        lines.append(style(drift_sentence(plan), fg="yellow"))
    for change in plan.changes:
        if change.create_schema is not None:
            mark = style("  +", fg="green", bold=True)
            lines += ["", f"{mark} {clean(create_schema_line(change))}"]
        lines.append("")
        lines.extend(_change_lines(change, style))
    if plan.drift:
        lines += ["", style(f"{DRIFT_HEADING}:", fg="yellow", bold=True)]
        for d in sorted_drift(plan.drift):
            lines.append(f"  {clean(d.address)}: {drift_words(d)}: {clean(d.message)}")
            if d.recorded is not None:
                lines.append(f"      recorded: {clean(compact(d.recorded))}")
            if d.actual is not None:
                lines.append(f"      actual: {clean(compact(d.actual))}")
    if plan.pulled_in:
        pulled = ", ".join(sorted(plan.pulled_in))
        lines += ["", f"Pulled in because selected objects need them: {clean(pulled)}"]
    lines += ["", clean(context_line(plan))]
    if plan.changes:
        lines.append(legend(plan))
    return "\n".join(lines) + "\n"


def _no_style(text: str, **_: object) -> str:
    return text


def _change_lines(change: Change, style: Callable[..., str]) -> list[str]:
    mark = marker(change)
    head = f"{style(f'{mark:>3}', fg=_COLORS.get(mark), bold=True)} {clean(headline(change))}"
    if change.destructive:
        head += " " + style("(destructive)", fg="red", bold=True)
    lines = [head]
    for label, value in detail_lines(change):
        if isinstance(value, list):
            lines.append(f"      {label}:")
            lines.extend(f"        {_styled_sub(clean(v), label, style)}" for v in value)
        else:
            lines.append(f"      {label}: {clean(value)}")
    return lines


def _styled_sub(line: str, label: str, style: Callable[..., str]) -> str:
    if label in ("row diff", "checks"):
        color = {"+": "green", "-": "red", "~": "yellow", "F": "red"}.get(line[:1])
        return str(style(line, fg=color)) if color else line
    if label != "schema changes":
        return line
    color = "red" if line.endswith("(destructive)") else "green"
    return str(style(line, fg=color))
