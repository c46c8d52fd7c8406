"""Drift: what a published table holds now against what state recorded publishing.

Compared: whether the table exists, its columns (names and types as the database spells
them) and its exact row count. Ignored: estimated row counts (the catalog's guess),
publications made through an API that reports no columns (trifacta), and tables a
target no longer points at.
"""

from __future__ import annotations

from runner.plan.model import Drift
from runner.plan.options import table_ref
from runner.plan.stages import Described, Scope
from runner.plan.words import plural
from runner.spec.model import Spec
from runner.state.model import PublicationRecord, State
from runner.targets.base import TableInfo


def columns_of(info: TableInfo) -> list[list[str]]:
    return [[c.name, c.sql_type] for c in info.columns]


def table_drift(
    address: str, pub: PublicationRecord, info: TableInfo | None, hint: str
) -> Drift | None:
    """The drift of one published table, or None when it holds what publish left there."""
    if info is None:
        return Drift(
            address,
            "table_dropped",
            f"{pub.table} was dropped outside publish{hint}",
            pub.rows_after,
            None,
        )
    if not pub.columns:
        return None  # published through an API that reports no columns or rows (trifacta)
    if columns_of(info) != [list(c) for c in pub.columns]:
        return Drift(
            address,
            "columns_changed",
            f"the columns of {pub.table} changed outside publish{hint}",
            pub.columns,
            columns_of(info),
        )
    if not info.rows_estimated and info.rows != pub.rows_after:
        return Drift(
            address,
            "rows_changed",
            f"{pub.table} holds {plural(info.rows, 'row')}, {pub.rows_after:,} when publish "
            f"last wrote it{hint}",
            pub.rows_after,
            info.rows,
        )
    return None


def published_drift(
    spec: Spec, state: State, scope: Scope, described: Described, changing: set[str]
) -> list[Drift]:
    """The drift of every published table in scope whose connection was described."""
    out: list[Drift] = []
    for name, pub in sorted(state.publications.items()):
        target = spec.targets.get(name)
        if (
            target is None
            or target.address not in scope
            or target.connection not in described.connections
        ):
            continue
        ref = table_ref(target)
        if str(ref) != pub.table:
            continue
        hint = (
            ""
            if target.address in changing
            else f"; `publish plan --replace {target.address}` publishes it again"
        )
        found = table_drift(target.address, pub, described.tables.get(ref), hint)
        if found is not None:
            out.append(found)
    return out
