"""Key values the results hold more than once, with their rows: what an upsert needs unique.

Computed when a database refused an upsert (never on the way of a load that works) and at
plan on previewed results, so the error names the key values and the rows of the results
(1-based, in the results' order) rather than an internal staging table or index.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from runner.results import ResultSet, iter_frames

#: key values named in a message; the rest are counted
SHOWN = 3
#: rows named per key value
ROWS_SHOWN = 5


def duplicate_keys(results: ResultSet, key: Sequence[str]) -> tuple[list[str], int]:
    """``(["customer=alice at rows 1, 3", ...], how many key values repeat)``."""
    if not key or any(results.schema.get(k) is None for k in key):
        return [], 0
    index = "__publish_row_number__"
    parts = []
    offset = 0
    for frame in iter_frames(results):
        parts.append(frame.select(list(key)).with_row_index(index, offset=offset + 1))
        offset += len(frame)
    if not parts:
        return [], 0
    rows = pl.concat(parts)
    repeated = (
        rows.group_by(list(key), maintain_order=True)
        .agg(pl.col(index))
        .filter(pl.col(index).list.len() > 1)
    )
    shown = []
    for record in repeated.head(SHOWN).iter_rows(named=True):
        at = record.pop(index)
        values = ", ".join(f"{k}={record[k]!r}" if isinstance(record[k], str) else
                           f"{k}={record[k]}" for k in key)  # fmt: skip
        more = f" and {len(at) - ROWS_SHOWN:,} more" if len(at) > ROWS_SHOWN else ""
        shown.append(f"{values} at rows {', '.join(map(str, at[:ROWS_SHOWN]))}{more}")
    return shown, len(repeated)


def duplicates_message(results: ResultSet, key: Sequence[str]) -> str | None:
    """``upsert needs each key (customer) once, but ... customer='alice' at rows 1, 3``, or
    None (also when the results cannot be read: the caller's own error stands)."""
    try:
        shown, total = duplicate_keys(results, key)
    except Exception:  # polars' and the file system's errors: never hide the first error
        return None
    if not shown:
        return None
    more = f"; and {total - len(shown):,} more key values" if total > len(shown) else ""
    return (
        f"upsert needs each key ({', '.join(key)}) once, but the results repeat "
        f"{total:,} key {'value' if total == 1 else 'values'}: " + "; ".join(shown) + more
    )
