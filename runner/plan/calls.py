"""The platform API calls a plan shows, and the remote ids they name (trifacta; empty on local)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from runner.spec.model import Connection, Spec, Target
from runner.state.model import State


def remote_id(state: State | None, conn: Connection) -> int | None:
    return state.remote_id(conn.name, conn.id) if state else conn.id


def riding(
    spec: Spec, state: State | None, job: str
) -> tuple[tuple[Target, Connection, int | None], ...]:
    """The ``via: overrides`` targets that ride on a run of ``job``, with connection ids."""
    return tuple(
        (t, spec.connections[t.connection], remote_id(state, spec.connections[t.connection]))
        for t in spec.override_targets(job)
    )


def shown_calls(calls: Iterable[Any]) -> tuple[Mapping[str, Any], ...]:
    return tuple(c.to_json() for c in calls)
