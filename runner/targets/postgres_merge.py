"""PostgreSQL upsert: the staged rows into the table, replacing the rows with their key.

First ``LOCK TABLE ... IN SHARE ROW EXCLUSIVE MODE``: readers go on, other writers wait
for the commit, so no key appears or goes between the statements' snapshot and their
writes (PostgreSQL's MERGE raises a unique violation in that race rather than
updating), ``work_mem`` is raised for the transaction so the join of the stage with
the table stays in memory, and JIT compilation is turned off. Then, on PostgreSQL 15
and later, one ``MERGE INTO table USING stage ON key`` that updates a matched row only
when one of its values differs and inserts the rest. Older servers, and tables MERGE
refuses (a rule on the table), take an ``UPDATE ... FROM stage`` of the rows that differ
and an ``INSERT ... SELECT`` of the keys not in the table (after a query that refuses a
stage repeating a key of the table, which the UPDATE would apply once, silently).

Measured (EXPLAIN ANALYZE, 1M staged rows into a 1M-row table, half new): the previous
``INSERT ... ON CONFLICT DO UPDATE WHERE`` wrote ~2M WAL records (it locks every matched
row, even one it leaves alone, and confirms each speculative insert) where MERGE writes
~1M, and the join spilled to disk at the default 4 MB ``work_mem``; MERGE took about a
third less time for the same staged rows (bench/load.py, key postgres/upsert, has the
end-to-end figures).

A matched row whose values are all the same is left alone (no new row version, index
entry or dead tuple; a row trigger does not fire). Values are compared exactly, by type:
integers, booleans, dates, timestamps, uuids and bytes by equality (equal means the
same stored value); text in the "C" collation (byte for byte, so two strings a
case-insensitive collation calls equal still differ); floats as numbers and, where
the old value is 0 or NaN, by their binary form (-0 and 0, or two NaNs, differ);
numerics by their binary form (1.0 and 1.00 differ); anything else as text in "C".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

#: the first server version with MERGE
MERGE_VERSION = 150_000
#: the first server version with the ``jit`` setting
JIT_VERSION = 110_000
#: ``work_mem`` for the join of the stage and the table (kB), raised for the transaction
#: where it is lower: a 1M-row table's keys hash in ~55 MB (at the default 4 MB the hash
#: spilled to disk in 16-32 batches)
WORK_MEM_KB = 256 * 1024

#: types whose equality means the same stored value
_EXACT = re.compile(
    r"(smallint|integer|bigint|boolean|date|uuid|bytea"
    r"|timestamp(\(\d+\))? with(out)? time zone|time(\(\d+\))? without time zone)$"
)
_TEXT = re.compile(r"(text|character varying(\(\d+\))?|character(\(\d+\))?)$")
_BINARY = {"double precision": "float8send", "real": "float4send"}


def compared(column: str, sql_type: str, side: str) -> sql.Composable:
    """``side.column`` in a form whose ``IS DISTINCT FROM`` is exact for ``sql_type`` (for
    floats, with :func:`differs`' test of 0 and NaN)."""
    value = sql.SQL("{}.{}").format(sql.Identifier(side), sql.Identifier(column))
    if _EXACT.match(sql_type) or sql_type in _BINARY:  # floats: see differs()
        return value
    if _TEXT.match(sql_type):
        return sql.SQL('{} collate "C"').format(value)
    if sql_type.startswith("numeric"):
        return sql.SQL("numeric_send({})").format(value)
    return sql.SQL('{}::text collate "C"').format(value)


def differs(values: Sequence[str], types: Mapping[str, str], old: str, new: str) -> sql.Composed:
    """``(old.a, old.b) is distinct from (new.a, new.b)``, each value compared exactly.

    A float is compared as a number, and where the old value is 0 or NaN (the only values
    equal to a value stored differently: -0, another NaN) by its binary form too: the
    binary form of every float (``float8send``, a bytea each) cost ~5 % of a MERGE.
    """
    row = sql.SQL("({}) is distinct from ({})").format(
        *(
            sql.SQL(", ").join(compared(n, types.get(n, ""), side) for n in values)
            for side in (old, new)
        )
    )
    floats = [n for n in values if types.get(n, "") in _BINARY]
    if not floats:
        return row
    edges = (
        sql.SQL("({0}.{2} in ('0', 'NaN') and {3}({0}.{2}) <> {3}({1}.{2}))").format(
            sql.Identifier(old),
            sql.Identifier(new),
            sql.Identifier(n),
            sql.SQL(_BINARY[types[n]]),
        )
        for n in floats
    )
    return sql.SQL("({})").format(sql.SQL(" or ").join([row, *edges]))


def upsert(
    cur: psycopg.Cursor[Any],
    table: sql.Composable,
    stage: sql.Identifier,
    names: Sequence[str],
    key: Sequence[str],
    types: Mapping[str, str],
) -> None:
    """The staged rows into ``table`` (which has a unique index on ``key``)."""
    merge = Merge(table, stage, tuple(names), tuple(key), types)
    cur.execute(sql.SQL("lock table {} in share row exclusive mode").format(table))
    cur.execute("select setting::bigint from pg_settings where name = 'work_mem'")
    row = cur.fetchone()
    if row is not None and int(row[0]) < WORK_MEM_KB:
        cur.execute(f"set local work_mem = '{WORK_MEM_KB}kB'")
    if cur.connection.info.server_version >= JIT_VERSION:
        # JIT pays on long analytic queries, not on one pass of DML: 1M staged rows into a
        # 1M-row table cost ~124k, past jit_above_cost (100k), and past 500k LLVM also
        # inlines and optimises; perf showed its compile at ~11% of such a MERGE's time
        cur.execute("set local jit = off")
    if cur.connection.info.server_version >= MERGE_VERSION:
        cur.execute("savepoint publish_merge")
        try:
            cur.execute(merge.merge())
            cur.execute("release savepoint publish_merge")
            return
        except psycopg.errors.FeatureNotSupported:  # a rule on the table, for one
            cur.execute("rollback to savepoint publish_merge")
    # MERGE missing or refused: an UPDATE would apply one of two staged rows with the same
    # key silently, so that is refused first; a repeated new key fails on the unique index
    if cur.execute(merge.repeated_key()).fetchone() is not None:
        raise psycopg.errors.CardinalityViolation("the staged rows repeat a key of the table")
    if merge.values:
        cur.execute(merge.update())
    cur.execute(merge.insert())


@dataclass(frozen=True)
class Merge:
    """The statements that bring the rows of ``stage`` into ``table`` (aliases s and t)."""

    table: sql.Composable
    stage: sql.Identifier
    names: tuple[str, ...]
    key: tuple[str, ...]
    #: the table's column types by name (``format_type``)
    types: Mapping[str, str]

    @property
    def values(self) -> list[str]:
        """The columns that are not the key."""
        return [n for n in self.names if n not in self.key]

    def merge(self) -> sql.Composed:
        """``MERGE INTO table t USING stage s ON key WHEN MATCHED AND differs THEN UPDATE
        ... WHEN NOT MATCHED THEN INSERT ...``."""
        matched: sql.Composable = sql.SQL("")
        if self.values:
            matched = sql.SQL(" when matched and {} then update set {}").format(
                differs(self.values, self.types, "t", "s"), self._assignments()
            )
        return sql.SQL(
            "merge into {} as t using {} as s on {}{} when not matched then insert ({}) values ({})"
        ).format(self.table, self.stage, self._match(), matched, self._columns(), self._staged())

    def repeated_key(self) -> sql.Composed:
        """A query returning a row when two staged rows have the key of one table row."""
        keys = sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(k)) for k in self.key)
        return sql.SQL(
            "select 1 from {} as s where exists (select from {} as t where {}) "
            "group by {} having count(*) > 1 limit 1"
        ).format(self.stage, self.table, self._match(), keys)

    def update(self) -> sql.Composed:
        """The UPDATE of the table's rows whose staged values differ."""
        return sql.SQL("update {} as t set {} from {} as s where {} and {}").format(
            self.table,
            self._assignments(),
            self.stage,
            self._match(),
            differs(self.values, self.types, "t", "s"),
        )

    def insert(self) -> sql.Composed:
        """The INSERT of the staged rows whose key is not in the table."""
        return sql.SQL(
            "insert into {} ({}) select {} from {} as s where not exists "
            "(select from {} as t where {})"
        ).format(self.table, self._columns(), self._staged(), self.stage, self.table, self._match())

    def _match(self) -> sql.Composed:
        return sql.SQL(" and ").join(
            sql.SQL("t.{0} = s.{0}").format(sql.Identifier(k)) for k in self.key
        )

    def _assignments(self) -> sql.Composed:
        return sql.SQL(", ").join(
            sql.SQL("{0} = s.{0}").format(sql.Identifier(n)) for n in self.values
        )

    def _columns(self) -> sql.Composed:
        return sql.SQL(", ").join(map(sql.Identifier, self.names))

    def _staged(self) -> sql.Composed:
        return sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(n)) for n in self.names)
