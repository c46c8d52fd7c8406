"""Finding our run after a lost answer to ``POST /v4/jobGroups``.

A run is ours only when the service says so: the listing of recent API runs
(``GET /v4/jobLibrary``) must echo our ``x-execution-id`` on a run of the same recipe.
The cloud description has no such field on a job group, so on most services a lost
answer cannot be matched: the caller then sends the POST again with the same
``x-execution-id`` (the documented idempotency key: a duplicate answers 304), and a 304
it cannot match stops the apply and says so. A run is never adopted because it is
recent: another client may have run the same recipe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from runner.errors import PlatformError
from runner.platforms.trifacta.api import JOB_GROUPS
from runner.platforms.trifacta.client import AmbiguousRequest, TrifactaClient
from runner.platforms.trifacta.outputs import items
from runner.platforms.trifacta.retry import Deadline, Sleep
from runner.spec.model import Job

log = logging.getLogger("runner.platforms.trifacta")

LIBRARY = "/v4/jobLibrary"
LOOKUP_LIMIT = 25
_ECHO_KEYS = ("executionId", "x-execution-id", "clientExecutionId")


@dataclass(frozen=True)
class Lookup:
    """What the listing said: our run's id, and whether it echoes execution ids at all."""

    job_group: int | None
    echoes: bool


def lookup_params() -> dict[str, Any]:
    return {"ranfrom": "api", "sort": "-createdAt", "limit": LOOKUP_LIMIT}


def _dataset_id(item: dict[str, Any]) -> int | None:
    ds = item.get("wrangledDataset")
    value = ds.get("id") if isinstance(ds, dict) else None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def find_run(client: TrifactaClient, wrangled_dataset: int, execution_id: str) -> Lookup:
    """Our run among recent API runs of the recipe, matched on the echoed execution id."""
    echoes = False
    for item in items(client.json("GET", LIBRARY, params=lookup_params())):
        if _dataset_id(item) != wrangled_dataset:
            continue
        echoed = next((item[k] for k in _ECHO_KEYS if k in item), None)
        if echoed is None:
            continue
        echoes = True
        if str(echoed) == execution_id:
            try:
                return Lookup(int(item["id"]), True)
            except (KeyError, TypeError, ValueError):
                continue
    return Lookup(None, echoes)


def _group_id(response: Any) -> int | None:
    try:
        answer = response.json()
    except ValueError:
        return None
    group = answer.get("id", answer.get("jobgroupId")) if isinstance(answer, dict) else None
    return int(group) if group is not None else None


def start(client: TrifactaClient, job: Job, run_id: str, body: dict[str, Any], sleep: Sleep) -> int:
    """``POST /v4/jobGroups`` with ``x-execution-id: run_id``; the new job group's id.

    After a lost answer the POST is sent again with the same key (a duplicate answers
    304, so nothing runs twice) unless the listing shows our run. A 304 whose run the
    service does not identify stops: the run is ambiguous and adopting a recent run of
    the recipe could take another client's.
    """
    assert job.wrangled_dataset is not None
    headers = {"x-execution-id": run_id}
    deadline = Deadline(client.policy.deadline, client.clock)
    attempt = 0
    while True:
        try:
            response = client.request("POST", JOB_GROUPS, body=body, headers=headers, safe=False)
        except AmbiguousRequest as exc:
            found = find_run(client, job.wrangled_dataset, run_id)
            if found.job_group is not None:
                log.info("%s: the run was started (job group %s)", job.address, found.job_group)
                return found.job_group
            wait = client.policy.backoff(attempt)
            attempt += 1
            if attempt >= client.policy.max_attempts or not deadline.allows(wait):
                raise PlatformError(
                    f"{job.address}: {exc}; whether a run started is unknown. Look for a run of "
                    f"recipe {job.wrangled_dataset} in the job history before applying again"
                ) from None
            log.warning("%s: %s; sending it again with the same execution id", job.address, exc)
            sleep(wait)
            continue
        if response.status_code == 304:
            found = find_run(client, job.wrangled_dataset, run_id)
            if found.job_group is not None:
                return found.job_group
            raise PlatformError(
                f"{job.address}: the service says a run with execution id {run_id} exists (304, "
                "the answer to our first request was lost) but does not say which job group it "
                f"is, so it is not adopted: find the run of recipe {job.wrangled_dataset} in "
                "the job history; when it published, nothing more is needed, otherwise plan "
                "again (the next plan runs with a new execution id)"
            )
        group = _group_id(response)
        if group is None:
            raise PlatformError(f"{job.address}: POST {JOB_GROUPS} answered no job group id")
        return group
