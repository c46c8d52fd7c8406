"""Waiting for a job group: status polls with backoff, a timeout, and Ctrl-C.

``GET /v4/jobGroups/{id}/status`` answers a bare JSON string (S3, S5, S7). ``Complete``,
``Failed`` and ``Canceled`` are final; ``Created``, ``InProgress`` and anything else
(``Pending``, ``undefined``) mean keep waiting. While waiting, a set cancel event sends
``POST /v4/jobGroups/{id}/cancel`` (a no-op on a finished group) and stops.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runner.errors import PlatformError
from runner.platforms.trifacta.client import TrifactaClient
from runner.platforms.trifacta.retry import Sleep

log = logging.getLogger("runner.platforms.trifacta")

FINAL_STATUSES = frozenset({"Complete", "Failed", "Canceled"})
POLL_GROWTH = 1.5
POLL_CAP = 30.0


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

    def status(self, job_group_id: int) -> str:
        answer: Any = self.client.json("GET", f"/v4/jobGroups/{job_group_id}/status")
        if isinstance(answer, dict):  # tolerate {"status": "..."} from other editions
            answer = answer.get("status")
        return str(answer)

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
    ) -> str:
        """Poll until a final status and return it; raise on timeout or cancel."""
        clock = self.client.clock
        end = clock() + self.timeout
        delay = self.poll_interval
        last = "unknown"
        while True:
            if cancel.is_set():
                raise self.cancel_group(job_group_id, what)
            status = self.status(job_group_id)
            if status != last and progress is not None:
                progress(f"{what}: job group {job_group_id} {status}")
            last = status
            if status in FINAL_STATUSES:
                return status
            remaining = end - clock()
            if remaining <= 0:
                raise PlatformError(
                    f"{what}: job group {job_group_id} did not finish within "
                    f"{self.timeout:g} s (platform.jobTimeout); last status {last}. It may "
                    "still be running: follow or cancel it in the application, or raise "
                    "platform.jobTimeout"
                )
            self.pause(min(delay, remaining), cancel)
            delay = min(POLL_CAP, delay * POLL_GROWTH)

    def run(
        self,
        job_group_id: int,
        what: str,
        cancel: threading.Event,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        """Wait for the group and raise :class:`JobGroupError` unless it completed."""
        status = self.wait(job_group_id, what, cancel, progress)
        if status == "Complete":
            return
        if status == "Failed":
            details = self.failure_details(job_group_id) or "the API gave no error message"
            raise JobGroupError(
                f"{what}: job group {job_group_id} failed: {details}", job_group_id, status
            )
        raise JobGroupError(
            f"{what}: job group {job_group_id} was canceled in the application",
            job_group_id,
            status,
        )

    def failure_details(self, job_group_id: int) -> str:
        """The errorMessage of each failed job of the group (GET .../jobs), or ''."""
        try:
            answer = self.client.json("GET", f"/v4/jobGroups/{job_group_id}/jobs")
        except PlatformError as exc:
            log.warning("could not read the jobs of job group %s: %s", job_group_id, exc)
            return ""
        jobs = answer.get("data", []) if isinstance(answer, dict) else []
        messages = []
        for job in jobs:
            if not isinstance(job, dict) or job.get("status") != "Failed":
                continue
            kind = job.get("jobType") or "job"
            message = job.get("errorMessage") or "no error message"
            messages.append(f"{kind} job {job.get('id')}: {message}")
        return "; ".join(messages)
