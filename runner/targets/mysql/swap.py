"""How staged rows become the table's rows on MySQL / MariaDB, where DDL commits.

- a missing table (any action but ``load``): ``RENAME TABLE staging TO target``;
- ``truncateAndLoad``: the staging table already is a copy of the target's columns and
  indexes; ``RENAME TABLE target TO old, staging TO target`` (one atomic statement),
  ledger row, ``DROP TABLE old``. Grants (per table name) and views (which name the
  table) survive. ``CREATE TABLE ... LIKE`` copies neither foreign keys nor triggers, and
  foreign keys of other tables follow a renamed table, so a table that has triggers,
  foreign keys of its own, or foreign keys of other tables pointing at it is not
  swapped: ``DELETE`` + ``INSERT ... SELECT`` from the staging table and the ledger row
  in one InnoDB transaction instead (triggers fire, foreign keys are checked: a
  violation is an error and the table keeps its rows). Foreign keys pointing at it
  with ``ON DELETE CASCADE`` / ``SET NULL`` would change the other tables' rows, so
  that case is refused;
- ``dropAndLoad``: the same swap, with a staging table built from the results' schema
  (its triggers and foreign keys go with the old table); refused, before anything is
  touched, when foreign keys of other tables point at the table;
- ``upsert`` (and ``load`` / ``createAndLoad`` without LOCAL INFILE): a unique key on the
  key columns is added if missing (DDL, committed before the data step), then
  ``INSERT ... SELECT`` (``ON DUPLICATE KEY UPDATE``) and the ledger row in one
  transaction. With LOCAL INFILE, an upsert that ``LOAD DATA ... REPLACE`` does exactly
  (:meth:`SwapPolicy.can_replace`) needs no staging table: the target's loader REPLACEs
  into the table and writes the ledger row in one transaction.

The one window is between the ``RENAME`` and the ledger ``INSERT`` (one round trip): a
crash there leaves the new rows published without a ledger row, so a retry publishes the
same rows again, which for the replacing actions gives the same table. An error after
the swap says what state the table is in, never that it is unchanged.
"""

from __future__ import annotations

import re
from typing import Any

import pymysql

from runner.errors import TargetError
from runner.spec.model import Connection
from runner.targets import _common as common
from runner.targets import _ledger
from runner.targets.base import LEDGER_TABLE, PublishRequest, TableInfo, TableRef
from runner.targets.dialect import Dialect
from runner.targets.mysql.types import quote

NAME_LIMIT = 64
DEADLOCK = 1213  # ER_LOCK_DEADLOCK: the victim's transaction was rolled back
CONNECTION_LOST = (2006, 2013, 2055)  # server gone away, lost during query / reading
_NO_ACTION = ("RESTRICT", "NO ACTION")
#: key types whose values compare equal in MySQL exactly when they are equal in the
#: results (text may compare without case or trailing spaces, floats as rounded)
_EXACT_KEYS = frozenset({"int8", "int16", "int32", "int64", "date"})
_EXACT_KEY_COLUMNS = frozenset({"tinyint", "smallint", "mediumint", "int", "bigint", "date"})


def message(exc: pymysql.MySQLError) -> str:
    return str(exc.args[1]) if len(exc.args) > 1 else str(exc)


