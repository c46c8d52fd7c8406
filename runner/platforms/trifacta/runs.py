"""Finding a job run we may have started when the answer to its POST was lost.

After an ambiguous ``POST /v4/jobGroups`` (read timeout, connection lost after sending,
5xx) the run may exist. We list recent API runs (``GET /v4/jobLibrary``, the listing
that replaces the deprecated ``GET /v4/jobGroups``; S3) and take, for the same
wrangledDataset, the one that echoes our execution id if the API echoes it, else the
newest one created after we started (less a clock-skew allowance).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from runner.platforms.trifacta.client import TrifactaClient

LIBRARY = "/v4/jobLibrary"
LOOKUP_LIMIT = 25
#: seconds a server clock may run behind ours and still count as "after we started"
CLOCK_SKEW = 60.0
_ECHO_KEYS = ("executionId", "x-execution-id", "clientExecutionId")


def lookup_params() -> dict[str, Any]:
    return {"ranfrom": "api", "sort": "-createdAt", "limit": LOOKUP_LIMIT}


def _dataset_id(item: dict[str, Any]) -> int | None:
    ds = item.get("wrangledDataset")
    value = ds.get("id") if isinstance(ds, dict) else item.get("flowNodeId")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _created(item: dict[str, Any]) -> float | None:
    value = item.get("createdAt")
    if not isinstance(value, str):
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.timestamp()


def find_run(
    client: TrifactaClient, wrangled_dataset: int, execution_id: str, started_at: float
) -> int | None:
    """The job group id of our run, or None when it is not there."""
    answer = client.json("GET", LIBRARY, params=lookup_params())
    items = answer.get("data", []) if isinstance(answer, dict) else answer
    if not isinstance(items, list):
        return None
    recent: list[tuple[float, int]] = []
    for item in items:
        if not isinstance(item, dict) or _dataset_id(item) != wrangled_dataset:
            continue
        try:
            group_id = int(item["id"])
        except (KeyError, TypeError, ValueError):
            continue
        echoed = next((item[k] for k in _ECHO_KEYS if k in item), None)
        if echoed is not None:
            if str(echoed) == execution_id:
                return group_id
            continue
        created = _created(item)
        if created is not None and created >= started_at - CLOCK_SKEW:
            recent.append((created, group_id))
    return max(recent)[1] if recent else None
