"""Incoming rows whose unique key the table already holds, for an append.

``load`` and ``createAndLoad`` add rows to a table that exists: a key the table already
holds under its primary key or a unique index fails the INSERT at apply. The plan knows
the incoming rows (a preview), so it reads the key columns of the table (narrow, in
batches, canonical as the row diff compares them); :mod:`runner.plan.table_rules` names
the first clashing value and its rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from runner.results import ResultSet
from runner.rowdiff import readers, results_rows, sqlite_arrow
from runner.rowdiff.staging import LOC
from runner.targets.base import TableInfo, TableTarget


def unique_keys(table: TableInfo, names: Sequence[str]) -> list[tuple[str, ...]]:
    """The table's primary key and unique keys whose columns are all in ``names``."""
    keys = [table.primary_key, *table.unique_keys]
    return [k for k in dict.fromkeys(keys) if k and all(c in names for c in k)]


def _incoming(results: ResultSet, vendor: str, key: list[str]) -> pl.DataFrame:
    frames = [
        f.drop_nulls(key).select(*key, LOC)  # NULL never clashes in a unique index
        for f in results_rows.frames(results, key, vendor)
    ]
    return pl.concat(frames) if frames else pl.DataFrame()


def _held(target: TableTarget, table: TableInfo, columns: list[tuple[str, str]]) -> pl.DataFrame:
    key = [n for n, _ in columns]

    def read(arrow: bool) -> pl.DataFrame:
        frames = [
            f.select(key).drop_nulls().unique()
            for f in readers.table_frames(target, table.ref, columns, arrow=arrow)
        ]
        return pl.concat(frames).unique() if frames else pl.DataFrame(schema=key)

    try:
        return read(True)
    except sqlite_arrow.ReadAgain:  # a column of mixed storage classes: as JSON arrays
        return read(False)


def clash(
    results: ResultSet, target: TableTarget, table: TableInfo, key: tuple[str, ...]
) -> pl.DataFrame | None:
    """The incoming rows whose ``key`` the table already holds (key columns and their row
    number from 0 in :data:`LOC`, in order), or None when none clash."""
    if not readers.supports(target):
        return None
    logical = {c.name: c.type for c in results.schema.columns}
    names = list(key)
    incoming = _incoming(results, target.vendor, names)
    if not incoming.height:
        return None
    held = _held(target, table, [(n, logical[n]) for n in names])
    if not held.height:
        return None
    hits = incoming.join(held.cast(incoming.select(names).schema), on=names, how="semi")
    return hits.sort(LOC) if hits.height else None
