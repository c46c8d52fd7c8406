"""Classify a table's rows against incoming results, by the publish action.

    replace (truncateAndLoad, dropAndLoad): added / removed / changed / unchanged
    upsert: new keys / changed / unchanged / kept (rows that stay although absent)
    append (create, load, createAndLoad): appended

Rows are matched by the target's ``key``, else the table's primary key, else as a
multiset of whole rows (then a changed row counts as one removed and one added). Both
sides are narrowed (:mod:`runner.rowdiff.staging`) to (key, row hash, locator): hash
joins in polars' streaming engine, whole rows read again only for the samples (by
locator: the table's rowid or ctid, the results' row number).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import polars as pl

from runner.results import ResultSet, iter_frames
from runner.rowdiff import canon, in_database, readers, results_rows, sqlite_arrow, staging
from runner.rowdiff.model import (
    INFERRED_NOTE,
    Match,
    RowDiff,
    SampleRow,
    ValueChange,
    mode_of,
    named_counts,
)
from runner.rowdiff.staging import HASH, LOC, Side
from runner.spec.secrets import redact
from runner.targets.base import TableInfo, TableRef, TableTarget

DEFAULT_SAMPLES = 5
DEFAULT_ROWS_LIMIT = 2_000_000


@dataclass(frozen=True)
class DiffOptions:
    samples: int = DEFAULT_SAMPLES
    rows_limit: int = DEFAULT_ROWS_LIMIT


def _text(value: object) -> str | None:
    return None if value is None else redact(str(value))


def _display(frame: pl.DataFrame, columns: Sequence[str]) -> list[dict[str, str | None]]:
    if not frame.height:  # nothing read again (no columns either): no sample rows to show
        return []
    shown = frame.select([canon.display_expr(c, frame.schema[c]) for c in columns])
    return [{k: _text(v) for k, v in row.items()} for row in shown.iter_rows(named=True)]


def _head_samples(results: ResultSet, n: int) -> tuple[SampleRow, ...]:
    if n <= 0:
        return ()
    names = list(results.schema.names)
    exprs = [canon.results_expr(c.name, c.type) for c in results.schema.columns]
    for frame in iter_frames(results, batch_rows=max(n, 1)):
        rows = _display(frame.head(n).select(exprs), names)
        return tuple(SampleRow(row=r) for r in rows)
    return ()


def _without_table(results: ResultSet, action: str, opts: DiffOptions) -> RowDiff:
    mode = mode_of(action)
    cls = {"replace": "added", "upsert": "new", "append": "appended"}[mode]
    samples = _head_samples(results, opts.samples)
    return RowDiff(
        mode=mode,
        match="none",
        counts={c: 0 for c in _classes(mode)} | {cls: results.rows},
        samples={cls: samples} if samples else {},
        compared=results.schema.names,
    )


def _classes(mode: str) -> tuple[str, ...]:
    from runner.rowdiff.model import CLASSES

    return CLASSES[mode]


def _match_key(
    key: Sequence[str], table: TableInfo, compared: Sequence[str]
) -> tuple[Match, tuple[str, ...]]:
    if key and all(k in compared for k in key):
        return "key", tuple(key)
    pk = tuple(table.primary_key)
    if pk and all(k in compared for k in pk):
        return "primaryKey", pk
    return "rows", ()


def diff_table(
    results: ResultSet,
    action: str,
    table: TableInfo | None,
    target: TableTarget | None,
    *,
    key: Sequence[str] = (),
    options: DiffOptions = DiffOptions(),
) -> RowDiff:
    """The row-level diff of publishing ``results`` with ``action`` to ``table``."""
    mode = mode_of(action)
    if table is None or target is None:
        return _without_table(results, action, options)
    if mode == "append":
        return _appended(results, table, options)
    names = {c.name for c in table.columns}
    compared = tuple(n for n in results.schema.names if n in names)
    added = tuple(n for n in results.schema.names if n not in names)
    removed = tuple(c.name for c in table.columns if c.name not in set(results.schema.names))
    match, keys = _match_key(key, table, compared)
    base = RowDiff(
        mode=mode,
        match=match,
        counts={},
        key=keys,
        compared=compared,
        columns_added=added,
        columns_removed=removed,
    )
    logical = {c.name: c.type for c in results.schema.columns}
    # without a key, the first integer or text columns may identify rows (checked below)
    narrow = keys or tuple(n for n in compared if logical[n] in _KEYLIKE)[:2]
    if table.rows > options.rows_limit:
        return in_database.diff(base, results, target, table, options.rows_limit, narrow)
    if not readers.supports(target):
        return _replace(base, skipped=f"rows of {target.vendor} tables cannot be read for a diff")
    rows = _Rows(results, target, table.ref, [(n, logical[n]) for n in compared])
    # the results are hashed while the database sends the table
    incoming = staging.in_background("results", rows.results(), compared, narrow)
    try:
        old = staging.narrowed("table", rows.table(), compared, narrow)
    except sqlite_arrow.ReadAgain:  # a column of mixed storage classes: as JSON arrays
        rows = dataclasses.replace(rows, arrow=False)
        old = staging.narrowed("table", rows.table(arrow=False), compared, narrow)
    finally:
        new = incoming.result()
    if not keys:
        keys = _inferred(old, new, narrow)
        if keys:
            note = (
                f"{INFERRED_NOTE}{keys[0]}, unique in the table and the results "
                "(set key: on the target to choose the columns)"
            )
            base = _replace(base, match="inferred", key=keys, note=note)
    if keys:
        dup = _duplicated(old, keys) or _duplicated(new, keys)
        if dup:
            note = f"{', '.join(keys)} is not unique in the {dup}: rows matched as a multiset"
            base = _replace(base, match="rows", key=(), note=note, duplicated=dup)
            keys = ()
    if keys:
        return _by_key(base, old, new, rows, options)
    return _by_rows(base, old, new, rows, options)


@dataclass(frozen=True)
class _Rows:
    """Where the whole rows of both sides are read (again, for the samples)."""

    results_set: ResultSet
    target: TableTarget
    ref: TableRef
    columns: list[tuple[str, str]]
    #: the table was narrowed from its Arrow read: read it again the same way, so that a
    #: row hashes as it did
    arrow: bool = True

    @property
    def compared(self) -> list[str]:
        return [n for n, _ in self.columns]

    def results(self) -> Iterable[pl.DataFrame]:
        return results_rows.frames(self.results_set, self.compared, self.target.vendor)

    def table(self, *, arrow: bool = True) -> Iterable[pl.DataFrame]:
        return readers.table_frames(self.target, self.ref, self.columns, arrow=arrow)

    def after(self, picked: pl.DataFrame, on: Sequence[str], limit: int | None) -> pl.DataFrame:
        """Rows of the results for ``picked`` rows of their narrow side (by row number)."""
        vendor = self.target.vendor
        if picked[LOC].null_count() == 0:
            locs = picked[LOC].to_list()
            found = results_rows.rows_at(self.results_set, self.compared, vendor, locs)
            if found is not None:
                return found.with_columns(staging.row_hash(self.compared))
        wanted = picked.select(list(on)).unique()
        return staging.matching(self.results(), self.compared, wanted, limit)

    def before(self, picked: pl.DataFrame, on: Sequence[str], limit: int | None) -> pl.DataFrame:
        """Rows of the table for ``picked`` rows of its narrow side (by locator if it has one).

        A row read by locator must still hash as it did (the table may have changed
        since it was read); otherwise the table is read again and matched on ``on``.
        """
        if picked[LOC].null_count() == 0:
            found = readers.rows_at(self.target, self.ref, self.columns, picked[LOC].to_list())
            if found.height:
                found = found.with_columns(staging.row_hash(self.compared))
                same = found.join(picked.select(LOC, HASH), on=[LOC, HASH], how="semi")
                if same.height == picked.height:
                    return same
        wanted = picked.select(list(on)).unique()
        try:
            return staging.matching(self.table(arrow=self.arrow), self.compared, wanted, limit)
        except sqlite_arrow.ReadAgain:
            return staging.matching(self.table(arrow=False), self.compared, wanted, limit)


_KEYLIKE = frozenset({"int8", "int16", "int32", "int64", "string"})


def _inferred(old: Side, new: Side, candidates: Sequence[str]) -> tuple[str, ...]:
    """The first candidate column without nulls or repeats on both sides, if any."""
    if not old.narrow.height or not new.narrow.height:
        return ()
    for column in candidates:
        if all(
            side.narrow[column].null_count() == 0
            and side.narrow[column].n_unique() == side.narrow.height
            for side in (old, new)
        ):
            return (column,)
    return ()


def _replace(diff: RowDiff, **changes: object) -> RowDiff:
    from dataclasses import replace

    return replace(diff, **changes)  # type: ignore[arg-type]


def _duplicated(side: Side, keys: Sequence[str]) -> str:
    if side.narrow.height and side.narrow.select(list(keys)).n_unique() < side.narrow.height:
        return side.label
    return ""


def _appended(results: ResultSet, table: TableInfo, opts: DiffOptions) -> RowDiff:
    names = {c.name for c in table.columns}
    samples = _head_samples(results, opts.samples)
    return RowDiff(
        mode="append",
        match="none",
        counts={"appended": results.rows},
        samples={"appended": samples} if samples else {},
        compared=tuple(n for n in results.schema.names if n in names),
        columns_added=tuple(n for n in results.schema.names if n not in names),
        columns_removed=tuple(
            c.name for c in table.columns if c.name not in set(results.schema.names)
        ),
    )


def _by_key(base: RowDiff, old: Side, new: Side, rows: _Rows, opts: DiffOptions) -> RowDiff:
    keys = list(base.key)
    left, right = _keyed(old, new, keys), _keyed(new, old, keys)
    # the streaming engine joins in a fraction of the memory of an eager join
    joined = (
        left.lazy()
        .drop(LOC)
        .join(
            right.lazy().drop(LOC),
            on=keys,
            how="full",
            coalesce=True,
            nulls_equal=True,
            suffix="_new",
        )
    )
    h_old, h_new = pl.col(HASH), pl.col(f"{HASH}_new")
    classes = {
        "added": h_old.is_null(),
        "removed": h_new.is_null(),
        "changed": h_old.is_not_null() & h_new.is_not_null() & (h_old != h_new),
        "unchanged": h_old.is_not_null() & h_new.is_not_null() & (h_old == h_new),
    }
    if base.mode == "upsert":
        names = {"added": "new", "removed": "kept", "changed": "changed", "unchanged": "unchanged"}
    else:
        names = {c: c for c in classes}
    # one join: the rows that differ (few, usually); the others are unchanged
    differ = joined.filter(~classes["unchanged"]).collect(engine="streaming")
    sums = differ.select([classes[c].sum().alias(c) for c in ("added", "removed", "changed")])
    found = {c: int(v or 0) for c, v in sums.row(0, named=True).items()}
    found["unchanged"] = left.height - found["removed"] - found["changed"]
    counts = {names[c]: found[c] for c in classes}
    picked = {
        cls: _located(
            differ.filter(classes[cls]).sort(keys, nulls_last=True).head(opts.samples), left, right
        )
        for cls in ("added", "removed", "changed")
        if opts.samples > 0 and counts[names[cls]]
    }
    samples = {names[c]: s for c, s in _key_samples(picked, rows, base).items()}
    return _replace(base, counts=counts, samples=samples)


def _located(picked: pl.DataFrame, left: pl.DataFrame, right: pl.DataFrame) -> pl.DataFrame:
    """``picked`` rows of the join with the locator of each side (``LOC``, ``LOC_new``)."""
    keys = [c for c in picked.columns if not c.startswith(HASH)]
    wanted = picked.select(keys)  # a few rows: the 1M-row sides are only probed
    old = left.join(wanted, on=keys, how="semi", nulls_equal=True).select(*keys, LOC)
    new = right.join(wanted, on=keys, how="semi", nulls_equal=True)
    new = new.select(*keys, pl.col(LOC).alias(f"{LOC}_new"))
    out = picked.join(old, on=keys, how="left", nulls_equal=True)
    return out.join(new, on=keys, how="left", nulls_equal=True)


def _keyed(side: Side, other: Side, keys: list[str]) -> pl.DataFrame:
    """A side's (keys, hash, locator) frame, empty ones of the right schema, null locators."""
    if side.narrow.height:
        narrow = side.narrow.select(*keys, HASH, *([LOC] if side.located else []))
    else:
        known = other.narrow.schema if other.narrow.height else {}
        schema: dict[str, pl.DataType] = {k: known.get(k, pl.String()) for k in keys}
        narrow = pl.DataFrame(schema={**schema, HASH: pl.UInt64()})
    if LOC not in narrow.columns:
        narrow = narrow.with_columns(pl.lit(None, dtype=pl.Int64).alias(LOC))
    return narrow


