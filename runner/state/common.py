"""What both state backends share: lock records, lock messages, and checked state parsing."""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from runner import __version__
from runner.errors import StateError
from runner.state.model import LockInfo, State

#: the command a user runs to clear a lock, filled with the spec reference and lock id
UNLOCK_COMMAND = "publish force-unlock {spec} {id}{env}"


def new_lock_info(operation: str) -> LockInfo:
    """A fresh lock record for this process."""
    return LockInfo(
        id=str(uuid.uuid4()),
        operation=operation,
        who=f"{_user()}@{socket.gethostname()}",
        pid=os.getpid(),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        version=__version__,
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers) and no USER variable
        return f"uid{os.getuid()}"


def lock_info_to_json(info: LockInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "operation": info.operation,
        "who": info.who,
        "pid": info.pid,
        "created": info.created,
        "version": info.version,
    }


def lock_info_from_json(data: object) -> LockInfo | None:
    """The lock record in ``data``, or None when it is missing or malformed."""
    if not isinstance(data, Mapping):
        return None
    try:
        return LockInfo(
            id=str(data["id"]),
            operation=str(data["operation"]),
            who=str(data["who"]),
            pid=int(data["pid"]),
            created=str(data["created"]),
            version=str(data.get("version", "")),
        )
    except (KeyError, TypeError, ValueError):
        return None


def age(created: str, now: datetime | None = None) -> str:
    """How long ago an ISO 8601 time was, as ``1h02m03s`` (``?`` when unreadable)."""
    try:
        then = datetime.fromisoformat(created)
    except ValueError:
        return "?"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def unlock_command(spec_ref: str, lock_id: str, environment: str) -> str:
    env = f" --env {environment}" if environment != "default" else ""
    return UNLOCK_COMMAND.format(spec=spec_ref, id=lock_id, env=env)


def locked_message(
    holder: LockInfo | None, where: str, spec_ref: str, environment: str, waited: float
) -> str:
    """The LockError text: who holds the lock, since when, and how to clear it."""
    waited_text = f" (waited {waited:g}s)" if waited > 0 else ""
    if holder is None:
        return (
            f"state is locked{waited_text}: {where} is held by another process that has not "
            "recorded who it is yet; try again in a moment"
        )
    return (
        f"state is locked{waited_text}: {holder.describe()} ({age(holder.created)} ago). "
        "Wait for it to finish (or pass --lock-timeout SECONDS to wait), or if that process "
        f"is gone run: {unlock_command(spec_ref, holder.id, environment)}"
    )


#: the deepest nesting a state file holds (a real one needs about 6 levels)
MAX_STATE_DEPTH = 32


class CorruptState(ValueError):
    """The state's JSON parses to something no state can be (such as 100,000 levels deep)."""


def loads_state(raw: bytes | str) -> object:
    """Parse a state's JSON text; CorruptState when it is nested too deeply to be a state.

    ``json.loads`` of 100,000 nested brackets raises RecursionError (a bug's exit code,
    not a message); anything deeper than :data:`MAX_STATE_DEPTH` is refused here too, so
    no later walk of the data can recurse that deep.
    """
    try:
        data = json.loads(raw)
    except RecursionError:
        raise CorruptState(
            f"it is nested more than {MAX_STATE_DEPTH} levels deep; no state is"
        ) from None
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_STATE_DEPTH:
            raise CorruptState(f"it is nested more than {MAX_STATE_DEPTH} levels deep; no state is")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return data


def parse_state(
    data: object, where: str, spec_name: str, environment: str, restore_hint: Callable[[], str]
) -> State:
    """A State from parsed JSON, or StateError saying what is wrong and how to restore."""
    try:
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a JSON object, found {type(data).__name__}")
        state = State.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        problem = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise StateError(
            f"state {where} is unreadable ({problem}); it is never read as 'no state'. "
            f"{restore_hint()}"
        ) from None
    if state.spec != spec_name or state.environment != environment:
        raise StateError(
            f"state {where} belongs to spec {state.spec!r} environment {state.environment!r}, "
            f"not spec {spec_name!r} environment {environment!r}; {restore_hint()}"
        )
    return state


def dumps_state(state: State) -> str:
    """The state as stable, reviewable JSON text (sorted keys, indented, trailing newline)."""
    return json.dumps(state.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


_SECTIONS = ("connections", "jobs", "publications")


class StateEncoder:
    """:func:`dumps_state`, fast for a state that changes a few records at a time.

    An apply writes the state after every step; with thousands of records, rendering
    each one again (``dataclasses.asdict`` and the indenting encoder, which has no C
    speedup) costs far more than the write itself. Records are immutable, so the text
    of each is kept and reused while the same record object stays in the state. The
    output is byte-identical to :func:`dumps_state` (a test holds it to that).
    """

    def __init__(self) -> None:
        self._texts: dict[int, tuple[object, str, str]] = {}

    def dumps(self, state: State) -> str:
        rest = state.replace(**{name: {} for name in _SECTIONS}).to_json()
        placeholders = {}
        for name in _SECTIONS:
            placeholders[name] = f"\x00{uuid.uuid4().hex}\x00"  # no value can hold it
            rest[name] = placeholders[name]
        text = json.dumps(rest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        texts: dict[int, tuple[object, str, str]] = {}
        for name in _SECTIONS:
            records: Mapping[str, object] = getattr(state, name)
            rendered = self._section(records, texts)
            text = text.replace(json.dumps(placeholders[name], ensure_ascii=False), rendered, 1)
        self._texts = texts  # only records of the latest state stay cached
        return text

    def _section(
        self, records: Mapping[str, object], texts: dict[int, tuple[object, str, str]]
    ) -> str:
        if not records:
            return "{}"
        lines = []
        cache = self._texts
        for key, record in sorted(records.items()):
            cached = cache.get(id(record))
            if cached is None or cached[0] is not record or cached[1] != key:
                body = json.dumps(
                    dataclasses.asdict(record),  # type: ignore[call-overload]
                    indent=2,
                    sort_keys=True,
                    ensure_ascii=False,
                ).replace("\n", "\n    ")
                cached = (record, key, f"    {json.dumps(key, ensure_ascii=False)}: {body}")
            texts[id(record)] = cached
            lines.append(cached[2])
        return "{\n" + ",\n".join(lines) + "\n  }"


def check_successor(stored: State | None, new: State, where: str) -> None:
    """Refuse to write ``new`` over ``stored`` when its lineage differs or its serial is lower."""
    if stored is None:
        return
    if new.lineage != stored.lineage:
        raise StateError(
            f"refusing to write state to {where}: its lineage {new.lineage} differs from the "
            f"stored lineage {stored.lineage} (a state of another history; it would replace, "
            "not continue, what is recorded)"
        )
    if new.serial < stored.serial:
        raise StateError(
            f"refusing to write state to {where}: its serial {new.serial} is lower than the "
            f"stored serial {stored.serial}; another run wrote the state since this one read "
            "it. Plan again"
        )
