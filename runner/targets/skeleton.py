"""One publish, the same sequence on every database.

:meth:`TableTargetBase.publish` is the whole sequence; a vendor supplies its
:class:`~runner.targets.dialect.Dialect` and these hooks (and nothing else):

``session(request)``
    A context manager yielding a DB-API cursor on which the whole publish runs: the
    vendor's connection, transaction and lock. Leaving it normally commits; an exception
    rolls back (where DDL commits, the vendor orders its steps so that nothing is
    visible before :meth:`commit_rows`) and becomes a :class:`TargetError`.
``table_in(cur, ref)``
    The table's columns as the session sees them, or None.
``qualified(ref, table=None)``
    The table's name (or another table's in the same schema, e.g. the ledger's) as
    SQL text, quoted by the driver.
``load(cur, request, info, progress)``
    Put every row of the results where the action wants them (the table, or a staging
    table), with the vendor's bulk path, and return the number of rows the database
    reports it loaded.
``commit_rows(cur, request, info, loaded)`` (optional)
    Make the loaded rows the table's rows and write the ledger row. By default the rows
    are already in place and the ledger row joins the same transaction; MySQL swaps or
    merges a staging table here.
``check_table(request, info)`` (optional)
    Refuse an existing table the results cannot go into unchanged; by default every
    result column must exist.

The sequence: ledger lookup -> already published? -> action preconditions -> load ->
row-count check (the database's count against the results') -> commit_rows (ledger
write) -> describe -> result, with ``rows_after`` counted by the database.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Any

import polars as pl

from runner.errors import TargetError
from runner.plan.words import plural
from runner.spec.model import ACTIONS, Connection
from runner.targets import _ledger, alter
from runner.targets.base import (
    LEDGER_TABLE,
    ColumnInfo,
    Progress,
    PublishRequest,
    PublishResult,
    TableInfo,
    TableRef,
)
from runner.targets.dialect import Dialect
from runner.targets.duplicates import duplicates_message

#: errors reading the result files (not the database's)
READ_ERRORS: tuple[type[BaseException], ...] = (
    pl.exceptions.PolarsError,
    pl.exceptions.PanicException,
    OSError,
)


def place(request: PublishRequest) -> str:
    """``target.NAME: ACTION into REF``: how a publish names itself in errors."""
    return f"target.{request.target}: {request.action} into {request.ref}"


def check_request(request: PublishRequest) -> None:
    """An action this project knows, and for upsert a key of result columns."""
    if request.action not in ACTIONS:
        raise TargetError(
            f"target.{request.target}: unknown action {request.action!r}; "
            f"use one of {', '.join(ACTIONS)}"
        )
    if request.action != "upsert":
        return
    if not request.key:
        raise TargetError(f"target.{request.target}: upsert needs `key` (the key columns)")
    missing = [k for k in request.key if request.results.schema.get(k) is None]
    if missing:
        raise TargetError(
            f"target.{request.target}: key column {', '.join(map(repr, missing))} "
            "is not in the results"
        )


def check_exists(request: PublishRequest, info: TableInfo | None) -> None:
    """``create`` needs a new table, ``load`` an existing one."""
    if info is not None and request.action == "create":
        raise TargetError(
            f"target.{request.target}: {request.ref}: the table already exists and create "
            "only makes a new table; use createAndLoad, load, truncateAndLoad or dropAndLoad"
        )
    if info is None and request.action == "load":
        raise TargetError(
            f"target.{request.target}: {request.ref}: the table does not exist and load "
            "appends to one; use createAndLoad to create it"
        )


def column_problems(request: PublishRequest, info: TableInfo, dialect: Dialect) -> list[str]:
    """Result columns the table lacks."""
    return [
        f"column {c.name!r} of the results is not in the table"
        for c in request.results.schema.columns
        if not any(dialect.same_name(c.name, have.name) for have in info.columns)
    ]


def refuse_columns(request: PublishRequest, problems: list[str]) -> None:
    if problems:
        raise TargetError(
            f"target.{request.target}: {request.ref}: the columns do not match: "
            + "; ".join(problems)
            + "; use dropAndLoad to recreate the table from the results, or add the columns"
        )


class TableTargetBase:
    """The publish sequence; vendors implement the hooks of the module doc."""

    vendor: str
    dialect: Dialect
    connection: Connection
    #: number of catalog queries run by describe() so far (benchmarks print it)
    introspection_queries: int

    # -- types ----------------------------------------------------------------------

    def sql_type(self, logical: str) -> str:
        return self.dialect.sql_type(logical)

    def retype_problem(self, ref: TableRef, column: str, to_type: str) -> str | None:
        """Hook: the database's words when the table's values of ``column`` cannot become
        ``to_type`` (checked at plan before an onSchemaChange retype), or None."""
        return None

    def type_matches(self, column: ColumnInfo, logical: str) -> bool:
        raise NotImplementedError

    # -- the sequence ---------------------------------------------------------------

    def publish(self, request: PublishRequest, progress: Progress | None = None) -> PublishResult:
        """Publish the results with the request's action, atomically and idempotently."""
        check_request(request)
        started = time.monotonic()
        try:
            with self.session(request) as cur:
                result = self._sequence(cur, request, progress)
        except TargetError:
            repeated = request.action == "upsert" and duplicates_message(
                request.results, request.key
            )
            if repeated:  # the key values and their rows, not the staging table's name
                raise TargetError(f"{place(request)}: {repeated}; the table is unchanged") from None
            raise
        except READ_ERRORS as exc:
            where = request.results.files[0].parent if request.results.files else "?"
            text = str(exc).strip()
            raise TargetError(
                f"target.{request.target}: cannot read the {request.results.format} results "
                f"in {where}: {text.splitlines()[0] if text else repr(exc)}; "
                "the table is unchanged"
            ) from None
        return dataclasses.replace(result, seconds=time.monotonic() - started)

    def _sequence(
        self, cur: Any, request: PublishRequest, progress: Progress | None
    ) -> PublishResult:
        ref = request.ref
        info = self.table_in(cur, ref)
        ledger = self.ledger_name(ref)
        done = _ledger.lookup(cur, ledger, self.dialect.ledger, request) if info else None
        if info is not None and done is not None:  # the table holds this run already
            return PublishResult(0, self.count_in(cur, ref), info.columns, already_published=True)
        check_exists(request, info)
        if info is not None and request.action != "dropAndLoad":
            info = self.change_schema(cur, request, info)
            self.check_table(request, info)
        if request.locked is not None:
            request.locked()  # the table's lock is held; no row has moved yet
        loading = time.monotonic()  # the rate starts here, not during the wait for the lock
        loaded = self.load(cur, request, info, progress)
        self.check_count(request, loaded)
        self.commit_rows(cur, request, info, loaded)
        final = self.table_in(cur, ref)
        rows, columns = self.count_in(cur, ref), final.columns if final else ()
        return PublishResult(loaded, rows, columns, load_seconds=time.monotonic() - loading)

    def change_schema(self, cur: Any, request: PublishRequest, info: TableInfo) -> TableInfo:
        """The "schema changes" step: onSchemaChange's ALTER statements, before the load
        (in the session's transaction where the database's DDL is transactional)."""
        if request.on_schema_change == "fail" or request.action == "create":
            return info
        diff = alter.schema_diff(request.results.schema, info, self)
        try:
            statements = alter.alter_statements(
                self.dialect, self.qualified(request.ref), info, diff, request.on_schema_change
            )
        except alter.SchemaChangeRefused as exc:
            raise TargetError(f"{place(request)}: {exc}; the table is unchanged") from None
        for statement in statements:
            cur.execute(statement)
        return self.table_in(cur, request.ref) or info if statements else info

    def check_count(self, request: PublishRequest, loaded: int) -> None:
        """The rows the database loaded must be the rows of the results."""
        if loaded != request.results.rows:
            raise TargetError(
                f"{place(request)} failed: the database loaded {plural(loaded, 'row')} but the "
                f"results hold {request.results.rows:,}; the table is unchanged"
            )

    # -- hooks ----------------------------------------------------------------------

    def session(self, request: PublishRequest) -> contextlib.AbstractContextManager[Any]:
        raise NotImplementedError

    def table_in(self, cur: Any, ref: TableRef) -> TableInfo | None:
        raise NotImplementedError

    def qualified(self, ref: TableRef, table: str | None = None) -> str:
        raise NotImplementedError

    def count_in(self, cur: Any, ref: TableRef) -> int:
        """``count(*)`` of the table, as the database reports it."""
        cur.execute(f"select count(*) from {self.qualified(ref)}")
        row = cur.fetchone()
        return int(row[0]) if row else 0

    def ledger_name(self, ref: TableRef) -> str:
        """The ledger table of ``ref``'s schema, as SQL text."""
        return self.qualified(ref, LEDGER_TABLE)

    def load(
        self, cur: Any, request: PublishRequest, info: TableInfo | None, progress: Progress | None
    ) -> int:
        raise NotImplementedError

    def commit_rows(
        self, cur: Any, request: PublishRequest, info: TableInfo | None, loaded: int
    ) -> None:
        _ledger.write(cur, self.ledger_name(request.ref), self.dialect.ledger, request, loaded)

    def check_table(self, request: PublishRequest, info: TableInfo) -> None:
        refuse_columns(request, column_problems(request, info, self.dialect))
