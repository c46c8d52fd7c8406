"""Waiting for a job group and every job in it: polls with backoff, a timeout, Ctrl-C.

``GET /v4/jobGroups/{id}/status`` answers a bare JSON string; ``Complete``, ``Failed``
and ``Canceled`` are final, anything else (``Created``, ``InProgress``) means keep
waiting. A group's status can say ``Complete`` while its publish job still runs (after
``PUT .../publish`` the group keeps its id), so after the status the jobs are read
(``GET /v4/jobGroups/{id}/jobs``) until every one is final. While waiting, a set cancel
event sends ``POST /v4/jobGroups/{id}/cancel`` (a no-op on a finished group) and stops.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from runner.errors import PlatformError
from runner.platforms.trifacta.client import TrifactaClient
from runner.platforms.trifacta.outputs import FINAL, failures, is_publish, items, unfinished
from runner.platforms.trifacta.retry import Sleep

log = logging.getLogger("runner.platforms.trifacta")

POLL_GROWTH = 1.5
POLL_CAP = 30.0
Job = Mapping[str, Any]
Select = Callable[[Job], bool]


class JobGroupError(PlatformError):
    """A job group ended without completing; carries its id for the state record."""

    def __init__(self, message: str, job_group_id: int, status: str) -> None:
        self.job_group_id = job_group_id
        self.status = status
        super().__init__(message)


class JobGroupCanceled(JobGroupError):
    """We canceled the job group because the user asked to stop (Ctrl-C)."""

    def __init__(self, message: str, job_group_id: int) -> None:
        super().__init__(message, job_group_id, "Canceled")


@dataclass
class _Poll:
    """One wait: its deadline and the growing pause between polls."""

    waiter: Waiter
    group: int
    what: str
    cancel: threading.Event
    end: float
    delay: float

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise self.waiter.cancel_group(self.group, self.what)

    def pause(self, last: str) -> None:
        remaining = self.end - self.waiter.client.clock()
        if remaining <= 0:
            raise PlatformError(
                f"{self.what}: job group {self.group} did not finish within "
                f"{self.waiter.timeout:g} s (platform.jobTimeout); last status {last}. It may "
                "still be running: follow or cancel it in the application, or raise "
                "platform.jobTimeout"
            )
        self.waiter.pause(min(self.delay, remaining), self.cancel)
        self.delay = min(POLL_CAP, self.delay * POLL_GROWTH)


@dataclass(frozen=True)
class Waiter:
    client: TrifactaClient
    sleep: Sleep
    poll_interval: float
    timeout: float

    def pause(self, seconds: float, cancel: threading.Event) -> None:
        """Sleep, waking early on cancel when the real clock is in use."""
        if self.sleep is time.sleep:
            cancel.wait(seconds)
        else:
            self.sleep(seconds)

    def _poll(self, group: int, what: str, cancel: threading.Event) -> _Poll:
        end = self.client.clock() + self.timeout
        return _Poll(self, group, what, cancel, end, self.poll_interval)

    def status(self, job_group_id: int) -> str:
        answer: Any = self.client.json("GET", f"/v4/jobGroups/{job_group_id}/status")
        return str(answer)

    def jobs(self, job_group_id: int) -> list[dict[str, Any]]:
        return items(self.client.json("GET", f"/v4/jobGroups/{job_group_id}/jobs"))

    def cancel_group(self, job_group_id: int, what: str) -> JobGroupCanceled:
        note = ""
        try:
            self.client.request("POST", f"/v4/jobGroups/{job_group_id}/cancel", safe=True)
        except PlatformError as exc:
            note = f" (the cancel request failed: {exc}; cancel it in the application)"
        return JobGroupCanceled(
            f"{what}: job group {job_group_id} was canceled on request (Ctrl-C){note}",
            job_group_id,
        )

    def wait(
        self,
        job_group_id: int,
        what: str,
        cancel: threading.Event,
        progress: Callable[[str], None] | None = None,
        poll: _Poll | None = None,
    ) -> str:
        """Poll the group's status until it is final and return it."""
        poll = poll or self._poll(job_group_id, what, cancel)
        last = "unknown"
        while True:
            poll.check_cancel()
            status = self.status(job_group_id)
            if status != last and progress is not None:
                progress(f"{what}: job group {job_group_id} {status}")
            last = status
            if status in FINAL:
                return status
            poll.pause(last)

    def wait_jobs(
        self,
        job_group_id: int,
        what: str,
        cancel: threading.Event,
        select: Select,
        *,
        require_any: bool = False,
        poll: _Poll | None = None,
    ) -> list[dict[str, Any]]:
        """Poll the group's jobs until every selected one is final; return those.

        With ``require_any`` an empty selection means the job has not appeared yet.
        """
        poll = poll or self._poll(job_group_id, what, cancel)
        while True:
            poll.check_cancel()
            chosen = [j for j in self.jobs(job_group_id) if select(j)]
            waiting = unfinished(chosen)
            if (chosen and not waiting) or (not chosen and not require_any):
                return chosen
            kinds = ", ".join(f"{j.get('jobType', 'job')} {j.get('status')}" for j in waiting)
            poll.pause(kinds or "no such job yet")

    def run(
        self,
        job_group_id: int,
        what: str,
        cancel: threading.Event,
        progress: Callable[[str], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Wait for the group and all its jobs; raise unless every non-publish job completed.

        Returns the jobs: publish jobs that failed are for the publishing step to report
        (it knows which table is its own).
        """
        poll = self._poll(job_group_id, what, cancel)  # one platform.jobTimeout for both
        status = self.wait(job_group_id, what, cancel, progress, poll)
        if status == "Complete":  # its publish jobs may still run
            jobs = self.wait_jobs(job_group_id, what, cancel, lambda _job: True, poll=poll)
        else:  # a failed group's later jobs may never start: read them as they are
            jobs = self.jobs(job_group_id)
        broken = failures(j for j in jobs if not is_publish(j))
        if broken:
            raise JobGroupError(
                f"{what}: job group {job_group_id} failed: {broken}", job_group_id, "Failed"
            )
        if status == "Canceled":
            raise JobGroupError(
                f"{what}: job group {job_group_id} was canceled in the application",
                job_group_id,
                status,
            )
        if status == "Failed" and not failures(jobs):
            raise JobGroupError(
                f"{what}: job group {job_group_id} failed: the API gave no error message",
                job_group_id,
                status,
            )
        return jobs
