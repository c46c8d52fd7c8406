"""Fakes for testing the planner and the executor without a database or a job engine.

- :class:`DictTarget`: a TableTarget whose tables are a dict (describe reads it, publish
  writes it), counting what it was asked;
- :class:`FakePlatform`: fingerprints, result schemas and row counts from dicts; runs and
  publishes into a :class:`DictTarget`; failures injected per address;
- :class:`MemoryBackend`: a state backend in memory (serial, lineage and lock as the real ones);
- :func:`make_spec`: a Spec of one sqlite connection, jobs and targets, built in Python.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runner.errors import StateError
from runner.platforms.base import ApiCall, CancelEvent, ConnectionResult, JobRun, RunProgress
from runner.results import Column, ResultSchema
from runner.spec.model import Connection, Job, Spec, Target
from runner.state.model import JobRunRecord, LockInfo, State
from runner.targets.base import (
    ColumnInfo,
    Progress,
    PublishRequest,
    PublishResult,
    TableInfo,
    TableRef,
)

SCHEMA = ResultSchema((Column("id", "int64"), Column("name", "string")))


class DictTarget:
    """A target database as a dict of tables; types are spelled as the logical types."""

    vendor = "sqlite"

    def __init__(self) -> None:
        self.tables: dict[TableRef, TableInfo] = {}
        self.introspection_queries = 0
        self.published: list[PublishRequest] = []

    def create(self, ref: TableRef, rows: int, schema: ResultSchema = SCHEMA) -> None:
        columns = tuple(ColumnInfo(c.name, c.type) for c in schema.columns)
        self.tables[ref] = TableInfo(ref, columns, rows)

    def describe(self, tables: Sequence[TableRef]) -> dict[TableRef, TableInfo | None]:
        self.introspection_queries += 1
        return {ref: self.tables.get(ref) for ref in tables}

    def sql_type(self, logical: str) -> str:
        return logical

    def type_matches(self, column: ColumnInfo, logical: str) -> bool:
        return column.sql_type == logical

    def publish(self, request: PublishRequest, progress: Progress | None = None) -> PublishResult:
        self.published.append(request)
        before = self.tables.get(request.ref)
        rows = request.results.rows
        if before is not None and request.action in ("load", "createAndLoad", "upsert"):
            rows += before.rows
        self.create(request.ref, rows, request.results.schema)
        return PublishResult(request.results.rows, rows, self.tables[request.ref].columns)

    def close(self) -> None:
        pass


class DictPool:
    """One DictTarget for every connection (what the planner's TargetSource needs)."""

    def __init__(self, target: DictTarget) -> None:
        self.target = target

    def get(self, connection: Connection) -> DictTarget:
        return self.target


class FakePlatform:
    """A platform answering from dicts; ``fail`` maps an address to the exception to raise."""

    type = "local"

    def __init__(self, target: DictTarget, jobs: Mapping[str, int] | None = None) -> None:
        self.target = target
        self.fingerprints: dict[str, str] = {name: f"fp-{name}-1" for name in jobs or {}}
        self.rows: dict[str, int] = dict(jobs or {})
        self.schemas: dict[str, ResultSchema] = {name: SCHEMA for name in jobs or {}}
        self.lost: set[str] = set()  # run ids whose result files are gone
        self.fail: dict[str, Exception] = {}
        self.ran: list[str] = []
        self.pruned: list[Mapping[str, str]] = []

    # --- plan time ---
    def connection_fingerprint(self, connection: Connection) -> str:
        return f"conn-{connection.name}-{connection.database}"

    def job_fingerprint(self, job: Job) -> str:
        return self.fingerprints[job.name]

    def result_schema(self, job: Job) -> ResultSchema | None:
        failure = self.fail.get(f"{job.address}.schema")
        if failure is not None:
            raise failure
        return self.schemas[job.name]

    def has_results(self, run: JobRunRecord, fmt: str) -> bool:
        return run.run_id not in self.lost

    def check(self, spec: Spec) -> list[str]:
        return []

    def check_connection(self, connection: Connection, remote_id: int | None = None) -> str | None:
        return None

    def connection_calls(self, connection: Connection, remote_id: int | None) -> list[ApiCall]:
        return []

    def job_calls(
        self,
        job: Job,
        run_id: str,
        *,
        publications: Sequence[tuple[Target, Connection, int | None]] = (),
    ) -> list[ApiCall]:
        return []

    def publish_calls(
        self, target: Target, connection: Connection, *, connection_id: int | None = None
    ) -> list[ApiCall]:
        return []

    # --- apply time ---
    def ensure_connection(self, connection: Connection, remote_id: int | None) -> ConnectionResult:
        self._maybe_fail(connection.address)
        return ConnectionResult()

    def run_job(
        self,
        job: Job,
        run_id: str,
        fingerprint: str,
        cancel: CancelEvent,
        progress: RunProgress | None = None,
        *,
        publications: Sequence[tuple[Target, Connection, int | None]] = (),
    ) -> JobRun:
        self._maybe_fail(job.address)
        self.ran.append(job.name)
        schema = self.schemas[job.name]
        return JobRun(job.name, run_id, fingerprint, {}, self.rows[job.name], schema)

    def publish(
        self,
        target: Target,
        connection: Connection,
        run: JobRun,
        cancel: CancelEvent,
        progress: Progress | None = None,
        *,
        connection_id: int | None = None,
    ) -> PublishResult:
        self._maybe_fail(target.address)
        from runner.results import ResultSet

        assert run.schema is not None and run.rows is not None
        results = ResultSet("avro", (), run.schema, run.rows, "sha")
        ref = TableRef(target.connection, tuple(target.path), target.table)
        request = PublishRequest(target.name, ref, target.action, results, run.run_id, target.key)
        return self.target.publish(request)

    def prune_results(self, keep: Mapping[str, str]) -> None:
        self.pruned.append(dict(keep))

    def close(self) -> None:
        pass

    def _maybe_fail(self, address: str) -> None:
        failure = self.fail.get(address)
        if failure is not None:
            raise failure


class MemoryBackend:
    """State in memory: serial grows by one per write; lineage and serial are checked."""

    def __init__(self, state: State | None = None) -> None:
        self.state = state
        self.writes = 0
        self._lock = threading.Lock()

    def read(self) -> State | None:
        return self.state

    def write(self, state: State) -> State:
        if self.state is not None and state.lineage != self.state.lineage:
            raise StateError("another lineage")
        self.state = dataclasses.replace(state, serial=(self.state.serial if self.state else 0) + 1)
        self.writes += 1
        return self.state

    @contextmanager
    def lock(self, operation: str, timeout: float = 0.0) -> Iterator[LockInfo]:
        with self._lock:
            yield LockInfo("lock", operation, "test", 1, "now", "0")

    def force_unlock(self, lock_id: str) -> None:
        pass

    def describe(self) -> str:
        return "memory"


def make_spec(
    targets: Mapping[str, Mapping[str, Any]],
    jobs: Sequence[str] = ("orders",),
    positions: Mapping[str, Any] | None = None,
) -> Spec:
    """A spec with connection ``wh`` (sqlite), the named jobs, and targets given as dicts."""
    return Spec(
        name="test",
        file=Path("/specs/publish.yaml"),
        environment="default",
        connections={"wh": Connection("wh", "sqlite", database="wh.db")},
        jobs={
            name: Job(name, inputs={name: f"data/{name}.csv"}, recipe="select 1") for name in jobs
        },
        targets={
            name: Target(
                name=name,
                job=str(t.get("job", jobs[0])),
                connection="wh",
                table=str(t.get("table", name)),
                path=("main",),
                action=t.get("action", "createAndLoad"),
                key=tuple(t.get("key", ())),
                protect=bool(t.get("protect", False)),
            )
            for name, t in targets.items()
        },
        positions=dict(positions or {}),
    )
