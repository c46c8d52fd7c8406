"""What a job group wrote: ``GET /v4/jobGroups/{id}/outputs`` and ``.../jobs``.

``outputs`` answers ``{files: [{uri, fileType, isPrimaryOutput}], tables: [{vendor,
databaseConnectString, relationalPath, table, action}]}``: the files hold the results a
publish reads; the tables are the tables actually written, with the timestamp suffix
the service gives a table made by ``create`` / ``createAndLoad``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from runner.platforms.trifacta.api import api_format
from runner.spec.model import Target

#: actions after which the service names the new table ``<table>_<timestamp>``
TIMESTAMPED_ACTIONS: frozenset[str] = frozenset({"create", "createAndLoad"})
TIMESTAMP_SUFFIX = "_<timestamp>"
FINAL = frozenset({"Complete", "Failed", "Canceled"})
#: job types that move results into a table
PUBLISH_JOB_TYPES = frozenset({"publish"})


def items(answer: Any, key: str = "data") -> list[dict[str, Any]]:
    """The dict entries of ``answer[key]`` (a list or a ``{data: [...]}`` envelope)."""
    value = answer.get(key) if isinstance(answer, Mapping) else answer
    if isinstance(value, Mapping):
        value = value.get("data")
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def file_formats(outputs: Any) -> set[str]:
    """The result formats among the files of an ``outputs`` answer (by file extension)."""
    found = set()
    for entry in items(outputs, "files"):
        uri = str(entry.get("uri", "")).lower()
        for ext in re.findall(r"\.([a-z]+)", uri.rsplit("/", 1)[-1]):
            found.add(ext)
    return found


def has_format(outputs: Any, fmt: str) -> bool:
    wanted = api_format(fmt)
    return wanted in file_formats(outputs) or fmt in file_formats(outputs)


def table_pattern(target: Target) -> str:
    """The name the service gives the table: ``t_<timestamp>`` for create/createAndLoad."""
    if target.action in TIMESTAMPED_ACTIONS:
        return target.table + TIMESTAMP_SUFFIX
    return target.table


def name_matches(target: Target, written: str) -> bool:
    """Whether ``written`` is the table the service writes for ``target``."""
    if target.action not in TIMESTAMPED_ACTIONS:
        return written == target.table
    prefix = target.table + "_"
    return written.startswith(prefix) and len(written) > len(prefix)


def written_table(outputs: Any, target: Target) -> str | None:
    """The table the job group wrote for ``target`` (newest last), or None."""
    found = None
    for entry in items(outputs, "tables"):
        path = entry.get("relationalPath")
        table = entry.get("table")
        if not isinstance(table, str) or not isinstance(path, list):
            continue
        if list(path) != list(target.path) or not name_matches(target, table):
            continue
        if entry.get("action") not in (None, target.action):
            continue
        found = table
    return found


def unfinished(jobs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [j for j in jobs if j.get("status") not in FINAL]


def failures(jobs: Iterable[Mapping[str, Any]]) -> str:
    """``publish job 7: <errorMessage>; ...`` for each failed or canceled job."""
    messages = []
    for job in jobs:
        status = job.get("status")
        if status not in ("Failed", "Canceled"):
            continue
        kind = job.get("jobType") or "job"
        if status == "Canceled":
            messages.append(f"{kind} job {job.get('id')} was canceled")
            continue
        messages.append(f"{kind} job {job.get('id')}: {job.get('errorMessage') or 'no message'}")
    return "; ".join(messages)


def is_publish(job: Mapping[str, Any]) -> bool:
    return job.get("jobType") in PUBLISH_JOB_TYPES
