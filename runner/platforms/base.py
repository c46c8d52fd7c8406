"""What a platform offers the planner (read-only questions) and the executor (actions).

``local`` runs jobs in-process with polars and publishes with our own loaders
(:mod:`runner.targets`); ``trifacta`` drives the Trifacta / Alteryx Designer Cloud
REST API v4. The planner only calls the ``plan_*`` / ``*_fingerprint`` / ``result_schema``
methods, which never change anything; the executor calls the others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from runner.results import ResultSchema, ResultSet
from runner.spec.model import Connection, Job, Spec, Target
from runner.state.model import JobRunRecord
from runner.targets.base import Progress, PublishResult


@dataclass(frozen=True)
class ApiCall:
    """One HTTP call apply will make (trifacta), shown in the plan; secrets masked."""

    method: str
    path: str
    body: Any = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "path": self.path}
        if self.body is not None:
            out["body"] = self.body
        return out


@dataclass(frozen=True)
class JobRun:
    """A finished, successful job run."""

    job: str
    run_id: str
    fingerprint: str
    results: Mapping[str, ResultSet] = field(default_factory=dict)  # by format (local)
    rows: int | None = None
    schema: ResultSchema | None = None
    remote_id: int | None = None  # trifacta: the jobGroup id
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectionResult:
    remote_id: int | None = None


#: set when the user pressed Ctrl-C; long waits poll it and stop cleanly
CancelEvent = threading.Event
RunProgress = Callable[[str], None]


class Platform(Protocol):
    type: str

    # --- plan time: read-only -------------------------------------------------------
    def connection_fingerprint(self, connection: Connection) -> str:
        """A hash of the connection's definition, secrets by fingerprint."""
        ...

    def job_fingerprint(self, job: Job) -> str:
        """A hash of the job's definition plus what it reads (input files, dataset version)."""
        ...

    def result_schema(self, job: Job) -> ResultSchema | None:
        """The job's output schema without running it, or None when it cannot be known."""
        ...

    def has_results(self, run: JobRunRecord, fmt: str) -> bool:
        """Whether the results of a recorded run can still be published in ``fmt``."""
        ...

    def check(self, spec: Spec) -> list[str]:
        """Plan errors this platform knows about (each names the address and what to do)."""
        ...

    def check_connection(self, connection: Connection, remote_id: int | None = None) -> str | None:
        """Test a connection (``plan --check-connections``): None when it works, else why not.

        A platform with nothing to test remotely (local: plan describes every table) returns None.
        """
        ...

    def connection_calls(self, connection: Connection, remote_id: int | None) -> list[ApiCall]:
        """The API calls apply makes for this connection (empty on local)."""
        ...

    def job_calls(
        self,
        job: Job,
        run_id: str,
        *,
        publications: Sequence[tuple[Target, Connection, int | None]] = (),
    ) -> list[ApiCall]:
        """The calls that run the job; ``publications`` are published by the run (trifacta ``via: outputObject``)."""
        ...

    def publish_calls(
        self, target: Target, connection: Connection, *, connection_id: int | None = None
    ) -> list[ApiCall]:
        """The calls that publish to the target; ``connection_id`` is the id state holds."""
        ...

    # --- apply time -------------------------------------------------------------------
    def ensure_connection(
        self, connection: Connection, remote_id: int | None
    ) -> ConnectionResult: ...

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
        """Run the job; ``publications`` are published by the run (trifacta ``via: outputObject``)."""
        ...

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
        """Publish the run's results to the target; ``connection_id`` is the remote id in state."""
        ...

    def prune_results(self, keep: Mapping[str, str]) -> None:
        """After a complete apply: delete kept results of runs other than ``keep`` (job -> run id).

        A platform that keeps no results of its own (trifacta) does nothing.
        """
        ...

    def close(self) -> None: ...
