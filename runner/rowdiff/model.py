"""What a row-level diff says about one target: counts per class and sample rows.

The classes depend on the action (see :data:`CLASSES`); ``counts`` always holds every
class of the diff's mode, ``samples`` at most N rows of each. Sample values are text
(``None`` for NULL), already passed through secret redaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

DiffMode = Literal["replace", "upsert", "append"]
Match = Literal["key", "primaryKey", "inferred", "rows", "none"]

#: the classes of rows each mode counts, in the order they are shown
CLASSES: dict[str, tuple[str, ...]] = {
    "replace": ("added", "removed", "changed", "unchanged"),
    "upsert": ("new", "changed", "unchanged", "kept"),
    "append": ("appended",),
}
#: what each class means, for people
CLASS_WORDS: dict[str, str] = {
    "added": "added",
    "removed": "removed",
    "changed": "changed",
    "unchanged": "unchanged",
    "new": "new keys",
    "kept": "stay although absent from the results",
    "appended": "appended",
}


_SINGULAR = {"new": "new key", "kept": "stays although absent from the results"}


def class_count(cls: str, n: int) -> str:
    """``1 new key``, ``3 new keys``, ``2 changed``."""
    word = _SINGULAR.get(cls, CLASS_WORDS[cls]) if n == 1 else CLASS_WORDS[cls]
    return f"{n:,} {word}"


def mode_of(action: str) -> DiffMode:
    """The diff mode of a publish action."""
    if action in ("truncateAndLoad", "dropAndLoad"):
        return "replace"
    if action == "upsert":
        return "upsert"
    return "append"


#: how the note of a diff whose rows were matched by an inferred key starts
INFERRED_NOTE = "rows matched by "


def named_counts(mode: str, counts: dict[str, int]) -> dict[str, int]:
    """Counts of a replace diff (added, removed, ...) under the class names of ``mode``."""
    if mode != "upsert":
        return counts
    return {
        "new": counts["added"],
        "changed": counts["changed"],
        "unchanged": counts["unchanged"],
        "kept": counts["removed"],
    }


@dataclass(frozen=True)
class ValueChange:
    column: str
    before: str | None
    after: str | None

    def to_json(self) -> dict[str, Any]:
        return {"column": self.column, "before": self.before, "after": self.after}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ValueChange:
        return cls(str(d["column"]), d.get("before"), d.get("after"))


@dataclass(frozen=True)
class SampleRow:
    """One sample: the key (when rows are matched by key), the row, or what changed."""

    key: Mapping[str, str | None] = field(default_factory=dict)
    row: Mapping[str, str | None] = field(default_factory=dict)
    changes: tuple[ValueChange, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.key:
            out["key"] = dict(self.key)
        if self.changes:
            out["changes"] = [c.to_json() for c in self.changes]
        else:
            out["row"] = dict(self.row)
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SampleRow:
        return cls(
            key=dict(d.get("key", {})),
            row=dict(d.get("row", {})),
            changes=tuple(ValueChange.from_json(c) for c in d.get("changes", ())),
        )


@dataclass(frozen=True)
class RowDiff:
    mode: DiffMode
    match: Match
    counts: Mapping[str, int]
    key: tuple[str, ...] = ()
    samples: Mapping[str, tuple[SampleRow, ...]] = field(default_factory=dict)
    #: columns compared (in both the table and the results), and those in one side only
    compared: tuple[str, ...] = ()
    columns_added: tuple[str, ...] = ()
    columns_removed: tuple[str, ...] = ()
    #: why no row-level comparison was made (table too large, ...); counts then hold
    #: only what is known without it
    skipped: str | None = None
    #: anything a reviewer should know about how rows were matched
    note: str = ""
    #: the side ("table" or "results") where the key asked for repeats; not in the JSON
    duplicated: str = ""

    @property
    def classes(self) -> tuple[str, ...]:
        return CLASSES[self.mode]

    def count(self, cls: str) -> int:
        return int(self.counts.get(cls, 0))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mode": self.mode,
            "match": self.match,
            "key": list(self.key),
            "counts": {c: int(self.counts[c]) for c in self.classes if c in self.counts},
            "samples": {c: [s.to_json() for s in rows] for c, rows in self.samples.items()},
            "columns": {
                "compared": list(self.compared),
                "added": list(self.columns_added),
                "removed": list(self.columns_removed),
            },
            "skipped": self.skipped,
        }
        if self.note:
            out["note"] = self.note
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RowDiff:
        columns = d.get("columns", {})
        return cls(
            mode=d["mode"],
            match=d["match"],
            counts={str(k): int(v) for k, v in d.get("counts", {}).items()},
            key=tuple(d.get("key", ())),
            samples={
                str(c): tuple(SampleRow.from_json(s) for s in rows)
                for c, rows in d.get("samples", {}).items()
            },
            compared=tuple(columns.get("compared", ())),
            columns_added=tuple(columns.get("added", ())),
            columns_removed=tuple(columns.get("removed", ())),
            skipped=d.get("skipped"),
            note=d.get("note", ""),
        )

    def summary(self) -> str:
        """``1 changed, 15 unchanged`` style counts (zero classes left out but one)."""
        if self.skipped and not self.counts:
            return f"diff skipped: {self.skipped}"
        parts = [class_count(c, self.count(c)) for c in self.classes if self.count(c)]
        if not parts:
            parts = [class_count(self.classes[0], 0)]
        text = ", ".join(parts)
        return f"{text} (diff skipped: {self.skipped})" if self.skipped else text
