"""Reading a job group's publications (``GET /v4/jobGroups/{id}/publications``).

The answer is ``{"data": [publication], "count": n}`` (S3); a publication has ``path``
(a list), ``tableName``, ``targetType``, ``action`` and ``connectionId``. Editions differ
in small ways, which are tolerated here and nowhere else: the connection id may be an
int or a string (or a nested ``connection: {id}``), the table may be ``tableName`` or
``table``, and the path may be a bare string for a one-element path.

:func:`find_publication` is deliberately conservative: it is used to skip a
``PUT .../publish`` that already happened, so a publication only counts when every
field we compare is present and equal. Anything unclear means "not published".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from runner.spec.model import Target

#: a publication carrying one of these statuses wrote nothing we need to protect
_UNFINISHED = frozenset({"Failed", "Canceled"})


def publication_list(answer: Any) -> list[dict[str, Any]]:
    """The publications of a ``{data: [...], count}`` answer (a bare list is tolerated)."""
    data = answer.get("data", []) if isinstance(answer, dict) else answer
    if not isinstance(data, list):
        return []
    return [p for p in data if isinstance(p, dict)]


def _table(pub: dict[str, Any]) -> Any:
    return pub["tableName"] if "tableName" in pub else pub.get("table")


def _path(pub: dict[str, Any]) -> list[str] | None:
    path = pub.get("path")
    if isinstance(path, str):
        return [path]
    if isinstance(path, list | tuple) and all(isinstance(p, str) for p in path):
        return list(path)
    return None


def _connection_id(pub: dict[str, Any]) -> str | None:
    value = pub.get("connectionId")
    if value is None:
        nested = pub.get("connection")
        value = nested.get("id") if isinstance(nested, dict) else None
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


def matches(pub: dict[str, Any], target: Target, connection_id: int) -> bool:
    """True when ``pub`` clearly is ``target``'s publication through ``connection_id``."""
    if pub.get("status") in _UNFINISHED:
        return False
    return (
        _table(pub) == target.table
        and _path(pub) == list(target.path)
        and _connection_id(pub) == str(connection_id)
        and pub.get("action") == target.action
    )


def find_publication(
    pubs: Iterable[dict[str, Any]], target: Target, connection_id: int
) -> dict[str, Any] | None:
    """The first publication that clearly matches ``target``, or None."""
    return next((p for p in pubs if matches(p, target, connection_id)), None)
