"""The markdown form of a plan, for pull-request comments.

It begins with the summary (a heading, a table of counts per action, then the destructive
changes and deletions by address), then one collapsible ``<details>`` section per change,
then drift in its own section. The whole text stays under :data:`MARKDOWN_LIMIT` characters
however large the plan (GitHub refuses comments over 65,536): details are cut first, with a
note saying how many were left out, and the summary is always kept (its address lists are
cut too, with a count, when even they would not fit).

Every value from the plan (addresses, table names, messages) goes through :func:`esc`,
which writes markdown and HTML special characters as numeric character references, so a
value renders as itself inside inline markdown and inside HTML blocks alike and cannot
break the layout (no table cell split, no ``</details>``, no emphasis, no @mention).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from runner.plan import render_preview as previewed
from runner.plan import render_text as words
from runner.plan.model import Change, Drift, Plan
from runner.spec.secrets import redact

#: the whole markdown text is shorter than this many characters
MARKDOWN_LIMIT = 60_000
#: kept free under the limit for what redaction could add (a secret shorter than its mask)
_SAFETY = 1_000
#: sub-lines (schema changes, API calls, details) shown per change; the rest is counted
_SUBLINES = 50
_SHOW = "run `publish show PLANFILE` for the full plan"

_SPECIAL = "&<>`*_[]\\|~#@!{}$"
_ESCAPES = {ord(c): f"&#{ord(c)};" for c in _SPECIAL} | {
    ord("\n"): " ",
    ord("\r"): " ",
    ord("\t"): " ",
}


def esc(value: object) -> str:
    """``value`` as inline markdown/HTML text that shows exactly itself, on one line.

    Registered secret values are masked first: once escaped, redaction of the whole
    output could no longer recognise them.
    """
    return redact(str(value)).translate(_ESCAPES)


def code(value: object) -> str:
    return f"<code>{esc(value)}</code>"


def render_markdown(plan: Plan, *, limit: int = MARKDOWN_LIMIT) -> str:
    head = _head(plan)
    tail = _tail(plan)
    room = limit - _SAFETY - len(head) - len(tail)

    destructive = [c for c in plan.changes if c.destructive]
    deletions = [c for c in plan.changes if c.action in ("forget", "delete")]
    lists = _section(
        f"### Destructive changes ({len(destructive):,})",
        [_summary_item(c) for c in destructive],
        room // 3,
        lambda n: f"- ... and {n:,} more destructive changes; {_SHOW}\n",
    ) + _section(
        f"### Forgotten ({len(deletions):,}): removed from the spec, tables untouched",
        [_summary_item(c) for c in deletions],
        room // 6,
        lambda n: f"- ... and {n:,} more forgotten; {_SHOW}\n",
    )
    room -= len(lists)

    drift = _section(
        f"### Drift ({len(plan.drift):,}): objects changed outside publish",
        [_drift_item(d) for d in words.sorted_drift(plan.drift)],
        room // 4,
        lambda n: f"- ... and {n:,} more drift entries not shown; {_SHOW}\n",
    )
    room -= len(drift)

    details = _section(
        "### Changes",
        [_details(c) for c in plan.changes],
        room,
        lambda n: f"... {n:,} more changes not shown; {_SHOW}.\n\n",
        [_rank(c) for c in plan.changes],
    )
    return head + lists + details + drift + tail


def _head(plan: Plan) -> str:
    counts = words.marker_counts(plan)
    rows = [(code(m), text.removeprefix("to "), counts[m]) for m, text in words.shown_markers(plan)]
    rows.append(("", "**destructive**", plan.summary()["destructive"]))
    table = "| | Action | Count |\n| :---: | :--- | ---: |\n" + "".join(
        f"| {m} | {name} | {n:,} |\n" for m, name, n in rows
    )
    if plan.changes:
        sentence = f"**{esc(words.summary_sentence(plan))}**"
    else:
        sentence = f"**{esc(words.no_changes_sentence(plan))}**"
    if plan.drift:
        sentence += f" {esc(words.drift_sentence(plan))}"
    title = f"## Plan for {esc(plan.spec_name)} (environment {esc(plan.environment)})"
    return f"{title}\n\n{table}\n{sentence}\n\n"


def _tail(plan: Plan) -> str:
    out = ""
    if plan.pulled_in:
        pulled = ", ".join(code(a) for a in sorted(plan.pulled_in))
        out += f"Pulled in because selected objects need them: {pulled}\n\n"
    out += f"<sub>{esc(words.context_line(plan))}"
    if plan.changes:
        out += f" {esc(words.legend(plan))}"
    return out + "</sub>\n"


def _section(
    heading: str,
    items: Sequence[str],
    budget: int,
    note: Callable[[int], str],
    rank: Sequence[int] = (),
) -> str:
    if not items:
        return ""
    start = f"{heading}\n\n"
    kept = _fit(items, budget - len(start) - 2, note, rank)
    return start + "".join(kept).rstrip("\n") + "\n\n"


def _fit(
    items: Sequence[str], budget: int, note: Callable[[int], str], rank: Sequence[int] = ()
) -> list[str]:
    """As many ``items`` as fit in ``budget`` characters, then a note on how many were left.

    Items are chosen by ``rank`` (lowest first, then in order) and kept in their order.
    """
    if sum(len(i) for i in items) <= budget:
        return list(items)
    used = len(note(len(items)))
    chosen: set[int] = set()
    for i in sorted(range(len(items)), key=lambda i: (rank[i] if rank else 0, i)):
        if used + len(items[i]) > budget:
            break
        chosen.add(i)
        used += len(items[i])
    return [*(items[i] for i in sorted(chosen)), note(len(items) - len(chosen))]


def _rank(change: Change) -> int:
    """Which details to keep first when they do not all fit: destructive, deletions, tables."""
    if change.destructive:
        return 0
    return {"forget": 1, "delete": 1, "publish": 2}.get(change.action, 3)


def _summary_item(change: Change) -> str:
    item = f"- {code(words.marker(change))} {code(change.address)}"
    if change.action == "publish":
        item += f": {esc(change.publish_action)} into {code(change.table)}"
        if change.rows_existing is not None:
            item += f", existing rows: {esc(words.rows_existing(change))}"
    else:
        item += f": {esc(change.action)}"
    return item + "\n"


def _details(change: Change) -> str:
    schema = ""
    if change.create_schema is not None:
        schema = f"- {code('+')} {esc(words.create_schema_line(change))}\n\n"
    summary = f"{code(words.marker(change))} {esc(words.headline(change))}"
    if change.destructive:
        summary += " <b>(destructive)</b>"
    body = ""
    for label, value in words.detail_lines(change):
        if label == "row diff":  # a table of its own, below
            continue
        if isinstance(value, list):
            body += f"- **{label}:**\n" + "".join(f"  - {code(v)}\n" for v in value[:_SUBLINES])
            if len(value) > _SUBLINES:
                body += f"  - ... and {len(value) - _SUBLINES:,} more; {_SHOW}\n"
        else:
            body += f"- **{label}:** {esc(value)}\n"
    body += previewed.diff_table_markdown(change, esc)
    return f"{schema}<details><summary>{summary}</summary>\n\n{body}\n</details>\n\n"


def _drift_item(drift: Drift) -> str:
    item = f"- {code(drift.address)}: {esc(words.drift_words(drift))}: {esc(drift.message)}"
    facts = []
    if drift.recorded is not None:
        facts.append(f"recorded {code(words.compact(drift.recorded, 200))}")
    if drift.actual is not None:
        facts.append(f"actual {code(words.compact(drift.actual, 200))}")
    if facts:
        item += f" ({'; '.join(facts)})"
    return item + "\n"
