"""State: what `publish` has done, per spec name and environment.

One State holds the last successful run of each job, the last publication of each
target and the connections it made. ``lineage`` is fixed when the state is first
written; ``serial`` grows by one on every write. Saved plans record both and are
refused when either moved. No secret value is ever stored: connections keep a
fingerprint of their definition.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STATE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class ConnectionRecord:
    name: str
    fingerprint: str
    remote_id: int | None = None  # trifacta connection id
    vendor: str | None = None


@dataclass(frozen=True)
class JobRunRecord:
    job: str
    run_id: str
    fingerprint: str
    finished_at: str  # ISO 8601, UTC
    rows: int | None = None
    schema: list[list[str]] | None = None  # [[name, logical type], ...]
    results: Mapping[str, Any] = field(default_factory=dict)  # format -> ResultSet.to_json
    remote_id: int | None = None  # trifacta jobGroup id
    #: failing checks let through with --skip-check when this run was made
    skipped_checks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PublicationRecord:
    target: str
    run_id: str
    table: str  # "connection.schema.table"
    action: str
    rows_loaded: int
    rows_after: int
    columns: list[list[str]]  # [[name, sql type], ...] after the publish
    published_at: str
    remote_id: int | None = None  # trifacta publish jobGroup id
    #: failing checks let through with --skip-check when this publication was made
    skipped_checks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class State:
    lineage: str
    serial: int
    spec: str  # the spec's name
    environment: str
    connections: Mapping[str, ConnectionRecord] = field(default_factory=dict)
    jobs: Mapping[str, JobRunRecord] = field(default_factory=dict)
    publications: Mapping[str, PublicationRecord] = field(default_factory=dict)
    #: ids of saved plans already applied (a plan file is applied at most once)
    applied_plans: tuple[str, ...] = ()
    #: the last failed step per address: {"run_id", "error", "at"}; cleared on success
    failures: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def replace(self, **changes: Any) -> State:
        return dataclasses.replace(self, **changes)

    def remote_id(self, connection: str, default: int | None = None) -> int | None:
        """The remote id recorded for ``connection`` (trifacta), else ``default``."""
        record = self.connections.get(connection)
        return record.remote_id if record and record.remote_id is not None else default

    def with_connection(self, record: ConnectionRecord) -> State:
        return self.replace(connections={**self.connections, record.name: record})

    def with_job(self, record: JobRunRecord) -> State:
        return self.replace(jobs={**self.jobs, record.job: record})

    def with_publication(self, record: PublicationRecord) -> State:
        return self.replace(publications={**self.publications, record.target: record})

    def with_failure(self, address: str, run_id: str | None, error: str, at: str) -> State:
        failure = {"run_id": run_id, "error": error, "at": at}
        return self.replace(failures={**self.failures, address: failure})

    def without_failure(self, address: str) -> State:
        if address not in self.failures:
            return self
        return self.replace(failures={k: v for k, v in self.failures.items() if k != address})

    def without(self, address: str) -> State:
        kind, _, name = address.partition(".")
        if kind == "connection":
            return self.replace(
                connections={k: v for k, v in self.connections.items() if k != name}
            )
        if kind == "job":
            return self.replace(jobs={k: v for k, v in self.jobs.items() if k != name})
        if kind == "target":
            return self.replace(
                publications={k: v for k, v in self.publications.items() if k != name}
            )
        raise ValueError(f"not an address: {address}")

    def addresses(self) -> list[str]:
        return sorted(
            [f"connection.{n}" for n in self.connections]
            + [f"job.{n}" for n in self.jobs]
            + [f"target.{n}" for n in self.publications]
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": STATE_FORMAT_VERSION,
            "lineage": self.lineage,
            "serial": self.serial,
            "spec": self.spec,
            "environment": self.environment,
            "connections": {k: dataclasses.asdict(v) for k, v in sorted(self.connections.items())},
            "jobs": {k: dataclasses.asdict(v) for k, v in sorted(self.jobs.items())},
            "publications": {
                k: dataclasses.asdict(v) for k, v in sorted(self.publications.items())
            },
            "applied_plans": list(self.applied_plans),
            "failures": {k: dict(v) for k, v in sorted(self.failures.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> State:
        """Build from parsed JSON; raises KeyError/TypeError/ValueError when malformed."""
        if data.get("format_version") != STATE_FORMAT_VERSION:
            raise ValueError(f"unknown state format_version {data.get('format_version')!r}")
        return cls(
            lineage=str(data["lineage"]),
            serial=int(data["serial"]),
            spec=str(data["spec"]),
            environment=str(data["environment"]),
            connections={k: ConnectionRecord(**v) for k, v in data["connections"].items()},
            jobs={k: JobRunRecord(**v) for k, v in data["jobs"].items()},
            publications={k: PublicationRecord(**v) for k, v in data["publications"].items()},
            applied_plans=tuple(data.get("applied_plans", ())),
            failures={k: dict(v) for k, v in data.get("failures", {}).items()},
        )


@dataclass(frozen=True)
class LockInfo:
    id: str
    operation: str  # "apply", "state rm", ...
    who: str  # user@host
    pid: int
    created: str  # ISO 8601, UTC
    version: str

    def describe(self) -> str:
        return (
            f"lock {self.id} held by {self.who} (pid {self.pid}) for {self.operation!r} "
            f"since {self.created}"
        )