class SwapPolicy:
    """The MySQL target's rules for putting staged rows in place (see the module doc)."""

    connection: Connection
    dialect: Dialect

    def _database(self, ref: TableRef) -> str:
        raise NotImplementedError

    def _name(self, ref: TableRef, table: str | None = None) -> str:
        return f"{quote(self._database(ref))}.{quote(table or ref.table)}"

    def can_swap(self, cur: Any, request: PublishRequest) -> bool:
        """Whether truncateAndLoad / dropAndLoad may replace the table by RENAME.

        dropAndLoad of a table that other tables' foreign keys point at is refused (the
        keys would follow the renamed old table and block its DROP); truncateAndLoad of a
        table with triggers or foreign keys (its own or pointing at it) is done by
        DELETE + INSERT instead (False), refused when a key pointing at it would cascade.
        """
        ref, db = request.ref, self._database(request.ref)
        cur.execute(
            "select CONSTRAINT_SCHEMA, TABLE_NAME, UNIQUE_CONSTRAINT_SCHEMA, "
            "REFERENCED_TABLE_NAME, DELETE_RULE from information_schema.REFERENTIAL_CONSTRAINTS "
            "where (UNIQUE_CONSTRAINT_SCHEMA = %s and REFERENCED_TABLE_NAME = %s) "
            "or (CONSTRAINT_SCHEMA = %s and TABLE_NAME = %s)",
            (db, ref.table, db, ref.table),
        )
        keys = cur.fetchall()
        incoming = sorted(
            {
                (f"{s}.{t}", str(rule).upper())
                for s, t, rs, rt, rule in keys
                if (rs, rt) == (db, ref.table) and (s, t) != (db, ref.table)
            }
        )
        if request.action == "dropAndLoad":
            if incoming:
                raise TargetError(
                    f"target.{request.target}: dropAndLoad cannot drop {ref}: foreign keys of "
                    f"{', '.join(sorted({t for t, _ in incoming}))} reference it; use "
                    "truncateAndLoad to keep it, or drop those foreign keys first. "
                    "The table is unchanged."
                )
            return True
        cascading = [f"{t} (on delete {r.lower()})" for t, r in incoming if r not in _NO_ACTION]
        if cascading:
            raise TargetError(
                f"target.{request.target}: truncateAndLoad would delete every row of {ref}, "
                f"and foreign keys of {', '.join(cascading)} would change those tables' "
                "rows too; use upsert, or change those foreign keys. The table is unchanged."
            )
        cur.execute(
            "select count(*) from information_schema.TRIGGERS "
            "where EVENT_OBJECT_SCHEMA = %s and EVENT_OBJECT_TABLE = %s",
            (db, ref.table),
        )
        return not keys and not int(cur.fetchone()[0])

    def can_replace(self, cur: Any, request: PublishRequest, info: TableInfo) -> bool:
        """Whether ``LOAD DATA ... REPLACE`` into the table is exactly this upsert.

        REPLACE deletes the row of a key it meets and inserts the new one: the same table
        as updating that row when the results hold every column of the table, the key
        is the table's only unique key, keys compare as their values (integers, dates),
        and nothing sees a delete: no trigger, no foreign key of or to the table. A key
        repeated in the results is checked by the caller (the staging path fails on it).
        """
        schema, key = request.results.schema, sorted(request.key)
        if len(info.columns) != len(schema.columns):
            return False
        for name in key:
            column = schema.get(name)
            have = [c for c in info.columns if self.dialect.same_name(c.name, name)]
            if column is None or column.type not in _EXACT_KEYS or len(have) != 1:
                return False
            if re.sub(r"\(.*", "", have[0].sql_type).split()[0] not in _EXACT_KEY_COLUMNS:
                return False
        if self._unique_keys(cur, request.ref) != [key]:
            return False
        db, table = self._database(request.ref), request.ref.table
        cur.execute(
            "select (select count(*) from information_schema.REFERENTIAL_CONSTRAINTS "
            "where (UNIQUE_CONSTRAINT_SCHEMA = %s and REFERENCED_TABLE_NAME = %s) "
            "or (CONSTRAINT_SCHEMA = %s and TABLE_NAME = %s)) + (select count(*) from "
            "information_schema.TRIGGERS where EVENT_OBJECT_SCHEMA = %s and "
            "EVENT_OBJECT_TABLE = %s)",
            (db, table, db, table, db, table),
        )
        return not int(cur.fetchone()[0])

    def swap(
        self, cur: Any, request: PublishRequest, stage: str, rows: int, *, replace: bool
    ) -> None:
        """RENAME the staging table into place (swapping out the old table), then the
        ledger row, then DROP the old table. Errors after the RENAME say what is where."""
        ref = request.ref
        old = common.staging_name("old", ref.table, request.run_id, NAME_LIMIT)
        renames = [f"{self._name(ref, stage)} to {self._name(ref)}"]
        if replace:
            renames.insert(0, f"{self._name(ref)} to {self._name(ref, old)}")
        doing = (
            f"{common.where(self.connection)}: target.{request.target}: {request.action} into {ref}"
        )
        try:
            cur.execute("rename table " + ", ".join(renames))
        except pymysql.OperationalError as exc:
            if exc.args and exc.args[0] in CONNECTION_LOST:
                raise TargetError(
                    f"{doing}: the connection was lost during the RENAME swap ({message(exc)}); "
                    f"RENAME TABLE is atomic, so {ref} holds either its previous rows or the "
                    "new ones; publish again to be sure"
                ) from None
            raise
        try:
            ledger = self._name(ref, LEDGER_TABLE)
            _ledger.write_alone(cur, ledger, self.dialect.ledger, request, rows, DEADLOCK)
        except pymysql.MySQLError as exc:
            raise TargetError(
                f"{doing}: {ref} now holds the {rows} new rows, but the ledger row could not "
                f"be written ({message(exc)}); publishing again loads the same rows again"
                + (f"; the previous table is kept as {old}" if replace else "")
            ) from None
        if not replace:
            return
        try:
            cur.execute(f"drop table if exists {self._name(ref, old)}")
        except pymysql.MySQLError as exc:
            raise TargetError(
                f"{doing}: published: {ref} holds the {rows} new rows and the ledger says so, "
                f"but the previous table, renamed to {old}, could not be dropped "
                f"({message(exc)}); drop it by hand (the next publish of this table tries again)"
            ) from None

    def merge(self, cur: Any, request: PublishRequest, stage: str, rows: int) -> None:
        """INSERT ... SELECT (ON DUPLICATE KEY UPDATE for upsert) + ledger, one transaction."""
        ref, names = request.ref, request.results.schema.names
        if request.action == "upsert":
            self._ensure_unique(cur, request)
        cols = ", ".join(quote(n) for n in names)
        sql = f"insert into {self._name(ref)} ({cols}) select {cols} from {self._name(ref, stage)}"
        if request.action == "upsert":
            updates = [n for n in names if n not in request.key] or list(request.key[:1])
            sql += " on duplicate key update " + ", ".join(
                f"{quote(n)} = values({quote(n)})" for n in updates
            )
        cur.connection.begin()
        if request.action == "truncateAndLoad":
            self._delete_all(cur, request)
        cur.execute(sql)
        _ledger.write(cur, self._name(ref, LEDGER_TABLE), self.dialect.ledger, request, rows)
        cur.connection.commit()

    def _delete_all(self, cur: Any, request: PublishRequest) -> None:
        """DELETE every row (in the caller's transaction); a row other tables reference
        fails with their names."""
        try:
            cur.execute(f"delete from {self._name(request.ref)}")
        except pymysql.IntegrityError as exc:
            raise TargetError(
                f"{common.where(self.connection)}: target.{request.target}: truncateAndLoad "
                f"into {request.ref} failed: it deletes every row first, and rows of another "
                f"table reference them ({message(exc)}); use upsert, or delete those "
                "rows first. The table is unchanged."
            ) from None

    def _ensure_unique(self, cur: Any, request: PublishRequest) -> None:
        ref = request.ref
        if sorted(request.key) in self._unique_keys(cur, ref):
            return
        index = common.staging_name("key", ref.table, "", NAME_LIMIT)
        cur.execute(
            f"alter table {self._name(ref)} add unique key {quote(index)} "
            f"({', '.join(quote(k) for k in request.key)})"
        )

    def _unique_keys(self, cur: Any, ref: TableRef) -> list[list[str]]:
        """The column names of each unique index of the table, sorted."""
        cur.execute(
            "select INDEX_NAME, group_concat(COLUMN_NAME order by SEQ_IN_INDEX separator '\\0') "
            "from information_schema.STATISTICS where TABLE_SCHEMA = %s and TABLE_NAME = %s "
            "and NON_UNIQUE = 0 group by INDEX_NAME",
            (self._database(ref), ref.table),
        )
        return [sorted(str(cols).split("\0")) for _, cols in cur.fetchall()]
