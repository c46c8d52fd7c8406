"""Connections on the service: find by name, create, verify, test.

Only ``POST /v4/connections`` changes a connection, by creating it. No release the
project has pages of documents ``PATCH /v4/connections/{id}``, so a changed definition
of a connection made earlier is not sent: the plan says to change it in the
application, and apply checks that ``GET /v4/connections/{id}`` then shows the spec's
host, port, database and username before recording it. The password cannot be read
back; a changed password is the user's to set in the application.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from runner.errors import PlatformError
from runner.platforms.base import ApiCall
from runner.platforms.trifacta.api import connection_body
from runner.platforms.trifacta.checks import check_connection_spec
from runner.platforms.trifacta.client import AmbiguousRequest, TrifactaClient
from runner.platforms.trifacta.outputs import items
from runner.platforms.trifacta.releases import DRY_RUN, documents, where
from runner.spec import secrets
from runner.spec.model import Connection

CONNECTIONS = "/v4/connections"
PAGE_LIMIT = 100
MAX_PAGES = 100
Describe = Callable[[int], Mapping[str, Any] | None]


def find_connection(client: TrifactaClient, name: str) -> dict[str, Any] | None:
    """The connection named exactly ``name`` (GET /v4/connections, paginated)."""
    matches: list[dict[str, Any]] = []
    for page in range(MAX_PAGES):
        params = {
            "filter": name,
            "filterFields": "name",
            "limit": PAGE_LIMIT,
            "offset": page * PAGE_LIMIT,
        }
        data = items(client.json("GET", CONNECTIONS, params=params))
        matches += [c for c in data if c.get("name") == name]
        if len(data) < PAGE_LIMIT:
            break
    if len(matches) > 1:
        ids = ", ".join(str(c.get("id")) for c in matches)
        raise PlatformError(
            f"connection.{name}: {len(matches)} connections are named {name} (ids {ids}); "
            "adopt one with `id: N`"
        )
    return matches[0] if matches else None


def mismatches(connection: Connection, info: Mapping[str, Any]) -> list[str]:
    """Fields the service shows differently from the spec (documented, readable ones)."""
    params = info.get("params") if isinstance(info.get("params"), Mapping) else {}
    creds = info.get("credentials")
    user = creds[0].get("username") if isinstance(creds, list) and creds else None
    shown = {
        "host": info.get("host"),
        "port": info.get("port"),
        "database": params.get("database") if isinstance(params, Mapping) else None,
        "username": user,
    }
    return [
        f"{k} is {shown[k]!r}, the spec says {getattr(connection, k)!r}"
        for k in shown
        if shown[k] is not None and shown[k] != getattr(connection, k)
    ]


def connection_calls(connection: Connection, remote_id: int | None) -> list[ApiCall]:
    if connection.adopted:
        return [ApiCall("GET", f"{CONNECTIONS}/{connection.id}")]
    if remote_id is not None:
        return [ApiCall("GET", f"{CONNECTIONS}/{remote_id}")]
    query = f"filter={connection.name}&filterFields=name&limit={PAGE_LIMIT}&offset=0"
    body = connection_body(connection, masked=True)
    return [ApiCall("GET", f"{CONNECTIONS}?{query}"), ApiCall("POST", CONNECTIONS, body)]


def update_note(connection: Connection, remote_id: int | None) -> str:
    return (
        f"the connection's definition changed: the API documents no way to change connection "
        f"{remote_id}, so change it in the application; apply then checks that "
        f"GET {CONNECTIONS}/{remote_id} shows the spec's host, port, database and username "
        "and records the new definition"
    )


def ensure(
    client: TrifactaClient, describe: Describe, connection: Connection, remote_id: int | None
) -> int:
    """The remote id of ``connection``: adopted, verified, found by name, or created."""
    known = connection.id if connection.id is not None else remote_id
    if known is not None:
        info = describe(known)
        if info is None:
            if connection.id is not None:
                raise PlatformError(
                    f"{connection.address}: connection {known} does not exist "
                    f"(GET {CONNECTIONS}/{known} answered 404); check the id"
                )
        else:
            wrong = [] if connection.adopted else mismatches(connection, info)
            if wrong:
                raise PlatformError(
                    f"{connection.address}: connection {known} differs from the spec: "
                    f"{'; '.join(wrong)}. Change it in the application (the API documents no "
                    "way to change a connection), then apply again"
                )
            return known
    problems = check_connection_spec(connection)
    if problems:
        raise PlatformError("; ".join(problems))
    found = find_connection(client, connection.name)
    if found is not None:
        return int(found["id"])
    body = connection_body(connection, masked=False)
    try:
        answer = client.json("POST", CONNECTIONS, body=body, safe=False)
    except AmbiguousRequest as exc:
        found = find_connection(client, connection.name)
        if found is None:
            raise PlatformError(f"{connection.address}: {exc}; it was not found") from None
        return int(found["id"])
    return int(answer["id"])


def test(
    client: TrifactaClient, release: str, connection: Connection, remote_id: int | None
) -> str | None:
    """Test a connection (``--check-connections``): None when it works, else why not.

    An existing connection is tested with ``GET /v4/connections/{id}/status``; one not
    created yet with ``POST /v4/connections/dryRun`` where the release documents it.
    """
    known = connection.id if connection.id is not None else remote_id
    if known is not None:
        answer = client.json("GET", f"{CONNECTIONS}/{known}/status")
    else:
        problems = check_connection_spec(connection)
        if problems:
            return "; ".join(problems)
        if not documents(release, DRY_RUN):
            return (
                f"{connection.address}: cannot be tested before it exists: {DRY_RUN} is "
                f"documented for {where(DRY_RUN)}; apply it, then plan --check-connections"
            )
        body = connection_body(connection, masked=False)
        answer = client.json("POST", f"{CONNECTIONS}/dryRun", body=body, safe=True)
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
