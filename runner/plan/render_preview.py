"""How previewed results read in a plan: the row diff, its samples, checks, the preview.

Shared by the text and markdown renderers: text shows sample lines under ``row diff:``;
markdown shows one collapsed table per target (:func:`diff_table_markdown`). Values in a
plan are already text with secrets masked; they are masked again on the way out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from runner.plan.model import Change
from runner.plan.words import plural
from runner.rowdiff.model import INFERRED_NOTE, RowDiff, SampleRow, class_count

#: longest value shown in a sample line or cell; longer ones are cut with "..."
VALUE_LIMIT = 60
_MARKS = {
    "added": "+",
    "new": "+",
    "appended": "+",
    "removed": "-",
    "kept": "=",
    "changed": "~",
}
_MATCH_WORDS = {
    "key": "matched by key {key}",
    "primaryKey": "matched by the primary key {key}",
    "inferred": "matched by {key}, unique on both sides",
    "rows": "matched as whole rows",
}


def value(text: str | None) -> str:
    if text is None:
        return "null"
    return text if len(text) <= VALUE_LIMIT else text[: VALUE_LIMIT - 3] + "..."


def _pairs(row: Mapping[str, str | None]) -> str:
    return ", ".join(f"{k}={value(v)}" for k, v in row.items())


def rows_line(diff: RowDiff) -> str:
    """``1 changed, 15 unchanged (matched by key id)``."""
    how = _MATCH_WORDS.get(diff.match, "")
    text = diff.summary()
    if how and not diff.skipped:
        text += f" ({how.format(key=', '.join(diff.key))})"
    return text


def shown_note(diff: RowDiff) -> bool:
    """Whether the diff's note is shown (an inferred key's is in the rows line already)."""
    return bool(diff.note) and not diff.note.startswith(INFERRED_NOTE)


def sample_label(sample: SampleRow) -> str:
    return _pairs(sample.key) if sample.key else ""


def sample_lines(diff: RowDiff) -> list[str]:
    """One line per sample: ``~ id=3: amount 10.5 -> 11.0`` / ``+ id=17: customer=...``."""
    out: list[str] = []
    for cls in diff.classes:
        samples = diff.samples.get(cls, ())
        for sample in samples:
            mark = _MARKS.get(cls, "?")
            label = sample_label(sample)
            if sample.changes:
                body = "; ".join(
                    f"{c.column}: {value(c.before)} -> {value(c.after)}" for c in sample.changes
                )
            else:
                body = _pairs(
                    {k: v for k, v in sample.row.items() if not sample.key or k not in sample.key}
                )
            out.append(f"{mark} {label}: {body}" if label else f"{mark} {body}")
        more = diff.count(cls) - len(samples)
        if samples and more > 0:
            out.append(f"  ... and {class_count(cls, more).replace(' ', ' more ', 1)}")
    if diff.columns_added or diff.columns_removed:
        if diff.columns_added:
            out.append(f"columns only in the results: {', '.join(diff.columns_added)}")
        if diff.columns_removed:
            out.append(f"columns only in the table: {', '.join(diff.columns_removed)}")
    if shown_note(diff):
        out.append(diff.note)
    return out


def check_lines(change: Change) -> list[str]:
    out = []
    for c in change.checks:
        status = "ok" if c.passed else ("skipped" if c.skipped else "FAILED")
        out.append(f"{status}: {c.id}: {c.message}")
        if not c.passed:
            out.extend(f"  {_pairs(s)}" for s in c.samples)
    return out


def preview_text(change: Change) -> str:
    p = change.preview
    if p.get("previewed"):
        return f"ran at plan: {plural(int(p.get('rows', 0)), 'row')}; apply publishes these results"
    return f"not previewed: {p.get('reason', 'no reason given')}"


def diff_table_markdown(change: Change, esc: Callable[[object], str], limit: int = 50) -> str:
    """A collapsed table of the diff's samples (class, key, column, before, after)."""
    diff = change.diff
    if diff is None:
        return ""
    note = f"- **row diff:** {esc(diff.note)}\n" if shown_note(diff) else ""
    if not any(diff.samples.values()):
        return note
    lines = ["| | row | column | before | after |", "| :-: | :--- | :--- | :--- | :--- |"]
    for cls in diff.classes:
        for sample in diff.samples.get(cls, ()):
            mark = esc(_MARKS.get(cls, "?"))
            label = esc(sample_label(sample))
            if sample.changes:
                for c in sample.changes:
                    lines.append(
                        f"| {mark} | {label} | {esc(c.column)} | {esc(value(c.before))} "
                        f"| {esc(value(c.after))} |"
                    )
            else:
                before, after = (
                    ("", _pairs(sample.row))
                    if cls in ("added", "new", "appended")
                    else (_pairs(sample.row), "")
                )
                lines.append(f"| {mark} | {label} | | {esc(before)} | {esc(after)} |")
    shown = lines[: limit + 2]
    if len(lines) > len(shown):
        shown.append(f"| | ... {len(lines) - len(shown):,} more lines | | | |")
    title = f"rows of {esc(change.address)}: {esc(rows_line(diff))}"
    table = "\n".join(shown)
    return f"{note}\n<details><summary>{title}</summary>\n\n{table}\n\n</details>\n"
