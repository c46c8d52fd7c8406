"""The journal: every finished step is written to state as soon as it finishes."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from runner.errors import StateError
from runner.state.backend import StateBackend
from runner.state.model import State

ERRORED_STATE = "errored.state.json"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Journal:
    """Serialises state updates from parallel steps; each update is one atomic write.

    When the backend cannot take a write, the state that could not be saved is written
    to ``errored.state.json`` in the current folder (as Terraform's errored.tfstate), so
    what the apply did is never lost, and the error says how to restore it.
    """

    def __init__(
        self, backend: StateBackend, state: State, errored_dir: Path | None = None
    ) -> None:
        self._backend = backend
        self._lock = threading.Lock()
        self._errored = (errored_dir or Path.cwd()) / ERRORED_STATE
        self.state = state

    def record(self, update: Callable[[State], State]) -> State:
        with self._lock:
            wanted = update(self.state)
            try:
                self.state = self._backend.write(wanted)
            except StateError as exc:
                self.state = wanted  # keep what happened, so later records carry it too
                self._errored.write_text(json.dumps(wanted.to_json(), indent=2, sort_keys=True))
                raise StateError(
                    f"{exc}\nThe state this apply could not save was written to {self._errored}; "
                    f"once the backend works again, compare it with {self._backend.describe()} and "
                    "restore it from there before applying again."
                ) from exc
            return self.state
