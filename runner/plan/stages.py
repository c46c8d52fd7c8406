"""What the planner's stages hand each other: named, immutable, one per stage.

scope -> :class:`Scope`; connections -> :class:`ConnectionChanges`; jobs -> :class:`Jobs`;
targets -> :class:`Wanted`; describe -> :class:`Described`; publications, forget and drift
give changes and drift entries that go straight into the :class:`~runner.plan.model.Plan`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from runner.plan.model import Change
from runner.results import ResultSchema
from runner.spec.model import Connection, Target
from runner.targets.base import TableInfo, TableRef, TableTarget


class TargetSource(Protocol):
    """Where the planner gets a connection's target (a :class:`~runner.targets.pool.TargetPool`)."""

    def get(self, connection: Connection) -> TableTarget: ...


@dataclass(frozen=True)
class Scope:
    """The addresses this plan covers (after --select/--exclude), and what --select pulled in."""

    addresses: frozenset[str]
    pulled_in: tuple[str, ...] = ()

    def __contains__(self, address: object) -> bool:
        return address in self.addresses


@dataclass(frozen=True)
class ConnectionChanges:
    """The connections this plan creates or updates, by connection name."""

    changes: Mapping[str, Change] = field(default_factory=dict)


@dataclass(frozen=True)
class JobRunPlan:
    """The run whose results a job's targets publish: a new run, or the last one in state."""

    job: str
    run_id: str
    schema: ResultSchema | None
    rows: int | None  # None: known after the job runs
    runs_now: bool  # True: this plan runs the job
    change: Change | None = None  # the "run" change when runs_now


@dataclass(frozen=True)
class Jobs:
    """Every job with a usable run (new or recorded), by job name, and their fingerprints."""

    runs: Mapping[str, JobRunPlan] = field(default_factory=dict)
    fingerprints: Mapping[str, str] = field(default_factory=dict)

    @property
    def running(self) -> tuple[str, ...]:
        """The jobs this plan runs."""
        return tuple(sorted(n for n, r in self.runs.items() if r.runs_now))

    def with_run(self, run: JobRunPlan) -> Jobs:
        return Jobs({**self.runs, run.job: run}, self.fingerprints)

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(r.change for r in self.runs.values() if r.change is not None)


@dataclass(frozen=True)
class Publication:
    """A target to publish, the run it publishes and why."""

    target: Target
    run_id: str
    reason: str


@dataclass(frozen=True)
class ActionChange:
    """A target whose action changed while its table already holds the latest results."""

    target: Target
    before: str

    def change(self) -> Change:
        target, before = self.target, self.before
        return Change(
            target.address,
            "update",
            f"the action changed from {before} to {target.action}; the table already holds "
            f"the latest results of job.{target.job}, so nothing is published now: the new "
            f"action applies from the job's next run (`--replace {target.address}` publishes "
            "the current results with it now)",
            details={"action": {"from": before, "to": target.action}},
        )


@dataclass(frozen=True)
class Wanted:
    """What the targets stage decided: publications, action-only updates, and the jobs then."""

    jobs: Jobs
    publications: tuple[Publication, ...] = ()
    action_changes: tuple[ActionChange, ...] = ()


@dataclass(frozen=True)
class Described:
    """What the target databases report now: tables by reference, and which connections answered."""

    tables: Mapping[TableRef, TableInfo | None] = field(default_factory=dict)
    connections: frozenset[str] = frozenset()
    #: (connection, schema) of the schemas to publish into that do not exist yet
    missing_schemas: frozenset[tuple[str, str]] = frozenset()
