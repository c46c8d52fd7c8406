"""Row-level diffs of a target's table against incoming results (issue 12)."""

from __future__ import annotations

from runner.rowdiff.engine import DEFAULT_ROWS_LIMIT, DEFAULT_SAMPLES, DiffOptions, diff_table
from runner.rowdiff.model import CLASSES, RowDiff, SampleRow, ValueChange, mode_of

__all__ = [
    "CLASSES",
    "DEFAULT_ROWS_LIMIT",
    "DEFAULT_SAMPLES",
    "DiffOptions",
    "RowDiff",
    "SampleRow",
    "ValueChange",
    "diff_table",
    "mode_of",
]