def _key_samples(
    picked: dict[str, pl.DataFrame], rows: _Rows, base: RowDiff
) -> dict[str, tuple[SampleRow, ...]]:
    """The sample rows of each class: after values from the results, before from the table."""
    keys = list(base.key)
    compared = list(base.compared)
    olds = [p.select(*keys, HASH, LOC) for c, p in picked.items() if c != "added"]
    news = [
        p.select(*keys, pl.col(f"{LOC}_new").alias(LOC))
        for c, p in picked.items()
        if c != "removed"
    ]
    before = pl.concat(olds) if olds else pl.DataFrame()
    before = rows.before(before, keys, before.height) if olds else before
    after = pl.concat(news) if news else pl.DataFrame()
    after = rows.after(after, keys, after.height) if news else after

    def shown(frame: pl.DataFrame) -> dict[tuple[str | None, ...], dict[str, str | None]]:
        if not frame.height:
            return {}
        return {tuple(r[k] for k in keys): r for r in _display(frame, compared)}

    shown_before, shown_after = shown(before), shown(after)
    out: dict[str, tuple[SampleRow, ...]] = {}
    for cls, chosen in picked.items():
        samples: list[SampleRow] = []
        for k in _display(chosen, keys):
            ident = tuple(k[c] for c in keys)
            b, a = shown_before.get(ident), shown_after.get(ident)
            if cls == "changed" and a is not None and b is not None:
                changes = tuple(
                    ValueChange(c, b[c], a[c]) for c in compared if b[c] != a[c] and c not in keys
                )
                samples.append(SampleRow(key=k, changes=changes))
            else:
                samples.append(SampleRow(key=k, row=(a if cls == "added" else b) or {}))
        out[cls] = tuple(samples)
    return out


