"""The ``trifacta`` platform: connections, job runs and publishing through the API v4.

Implements :class:`runner.platforms.base.Platform`, plus these additive extras for the
planner: ``job_details`` (the output object's create / update / delete steps with a
field-level diff), ``publish_note`` (what the service does to the table, naming the
timestamped table of ``create`` / ``createAndLoad``), ``check_job`` (``plan
--check-jobs``: a ``testMode`` run), ``check_connection`` (``--check-connections``) and
``describe_connection``.

Two ways to publish (``target.via``, see docs/trifacta.md):

- ``outputObject`` (default): the target is a publication of the recipe's output object;
  ``run_job`` makes the output object match the spec, runs the job group and waits for
  every job in it; ``publish`` checks that the publication ran and records its table;
- ``publish``: ``publish`` sends ``PUT /v4/jobGroups/{id}/publish`` after the run (on-prem
  releases that document it) and waits for the publish job.

Row counts are not reported by the API: :class:`PublishResult` carries 0 rows and no
columns.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import requests

from runner.errors import ApiError, PlatformError
from runner.platforms.base import ApiCall, CancelEvent, ConnectionResult, JobRun, RunProgress
from runner.platforms.trifacta import connections, outputobject
from runner.platforms.trifacta.api import JOB_GROUPS, job_body, publish_body
from runner.platforms.trifacta.checks import check_spec
from runner.platforms.trifacta.client import TrifactaClient
from runner.platforms.trifacta.outputobject import Current, Rider, Step
from runner.platforms.trifacta.outputs import (
    TIMESTAMPED_ACTIONS,
    has_format,
    name_matches,
    table_pattern,
)
from runner.platforms.trifacta.publishing import Publisher
from runner.platforms.trifacta.retry import Clock, RetryPolicy, Sleep
from runner.platforms.trifacta.runs import start
from runner.platforms.trifacta.waiting import Waiter
from runner.results import ResultSchema
from runner.spec import secrets
from runner.spec.model import Connection, Job, Spec, Target
from runner.spec.secrets import Secret
from runner.state.model import JobRunRecord
from runner.targets.base import Progress, PublishResult

log = logging.getLogger("runner.platforms.trifacta")

#: placeholders in plan paths for ids known only at apply time
JOB_GROUP = "{jobGroupId}"
Publication = tuple[Target, Connection, int | None]
_UNSET = object()


def _fingerprinted(value: Any) -> Any:
    """``value`` with secrets replaced by their fingerprints (for hashing)."""
    if isinstance(value, Secret):
        return {"secret": value.fingerprint}
    if isinstance(value, Mapping):
        return {str(k): _fingerprinted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_fingerprinted(v) for v in value]
    return value


def _sha256(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _connection_placeholder(connection: Connection) -> str:
    return f"{{{connection.address}.id}}"


class TrifactaPlatform:
    """Drives the Trifacta / Alteryx Designer Cloud REST API v4 for one spec."""

    type = "trifacta"

    def __init__(
        self,
        spec: Spec,
        *,
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        policy: RetryPolicy | None = None,
    ) -> None:
        platform = spec.platform
        if not platform.url:
            raise PlatformError("platform.url: required for platform type trifacta")
        if platform.token is None:
            raise PlatformError("platform.token: required for platform type trifacta")
        self.spec = spec
        self.client = TrifactaClient(
            platform.url,
            platform.token,
            allow_insecure_http=platform.allow_insecure_http,
            session=session,
            sleep=sleep,
            clock=clock,
            policy=policy,
        )
        self._sleep = sleep
        self.waiter = Waiter(self.client, sleep, platform.poll_interval, platform.job_timeout)
        self.publisher = Publisher(self.client, self.waiter)
        self._lock = threading.Lock()
        self._dataset_versions: dict[int, str | None] = {}
        self._connections: dict[int, dict[str, Any] | None] = {}
        self._output_objects: dict[int, Current | None] = {}

    def __repr__(self) -> str:
        return f"TrifactaPlatform({self.client.base_url!r})"

    def prune_results(self, keep: Mapping[str, str]) -> None:
        """Results live on the platform; nothing is kept here to prune."""

    def close(self) -> None:
        self.client.close()

    # --- plan time: read-only -----------------------------------------------------------
    def connection_fingerprint(self, connection: Connection) -> str:
        password = connection.password
        if isinstance(password, str):
            password_fp: str | None = secrets.fingerprint(password)
        else:
            password_fp = password.fingerprint if password is not None else None
        data = {
            "name": connection.name,
            "vendor": connection.vendor,
            "id": connection.id,
            "host": connection.host,
            "port": connection.port,
            "database": connection.database,
            "username": connection.username,
            "password": password_fp,
            "params": _fingerprinted(connection.params),
            "description": connection.description,
        }
        return _sha256(data)

    def dataset_version(self, job: Job) -> str | None:
        """The wrangled dataset's ``updatedAt`` (cached per process), or None if unknown."""
        dataset = job.wrangled_dataset
        if dataset is None:
            return None
        with self._lock:
            if dataset in self._dataset_versions:
                return self._dataset_versions[dataset]
        path = f"/v4/wrangledDatasets/{dataset}"
        try:
            answer = self.client.json("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                raise PlatformError(
                    f"{job.address}: wrangledDataset {dataset} does not exist "
                    f"(GET {path} answered 404); check the recipe id"
                ) from None
            log.warning("%s: fingerprint without the dataset version: %s", job.address, exc)
            version = None
        except PlatformError as exc:
            log.warning("%s: fingerprint without the dataset version: %s", job.address, exc)
            version = None
        else:
            updated = answer.get("updatedAt") if isinstance(answer, dict) else None
            version = str(updated) if updated is not None else None
        with self._lock:
            self._dataset_versions[dataset] = version
        return version

    def job_fingerprint(self, job: Job) -> str:
        data = {
            "wrangledDataset": job.wrangled_dataset,
            "overrides": _fingerprinted(job.overrides),
            "runParameters": _fingerprinted(job.run_parameters),
            "outputs": list(job.outputs),
            "updatedAt": self.dataset_version(job),
        }
        passed = {
            "execution": job.execution,
            "forceCacheUpdate": job.force_cache_update,
            "ignoreRecipeErrors": job.ignore_recipe_errors,
        }
        data.update({k: v for k, v in passed.items() if v is not None})
        return _sha256(data)

    def result_schema(self, job: Job) -> ResultSchema | None:
        return None  # the API does not tell a recipe's output schema before a run

    def describe_connection(self, connection_id: int) -> dict[str, Any] | None:
        """``GET /v4/connections/{id}`` (cached), or None when it does not exist."""
        with self._lock:
            if connection_id in self._connections:
                return self._connections[connection_id]
        try:
            answer = self.client.json("GET", f"{connections.CONNECTIONS}/{connection_id}")
        except ApiError as exc:
            if exc.status not in (404, 410):
                raise
            answer = None
        info = answer if isinstance(answer, dict) else None
        with self._lock:
            self._connections[connection_id] = info
        return info

    def output_object(self, job: Job, *, fresh: bool = False) -> Current | None:
        """The recipe's output object with its outputs (cached unless ``fresh``)."""
        dataset = job.wrangled_dataset
        if dataset is None:
            return None
        with self._lock:
            cached = self._output_objects.get(dataset, _UNSET)
        if cached is not _UNSET and not fresh:
            return cached  # type: ignore[return-value]
        current = outputobject.find(self.client, dataset)
        with self._lock:
            self._output_objects[dataset] = current
        return current

    def has_results(self, run: JobRunRecord, fmt: str) -> bool:
        """Whether the recorded run's job group wrote ``fmt`` files (GET .../outputs)."""
        if run.remote_id is None:
            return False
        try:
            outputs = self.publisher.outputs(run.remote_id)
        except ApiError as exc:
            if exc.status in (404, 410):
                return False
            raise
        return has_format(outputs, fmt)

    def _formats(self, job: Job) -> list[str]:
        """The formats the run must write: the job's outputs, when any target publishes it."""
        published = {t.input_format for t in self.spec.targets.values() if t.job == job.name}
        return sorted(published | set(job.outputs)) if published else []

    def check(self, spec: Spec, *, remote: bool = True) -> list[str]:
        """Plan errors; with ``remote`` adopted connections and output objects are read."""
        problems = check_spec(spec, self.describe_connection if remote else None)
        if remote and not problems:
            for job in spec.jobs.values():
                formats = self._formats(job)
                if formats:
                    _steps, found = outputobject.reconcile(
                        job, self.output_object(job), formats, ()
                    )
                    problems += found
        return problems

    def connection_calls(self, connection: Connection, remote_id: int | None) -> list[ApiCall]:
        return connections.connection_calls(connection, remote_id)

    def _riders(self, publications: Sequence[Publication], *, masked: bool) -> list[Rider]:
        riders = []
        for target, connection, remote_id in publications:
            cid: Any = remote_id if remote_id is not None else connection.id
            vendor = connection.vendor
            if vendor is None and connection.id is not None:
                info = self.describe_connection(connection.id) or {}
                vendor = info.get("vendor")
            if cid is None:
                if not masked:
                    raise PlatformError(
                        f"{target.address}: the remote id of {connection.address} is unknown; "
                        "apply the connection first"
                    )
                cid = _connection_placeholder(connection)
            riders.append(Rider(target, str(vendor or ""), cid))
        return riders

    def _steps(self, job: Job, publications: Sequence[Publication], *, fresh: bool) -> list[Step]:
        riders = self._riders(publications, masked=not fresh)
        formats = self._formats(job)
        if not formats and not riders:
            return []  # nothing publishes this job's results: its output object is left alone
        steps, problems = outputobject.reconcile(
            job, self.output_object(job, fresh=fresh), formats, riders
        )
        if problems:
            raise PlatformError("; ".join(problems))
        return steps

    def job_calls(
        self, job: Job, run_id: str, *, publications: Sequence[Publication] = ()
    ) -> list[ApiCall]:
        calls = [s.call() for s in self._steps(job, publications, fresh=False)]
        return [
            *calls,
            ApiCall("POST", JOB_GROUPS, job_body(job, masked=True)),
            ApiCall("GET", f"{JOB_GROUPS}/{JOB_GROUP}/status"),
            ApiCall("GET", f"{JOB_GROUPS}/{JOB_GROUP}/jobs"),
        ]

    def job_details(self, job: Job, *, publications: Sequence[Publication] = ()) -> dict[str, Any]:
        """The output object's steps for the plan: each change, with a field-level diff."""
        steps = self._steps(job, publications, fresh=False)
        if not steps and not self._formats(job):
            return {}
        current = self.output_object(job)
        out: dict[str, Any] = {
            "outputObject": {"id": current.id} if current else {"change": "create"}
        }
        for step in steps:
            if step.kind != "outputObject":
                out.setdefault(f"{step.kind}s", []).append(step.to_json())
        return out

    def publish_note(self, target: Target) -> str:
        """What the service does to the table, in words (the plan's consequence)."""
        where = ".".join((target.connection, *target.path, table_pattern(target)))
        how = (
            "as a publication of the recipe's output object, when the job group runs"
            if target.via == "outputObject"
            else f"by PUT {JOB_GROUPS}/{{id}}/publish after the run"
        )
        if target.action in TIMESTAMPED_ACTIONS:
            what = "schema only" if target.action == "create" else "loaded with the results"
            return (
                f"{target.action}: the service makes a new table {where} on every run "
                f"({what}; <timestamp> is chosen by the service and recorded in state), {how}"
            )
        return f"{target.action} into {where}, {how}"

    def table_matches(self, target: Target, recorded: str) -> bool:
        """Whether a recorded ``connection.path.table`` is the table the service writes."""
        prefix = ".".join((target.connection, *target.path)) + "."
        return recorded.startswith(prefix) and name_matches(target, recorded[len(prefix) :])

    def connection_update_note(self, connection: Connection, remote_id: int | None) -> str:
        return connections.update_note(connection, remote_id)

    def publish_calls(
        self, target: Target, connection: Connection, *, connection_id: int | None = None
    ) -> list[ApiCall]:
        group = f"{JOB_GROUPS}/{JOB_GROUP}"
        if target.via == "outputObject":
            return [ApiCall("GET", f"{group}/publications"), ApiCall("GET", f"{group}/outputs")]
        cid: Any = connection_id if connection_id is not None else connection.id
        job = self.spec.jobs.get(target.job)
        body = publish_body(target, cid, job.wrangled_dataset if job else None)
        if cid is None:
            body["connection"] = {"id": _connection_placeholder(connection)}
        return [
            ApiCall("GET", f"{group}/outputs"),
            ApiCall("GET", f"{group}/publications"),
            ApiCall("GET", f"{group}/jobs"),
            ApiCall("PUT", f"{group}/publish", body),
            ApiCall("GET", f"{group}/jobs"),
            ApiCall("GET", f"{group}/outputs"),
        ]

    def check_connection(self, connection: Connection, remote_id: int | None = None) -> str | None:
        return connections.test(self.client, self.spec.platform.release, connection, remote_id)

    def check_job(self, job: Job) -> str | None:
        """``plan --check-jobs``: a ``testMode: true`` run (validations, nothing runs)."""
        try:
            self.client.json("POST", JOB_GROUPS, body=job_body(job, masked=False, test_mode=True))
        except ApiError as exc:
            return f"{job.address}: the service's validation of the run failed: {exc}"
        return None

    # --- apply time ---------------------------------------------------------------------
    def ensure_connection(self, connection: Connection, remote_id: int | None) -> ConnectionResult:
        rid = connections.ensure(self.client, self.describe_connection, connection, remote_id)
        return ConnectionResult(remote_id=rid)

    def run_job(
        self,
        job: Job,
        run_id: str,
        fingerprint: str,
        cancel: CancelEvent,
        progress: RunProgress | None = None,
        *,
        publications: Sequence[Publication] = (),
    ) -> JobRun:
        if job.wrangled_dataset is None:
            raise PlatformError(f"{job.address}: wrangledDataset is required on trifacta")
        if cancel.is_set():
            raise PlatformError(f"{job.address}: not started: canceled on request (Ctrl-C)")
        steps = self._steps(job, publications, fresh=True)
        outputobject.apply_steps(self.client, job, steps)
        body = job_body(job, masked=False)
        group = start(self.client, job, run_id, body, self._sleep)
        if progress is not None:
            progress(f"{job.address}: job group {group} started")
        jobs = self.waiter.run(group, job.address, cancel, progress)
        return JobRun(
            job=job.name,
            run_id=run_id,
            fingerprint=fingerprint,
            remote_id=group,
            details={
                "jobGroupId": group,
                "wrangledDataset": job.wrangled_dataset,
                "jobs": [{"id": j.get("id"), "jobType": j.get("jobType")} for j in jobs],
            },
        )

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
        group = run.remote_id if run.remote_id is not None else run.details.get("jobGroupId")
        if group is None:
            raise PlatformError(f"{target.address}: job.{run.job} has no job group id to publish")
        cid = connection_id if connection_id is not None else connection.id
        if target.via == "outputObject":
            return self.publisher.verify_ridden(target, int(group), cid)
        if cid is None:
            raise PlatformError(
                f"{target.address}: the remote id of {connection.address} is unknown; "
                "apply the connection first"
            )
        job = self.spec.jobs.get(run.job)
        flow_node = run.details.get("wrangledDataset", job.wrangled_dataset if job else None)
        return self.publisher.publish_put(target, int(group), cid, flow_node, cancel)
