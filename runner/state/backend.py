"""The protocol every state backend follows, and how to open one for a spec."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from runner.state.model import LockInfo, State


class StateBackend(Protocol):
    def read(self) -> State | None:
        """The current state; None only when none was ever written.

        An empty, truncated or corrupt state raises StateError naming the backup to
        restore; it is never read as "no state".
        """
        ...

    def write(self, state: State) -> State:
        """Persist ``state`` with ``serial + 1`` atomically; returns what was written.

        Refuses (StateError) a state whose lineage differs from the stored one or whose
        serial is lower than the stored serial.
        """
        ...

    def lock(self, operation: str, timeout: float = 0.0) -> AbstractContextManager[LockInfo]:
        """Hold the exclusive lock; waits up to ``timeout`` seconds, then LockError."""
        ...

    def force_unlock(self, lock_id: str) -> None:
        """Remove a lock left by a killed process; only with its exact id."""
        ...

    def describe(self) -> str:
        """Where the state lives, for messages (never with a password)."""
        ...