def _by_rows(base: RowDiff, old: Side, new: Side, rows: _Rows, opts: DiffOptions) -> RowDiff:
    def counted(side: Side, name: str) -> pl.DataFrame:
        if not side.narrow.height:
            return pl.DataFrame(schema={HASH: pl.UInt64, name: pl.UInt32})
        return side.narrow.group_by(HASH).len(name=name)

    joined = counted(old, "n_old").join(counted(new, "n_new"), on=HASH, how="full", coalesce=True)
    joined = joined.with_columns(
        pl.col("n_old").fill_null(0).cast(pl.Int64), pl.col("n_new").fill_null(0).cast(pl.Int64)
    )
    more = (pl.col("n_new") - pl.col("n_old")).clip(lower_bound=0)
    fewer = (pl.col("n_old") - pl.col("n_new")).clip(lower_bound=0)
    same = pl.min_horizontal("n_old", "n_new")
    row = joined.select(
        more.sum().alias("added"), fewer.sum().alias("removed"), same.sum().alias("unchanged")
    ).row(0, named=True)
    counts = {
        "added": int(row["added"] or 0),
        "removed": int(row["removed"] or 0),
        "changed": 0,
        "unchanged": int(row["unchanged"] or 0),
    }
    counts = named_counts(base.mode, counts)  # upsert always has a key; for completeness
    samples: dict[str, tuple[SampleRow, ...]] = {}
    n = opts.samples
    for cls, excess in (("added", more), ("removed", fewer)):
        if n <= 0 or not counts.get(cls):
            continue
        hashes = joined.filter(excess > 0).sort(HASH).head(n).select(HASH, excess.alias("n"))
        side = new if cls == "added" else old
        # as many copies of a row as there are more of them on this side
        copies = side.narrow.join(hashes, on=HASH).filter(
            pl.int_range(pl.len()).over(HASH) < pl.col("n")
        )
        picked = copies.drop("n").sort(HASH).head(n)
        if not side.located:
            picked = picked.with_columns(pl.lit(None, dtype=pl.Int64).alias(LOC))
        if cls == "added":
            found = rows.after(picked, [HASH], None)
        else:
            found = rows.before(picked, [HASH], None)
        if found.height:  # read again by hash, every copy comes back: as many as picked
            want = picked.group_by(HASH).len("n")
            found = found.join(want, on=HASH).filter(
                pl.int_range(pl.len()).over(HASH) < pl.col("n")
            )
            found = found.sort(HASH).head(n)
        samples[cls] = tuple(SampleRow(row=r) for r in _display(found, list(base.compared)))
    note = (
        base.note
        or "no key or primary key: rows matched as a multiset of whole rows (a changed row counts as removed and added)"
    )
    return _replace(base, counts=counts, samples=samples, note=note)
