"""Getting a finished run's results into a target's table, on either path.

``via: outputObject``: the job group already published (its publications ran with it);
:func:`verify_ridden` reads what ran (``GET .../publications``, ``.../jobs``,
``.../outputs``), fails with the publish job's message when the table was not written,
and returns the table actually written.

``via: publish`` (on-prem releases that document it): :func:`publish_put` checks that the
run wrote results in the format published (``GET .../outputs``), skips a publication the
job group already made, sends ``PUT /v4/jobGroups/{id}/publish`` (which answers the same
job group id) and waits for the new job whose ``jobType`` is publish.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from runner.errors import ApiError, PlatformError
from runner.platforms.trifacta.api import JOB_GROUPS, api_format, publish_body
from runner.platforms.trifacta.client import AmbiguousRequest, TrifactaClient
from runner.platforms.trifacta.outputs import (
    failures,
    file_formats,
    has_format,
    is_publish,
    table_pattern,
    written_table,
)
from runner.platforms.trifacta.publications import find_publication, publication_list
from runner.platforms.trifacta.waiting import Waiter
from runner.spec.model import Target
from runner.targets.base import PublishResult

log = logging.getLogger("runner.platforms.trifacta")

#: answers to the publications lookup before a publish that do not block the PUT: the
#: listing is missing in this edition (404, 405, 410, 501) or failing (5xx after retries)
LOOKUP_UNAVAILABLE = frozenset({404, 405, 410, 501})


@dataclass(frozen=True)
class Publisher:
    client: TrifactaClient
    waiter: Waiter

    def outputs(self, group: int) -> Any:
        return self.client.json("GET", f"{JOB_GROUPS}/{group}/outputs")

    def publications(self, group: int) -> list[dict[str, Any]]:
        return publication_list(self.client.json("GET", f"{JOB_GROUPS}/{group}/publications"))

    def result(self, target: Target, group: int, *, already: bool = False) -> PublishResult:
        """The result naming the table the job group wrote for ``target``."""
        written = written_table(self.outputs(group), target)
        if written is None:
            jobs = [j for j in self.waiter.jobs(group) if is_publish(j)]
            why = failures(jobs) or "it lists no such table among its outputs"
            raise PlatformError(
                f"{target.address}: job group {group} did not write "
                f"{'.'.join((*target.path, table_pattern(target)))}: {why}"
            )
        table = ".".join((target.connection, *target.path, written))
        return PublishResult(0, 0, (), already_published=already, table=table)

    def verify_ridden(self, target: Target, group: int, cid: int | None) -> PublishResult:
        """``via: outputObject``: the publication ran with job group ``group``."""
        if cid is None or find_publication(self.publications(group), target, cid) is None:
            raise PlatformError(
                f"{target.address}: job group {group} ran no publication to "
                f"{'.'.join((*target.path, target.table))}: its output object had none when "
                f"it ran; run the job again (`publish plan --replace job.{target.job}`)"
            )
        return self.result(target, group)

    def _existing(self, target: Target, group: int, cid: int) -> dict[str, Any] | None:
        """Job group ``group``'s publication to ``target`` made already, if any.

        A listing that is missing or failing (404/405/410/501, 5xx after retries) does
        not block the publish; other failures raise before anything is published.
        """
        try:
            return find_publication(self.publications(group), target, cid)
        except ApiError as exc:
            status = exc.status
            if status is not None and (status in LOOKUP_UNAVAILABLE or status >= 500):
                log.warning(
                    "%s: could not check job group %s's publications (%s); publishing",
                    target.address,
                    group,
                    exc,
                )
                return None
            raise PlatformError(
                f"{target.address}: could not check job group {group}'s publications "
                f"(GET {JOB_GROUPS}/{group}/publications) before publishing, so nothing was "
                f"published: {exc}"
            ) from None

    def check_results(self, target: Target, group: int) -> None:
        outputs = self.outputs(group)
        if not has_format(outputs, target.input_format):
            found = ", ".join(sorted(file_formats(outputs))) or "none"
            raise PlatformError(
                f"{target.address}: job group {group} wrote no {api_format(target.input_format)} "
                f"results (GET {JOB_GROUPS}/{group}/outputs lists formats: {found}); nothing "
                "was published. The run must write the format published: run the job again "
                f"(`publish plan --replace job.{target.job}`)"
            )

    def publish_put(
        self,
        target: Target,
        group: int,
        cid: int,
        flow_node: int | None,
        cancel: threading.Event,
    ) -> PublishResult:
        """``via: publish``: PUT .../publish once and wait for its publish job."""
        self.check_results(target, group)
        existing = self._existing(target, group, cid)
        if existing is not None:
            # a publish job of an earlier attempt may still run: let it end, then its table
            # in the outputs says whether it published (a failed one wrote nothing)
            self.waiter.wait_jobs(group, target.address, cancel, is_publish)
            if written_table(self.outputs(group), target) is not None:
                log.info(
                    "%s: job group %s was already published there (publication %s); not again",
                    target.address,
                    group,
                    existing.get("id"),
                )
                return self.result(target, group, already=True)
            log.warning(
                "%s: job group %s's earlier publication %s wrote no table; publishing again",
                target.address,
                group,
                existing.get("id"),
            )
        before = {j.get("id") for j in self.waiter.jobs(group)}
        path = f"{JOB_GROUPS}/{group}/publish"
        try:
            answer = self.client.json(
                "PUT", path, body=publish_body(target, cid, flow_node), safe=False
            )
        except AmbiguousRequest as exc:
            raise PlatformError(
                f"{target.address}: {exc}; look at job group {group}'s publications in the "
                "application before publishing again"
            ) from None
        echoed = answer.get("jobgroupId", answer.get("id")) if isinstance(answer, dict) else None
        if echoed is None:
            raise PlatformError(f"{target.address}: PUT {path} answered no job group id")
        publish_group = int(echoed)
        jobs = self.waiter.wait_jobs(
            publish_group,
            target.address,
            cancel,
            lambda j: is_publish(j) and j.get("id") not in before,
            require_any=True,
        )
        broken = failures(jobs)
        if broken:
            raise PlatformError(
                f"{target.address}: publishing job group {publish_group} failed: {broken}"
            )
        return self.result(target, publish_group)
