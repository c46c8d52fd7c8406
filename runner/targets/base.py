"""What every target database offers the planner and the executor.

A target is opened for one connection of the spec. The planner calls :meth:`describe`
once for all the tables of that connection (the target groups them by schema and runs
one catalog query per schema, never one per table). The executor calls
:meth:`publish`, which must be atomic: a reader sees the table as it was before or as
it is after, and any failure leaves it as it was.

Every publish records ``(run_id, target, table, action, rows)`` as the one row of its
``(target, table)`` in the table ``_publish_ledger`` of the same database, in the same
transaction as the data where the database allows it: the ledger says which run each
table holds now. :meth:`publish` first looks there and, when the table exists and holds
this very run, returns ``already_published=True`` without touching it: a crash between
the commit and the state write cannot publish twice, and a renamed table, another
environment or a forgotten state never matches an older run.

The sequence every database follows is in :mod:`runner.targets.skeleton`; what differs
between databases is in each vendor's :class:`~runner.targets.dialect.Dialect`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from runner.results import ResultSchema, ResultSet

if TYPE_CHECKING:
    from runner.spec.model import Target as TargetSpec

LEDGER_TABLE = "_publish_ledger"


@dataclass(frozen=True, order=True)
class TableRef:
    connection: str
    path: tuple[str, ...]  # schema (postgres/redshift), database (mysql), ("main",) for sqlite
    table: str

    def __str__(self) -> str:
        return ".".join((self.connection, *self.path, self.table))

    @classmethod
    def of(cls, target: TargetSpec) -> TableRef:
        """The table a target of the spec publishes into."""
        return cls(target.connection, tuple(target.path), target.table)


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    sql_type: str  # as the database spells it, normalised to lower case: "numeric(10,2)"
    nullable: bool = True


@dataclass(frozen=True)
class TableInfo:
    ref: TableRef
    columns: tuple[ColumnInfo, ...]
    rows: int
    rows_estimated: bool = False  # True when the count is the catalog's estimate
    primary_key: tuple[str, ...] = ()
    #: the columns of each unique index or constraint other than the primary key (plain
    #: columns only: partial and expression indexes are left out); empty where not read
    unique_keys: tuple[tuple[str, ...], ...] = ()

    def column(self, name: str) -> ColumnInfo | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None


@dataclass(frozen=True)
class PublishRequest:
    target: str  # the spec's target name
    ref: TableRef
    action: str  # one of runner.spec.model.ACTIONS
    results: ResultSet
    run_id: str  # the job run's id; names staging tables and the ledger row
    key: tuple[str, ...] = ()
    #: the target's onSchemaChange: fail | appendNewColumns | syncAllColumns
    on_schema_change: str = "fail"
    #: called once the table's lock is held, before any row moves (raising leaves the table
    #: as it was): the apply says "not loaded" rather than "cancelled while loading"
    locked: Callable[[], None] | None = None


@dataclass(frozen=True)
class PublishResult:
    rows_loaded: int
    rows_after: int
    columns: tuple[ColumnInfo, ...]  # the table's columns after the publish
    already_published: bool = False
    seconds: float = 0.0
    #: the load and commit alone, after any wait for the table's lock (0.0: not measured)
    load_seconds: float = 0.0
    #: the table actually written ("connection.schema.table") when it differs from the
    #: target's (trifacta create/createAndLoad add a timestamp suffix); None: the target's
    table: str | None = None


#: called with the number of rows loaded so far
Progress = Callable[[int], None]


class TableTarget(Protocol):
    """A database the planner describes tables in and the executor publishes into."""

    vendor: str
    #: number of catalog queries run by describe() so far (benchmarks print it)
    introspection_queries: int

    def describe(self, tables: Sequence[TableRef]) -> dict[TableRef, TableInfo | None]:
        """Every table's columns and row count; None for a table that does not exist."""
        ...

    def sql_type(self, logical: str) -> str:
        """The column type this target creates for a logical type (lower case)."""
        ...

    def type_matches(self, column: ColumnInfo, logical: str) -> bool:
        """Whether an existing column can hold values of ``logical`` unchanged."""
        ...

    def publish(self, request: PublishRequest, progress: Progress | None = None) -> PublishResult:
        """Publish the results with the request's action, atomically and idempotently."""
        ...

    def close(self) -> None: ...


def columns_for(schema: ResultSchema, target: TableTarget) -> tuple[ColumnInfo, ...]:
    """The columns a table created from ``schema`` would have on ``target``."""
    return tuple(ColumnInfo(c.name, target.sql_type(c.type)) for c in schema.columns)
