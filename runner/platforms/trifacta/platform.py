"""The ``trifacta`` platform: connections, job runs and publishing through the API v4.

Implements :class:`runner.platforms.base.Platform`, plus these additive extras:

- ``run_job(..., publications=((target, connection, connection_id), ...))``: targets with
  ``via: overrides`` ride on the run's ``overrides.publications``;
- ``publish(..., connection_id=N)``: the remote id of a connection we created (state);
- ``job_calls(..., publications=...)`` / ``publish_calls(..., connection_id=...)`` to match;
- ``describe_connection(id)``, ``check_connection(connection)``, ``published_targets(id)``
  and ``override_publications(job, connection_ids)`` for the planner.

Before ``PUT /v4/jobGroups/{id}/publish`` the job group's publications are read; when
the same publication (connection, path, table, action) is there, the PUT is not sent
again and the result says ``already_published`` (see :mod:`.publications`).

Row counts are not reported by the API: :class:`PublishResult` carries 0 rows and no
columns; the plan's table diff (when the spec gives database credentials) is where row
counts come from.
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
from runner.platforms.trifacta.api import (
    JOB_GROUPS,
    connection_body,
    job_body,
    override_publication,
    publish_body,
)
from runner.platforms.trifacta.checks import check_connection_spec, check_spec
from runner.platforms.trifacta.client import AmbiguousRequest, TrifactaClient
from runner.platforms.trifacta.publications import find_publication, publication_list
from runner.platforms.trifacta.retry import Clock, Deadline, RetryPolicy, Sleep
from runner.platforms.trifacta.runs import find_run
from runner.platforms.trifacta.waiting import Waiter
from runner.results import ResultSchema
from runner.spec import secrets
from runner.spec.model import Connection, Job, Spec, Target
from runner.spec.secrets import Secret
from runner.state.model import JobRunRecord
from runner.targets.base import Progress, PublishResult

log = logging.getLogger("runner.platforms.trifacta")

CONNECTIONS = "/v4/connections"
PAGE_LIMIT = 100
MAX_PAGES = 100
#: placeholders in plan paths for ids known only at apply time
JOB_GROUP = "{jobGroupId}"
PUBLISH_JOB_GROUP = "{publishJobGroupId}"
#: answers to the publications lookup before a publish that do not block the PUT: the
#: listing is missing in this edition (404, 405, 410, 501) or failing (5xx after retries)
LOOKUP_UNAVAILABLE = frozenset({404, 405, 410, 501})

Publication = tuple[Target, Connection, int | None]


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
        wall_clock: Clock = time.time,
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
            allow_insecure_http=platform.allowInsecureHttp,
            session=session,
            sleep=sleep,
            clock=clock,
            policy=policy,
        )
        self._sleep = sleep
        self._wall = wall_clock
        self.waiter = Waiter(self.client, sleep, platform.pollInterval, platform.jobTimeout)
        self._lock = threading.Lock()
        self._dataset_versions: dict[int, str | None] = {}
        self._connections: dict[int, dict[str, Any] | None] = {}

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
        dataset = job.wrangledDataset
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
            "wrangledDataset": job.wrangledDataset,
            "overrides": _fingerprinted(job.overrides),
            "runParameters": _fingerprinted(job.runParameters),
            "outputs": list(job.outputs),
            "updatedAt": self.dataset_version(job),
        }
        return _sha256(data)

    def result_schema(self, job: Job) -> ResultSchema | None:
        return None  # the API does not tell a recipe's output schema before a run

    def describe_connection(self, connection_id: int) -> dict[str, Any] | None:
        """``GET /v4/connections/{id}`` (cached), or None when it does not exist."""
        with self._lock:
            if connection_id in self._connections:
                return self._connections[connection_id]
        try:
            answer = self.client.json("GET", f"{CONNECTIONS}/{connection_id}")
        except ApiError as exc:
            if exc.status not in (404, 410):
                raise
            answer = None
        info = answer if isinstance(answer, dict) else None
        with self._lock:
            self._connections[connection_id] = info
        return info

    def has_results(self, run: JobRunRecord, fmt: str) -> bool:
        """Results stay in the application's storage; a publish there finds them itself."""
        return True

    def check(self, spec: Spec, *, remote: bool = True) -> list[str]:
        """Plan errors; with ``remote`` adopted connections are read (GET, cached)."""
        return check_spec(spec, self.describe_connection if remote else None)

    def connection_calls(self, connection: Connection, remote_id: int | None) -> list[ApiCall]:
        if connection.adopted:
            return [ApiCall("GET", f"{CONNECTIONS}/{connection.id}")]
        body = connection_body(connection, masked=True)
        if remote_id is not None:
            return [ApiCall("PATCH", f"{CONNECTIONS}/{remote_id}", body)]
        query = f"filter={connection.name}&filterFields=name&limit={PAGE_LIMIT}&offset=0"
        return [ApiCall("GET", f"{CONNECTIONS}?{query}"), ApiCall("POST", CONNECTIONS, body)]

    def override_publications(
        self, job: Job, connection_ids: Mapping[str, int | None] | None = None
    ) -> tuple[Publication, ...]:
        """The ``via: overrides`` targets of ``job`` with their connections' remote ids."""
        ids = connection_ids or {}
        return tuple(
            (target, connection, ids.get(connection.name, connection.id))
            for target in self.spec.override_targets(job.name)
            for connection in (self.spec.connections[target.connection],)
        )

    def _publication_bodies(
        self, publications: Sequence[Publication], *, masked: bool
    ) -> list[dict[str, Any]]:
        bodies = []
        for target, connection, remote_id in publications:
            cid = remote_id if remote_id is not None else connection.id
            vendor = connection.vendor
            if vendor is None and connection.id is not None:
                # at apply time read the adopted connection; at plan time use what check() read
                if masked:
                    with self._lock:
                        info = self._connections.get(connection.id) or {}
                else:
                    info = self.describe_connection(connection.id) or {}
                vendor = info.get("vendor")
            body = override_publication(target, str(vendor or ""), cid)
            if cid is None:
                if not masked:
                    raise PlatformError(
                        f"{target.address}: the remote id of {connection.address} is unknown; "
                        "apply the connection first"
                    )
                body["connectionId"] = _connection_placeholder(connection)
            bodies.append(body)
        return bodies

    def job_calls(
        self, job: Job, run_id: str, *, publications: Sequence[Publication] = ()
    ) -> list[ApiCall]:
        pubs = self._publication_bodies(publications, masked=True)
        return [
            ApiCall("POST", JOB_GROUPS, job_body(job, masked=True, publications=pubs)),
            ApiCall("GET", f"{JOB_GROUPS}/{JOB_GROUP}/status"),
        ]

    def publish_calls(
        self, target: Target, connection: Connection, *, connection_id: int | None = None
    ) -> list[ApiCall]:
        if target.via == "overrides":
            return [ApiCall("GET", f"{JOB_GROUPS}/{JOB_GROUP}/publications")]
        cid: Any = connection_id if connection_id is not None else connection.id
        job = self.spec.jobs.get(target.job)
        body = publish_body(target, cid, job.wrangledDataset if job else None)
        if cid is None:
            body["connection"] = {"id": _connection_placeholder(connection)}
        return [
            ApiCall("GET", f"{JOB_GROUPS}/{JOB_GROUP}/publications"),
            ApiCall("PUT", f"{JOB_GROUPS}/{JOB_GROUP}/publish", body),
            ApiCall("GET", f"{JOB_GROUPS}/{PUBLISH_JOB_GROUP}/status"),
        ]

    def check_connection(self, connection: Connection, remote_id: int | None = None) -> str | None:
        """Test a connection (``--check-connections``): None when it works, else why not.

        An existing connection is tested with ``GET /v4/connections/{id}/status``; one not
        created yet with ``POST /v4/connections/dryRun`` (create, test, delete).
        """
        known = connection.id if connection.id is not None else remote_id
        if known is not None:
            answer = self.client.json("GET", f"{CONNECTIONS}/{known}/status")
        else:
            problems = check_connection_spec(connection)
            if problems:
                return "; ".join(problems)
            body = connection_body(connection, masked=False)
            answer = self.client.json("POST", f"{CONNECTIONS}/dryRun", body=body, safe=True)
        if isinstance(answer, dict) and answer.get("result") == "SUCCESS":
            return None
        reason = answer.get("reason") if isinstance(answer, dict) else None
        exc = reason.get("exception") if isinstance(reason, dict) else None
        if isinstance(exc, dict):
            text = ": ".join(str(exc[k]) for k in ("name", "message") if exc.get(k))
            if exc.get("details"):
                text += f" ({exc['details']})"
        else:
            text = str(reason or answer)
        return secrets.redact(f"{connection.address}: the connection test failed: {text}")

    # --- apply time ---------------------------------------------------------------------
    def find_connection(self, name: str) -> dict[str, Any] | None:
        """The connection named exactly ``name`` (GET /v4/connections, paginated)."""
        matches: list[dict[str, Any]] = []
        for page in range(MAX_PAGES):
            params = {
                "filter": name,
                "filterFields": "name",
                "limit": PAGE_LIMIT,
                "offset": page * PAGE_LIMIT,
            }
            answer = self.client.json("GET", CONNECTIONS, params=params)
            data = answer.get("data", []) if isinstance(answer, dict) else []
            matches += [c for c in data if isinstance(c, dict) and c.get("name") == name]
            if len(data) < PAGE_LIMIT:
                break
        if len(matches) > 1:
            ids = ", ".join(str(c.get("id")) for c in matches)
            raise PlatformError(
                f"connection.{name}: {len(matches)} connections are named {name} (ids {ids}); "
                "adopt one with `id: N`"
            )
        return matches[0] if matches else None

    def ensure_connection(self, connection: Connection, remote_id: int | None) -> ConnectionResult:
        if connection.id is not None:
            if self.describe_connection(connection.id) is None:
                raise PlatformError(
                    f"{connection.address}: connection {connection.id} does not exist "
                    f"(GET {CONNECTIONS}/{connection.id} answered 404); check the id"
                )
            return ConnectionResult(remote_id=connection.id)
        problems = check_connection_spec(connection)
        if problems:
            raise PlatformError("; ".join(problems))
        body = connection_body(connection, masked=False)
        if remote_id is not None:
            try:
                self.client.json("PATCH", f"{CONNECTIONS}/{remote_id}", body=body)
                return ConnectionResult(remote_id=remote_id)
            except ApiError as exc:
                if exc.status not in (404, 410):
                    raise
                log.warning(
                    "%s: connection %s is gone; looking it up by name",
                    connection.address,
                    remote_id,
                )
        found = self.find_connection(connection.name)
        if found is not None:
            found_id = int(found["id"])
            self.client.json("PATCH", f"{CONNECTIONS}/{found_id}", body=body)
            return ConnectionResult(remote_id=found_id)
        try:
            answer = self.client.json("POST", CONNECTIONS, body=body, safe=False)
        except AmbiguousRequest as exc:
            found = self.find_connection(connection.name)
            if found is None:
                raise PlatformError(f"{connection.address}: {exc}; it was not found") from None
            return ConnectionResult(remote_id=int(found["id"]))
        return ConnectionResult(remote_id=int(answer["id"]))

    def _start_job_group(self, job: Job, run_id: str, body: dict[str, Any]) -> int:
        """POST /v4/jobGroups once; after an ambiguous failure, find the run first."""
        assert job.wrangledDataset is not None
        headers = {"x-execution-id": run_id}
        started_at = self._wall()
        deadline = Deadline(self.client.policy.deadline, self.client.clock)
        attempt = 0
        while True:
            try:
                response = self.client.request(
                    "POST", JOB_GROUPS, body=body, headers=headers, safe=False
                )
            except AmbiguousRequest as exc:
                found = find_run(self.client, job.wrangledDataset, run_id, started_at)
                if found is not None:
                    log.info("%s: the run was started (job group %s)", job.address, found)
                    return found
                wait = self.client.policy.backoff(attempt)
                attempt += 1
                if attempt >= self.client.policy.max_attempts or not deadline.allows(wait):
                    raise PlatformError(
                        f"{job.address}: {exc}; no run with execution id {run_id} was found "
                        "among recent runs: check the job history in the application"
                    ) from None
                log.warning("%s: %s; no run found, posting again in %.1f s", job.address, exc, wait)
                self._sleep(wait)
                continue
            if response.status_code == 304:  # duplicate execution id: the run exists
                found = find_run(self.client, job.wrangledDataset, run_id, started_at)
                if found is None:
                    raise PlatformError(
                        f"{job.address}: the API says a run with execution id {run_id} exists "
                        "(304) but it is not among recent runs: check the job history"
                    )
                return found
            try:
                answer = response.json()
            except ValueError:
                answer = None
            group = answer.get("id", answer.get("jobgroupId")) if isinstance(answer, dict) else None
            if group is None:
                raise PlatformError(f"{job.address}: POST {JOB_GROUPS} answered no job group id")
            return int(group)

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
        if job.wrangledDataset is None:
            raise PlatformError(f"{job.address}: wrangledDataset is required on trifacta")
        pubs = self._publication_bodies(publications, masked=False)
        body = job_body(job, masked=False, publications=pubs)
        if cancel.is_set():
            raise PlatformError(f"{job.address}: not started: canceled on request (Ctrl-C)")
        group = self._start_job_group(job, run_id, body)
        if progress is not None:
            progress(f"{job.address}: job group {group} started")
        self.waiter.run(group, job.address, cancel, progress)
        return JobRun(
            job=job.name,
            run_id=run_id,
            fingerprint=fingerprint,
            remote_id=group,
            details={"jobGroupId": group, "wrangledDataset": job.wrangledDataset},
        )

    def published_targets(self, job_group_id: int) -> list[dict[str, Any]]:
        """The publications of a job group (``GET /v4/jobGroups/{id}/publications``)."""
        answer = self.client.json("GET", f"{JOB_GROUPS}/{job_group_id}/publications")
        return publication_list(answer)

    def _existing_publication(self, target: Target, group: int, cid: int) -> dict[str, Any] | None:
        """Job group ``group``'s publication to ``target`` already made, if any.

        Guards against a second PUT after a crash or a lost state write following the first
        (with action ``load`` that would append the rows twice). A listing that is missing
        or failing (404/405/410/501, 5xx after retries) does not block the publish: it is
        logged and None returned. Other failures (401, 403, 429 after retries, no answer)
        raise before anything is published.
        """
        path = f"{JOB_GROUPS}/{group}/publications"
        try:
            pubs = self.published_targets(group)
        except ApiError as exc:
            status = exc.status
            if status is not None and (status in LOOKUP_UNAVAILABLE or status >= 500):
                log.warning(
                    "%s: could not check job group %s's publications before publishing "
                    "(%s); publishing",
                    target.address,
                    group,
                    exc,
                )
                return None
            raise PlatformError(
                f"{target.address}: could not check job group {group}'s publications "
                f"(GET {path}) before publishing, so nothing was published: {exc}"
            ) from None
        return find_publication(pubs, target, cid)

    @staticmethod
    def _job_group(target: Target, run: JobRun) -> int:
        group = run.remote_id if run.remote_id is not None else run.details.get("jobGroupId")
        if group is None:
            raise PlatformError(f"{target.address}: job.{run.job} has no job group id to publish")
        return int(group)

    def _verify_override_publication(
        self, target: Target, group: int, cid: int | None
    ) -> PublishResult:
        for pub in self.published_targets(group):
            table = pub.get("tableName", pub.get("table"))
            path = pub.get("path")
            if table != target.table or (path is not None and list(path) != list(target.path)):
                continue
            remote = pub.get("connectionId")
            if cid is not None and remote is not None and str(remote) != str(cid):
                continue
            return PublishResult(rows_loaded=0, rows_after=0, columns=())
        where = ".".join((*target.path, target.table))
        raise PlatformError(
            f"{target.address}: job group {group} completed but has no publication to {where} "
            f"(GET {JOB_GROUPS}/{group}/publications); check the run's publications"
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
        group = self._job_group(target, run)
        cid = connection_id if connection_id is not None else connection.id
        if target.via == "overrides":
            return self._verify_override_publication(target, group, cid)
        if cid is None:
            raise PlatformError(
                f"{target.address}: the remote id of {connection.address} is unknown; "
                "apply the connection first"
            )
        flow_node = run.details.get("wrangledDataset")
        if flow_node is None:
            job = self.spec.jobs.get(run.job)
            flow_node = job.wrangledDataset if job else None
        started = self.client.clock()
        existing = self._existing_publication(target, group, cid)
        if existing is not None:
            log.info(
                "%s: job group %s was already published there (publication %s); not again",
                target.address,
                group,
                existing.get("id"),
            )
            return PublishResult(
                rows_loaded=0,
                rows_after=0,
                columns=(),
                already_published=True,
                seconds=self.client.clock() - started,
            )
        body = publish_body(target, cid, flow_node)
        path = f"{JOB_GROUPS}/{group}/publish"
        try:
            answer = self.client.json("PUT", path, body=body, safe=False)
        except AmbiguousRequest as exc:
            raise PlatformError(
                f"{target.address}: {exc}; look at job group {group}'s publications in the "
                "application before publishing again"
            ) from None
        publish_group = (
            answer.get("jobgroupId", answer.get("id")) if isinstance(answer, dict) else None
        )
        if publish_group is None:
            raise PlatformError(f"{target.address}: PUT {path} answered no job group id")
        self.waiter.run(int(publish_group), target.address, cancel)
        return PublishResult(
            rows_loaded=0, rows_after=0, columns=(), seconds=self.client.clock() - started
        )
