"""The journal: every finished step is written to state as soon as it finishes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

from runner.state.backend import StateBackend
from runner.state.model import State


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Journal:
    """Serialises state updates from parallel steps; each update is one atomic write."""

    def __init__(self, backend: StateBackend, state: State) -> None:
        self._backend = backend
        self._lock = threading.Lock()
        self.state = state

    def record(self, update: Callable[[State], State]) -> State:
        with self._lock:
            self.state = self._backend.write(update(self.state))
            return self.state
