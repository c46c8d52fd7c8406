"""Open targets once per connection for the planner, and close them all after."""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

from runner.spec.model import Connection
from runner.targets.base import TableTarget
from runner.targets.registry import open_target


class TargetPool:
    """A cache of open targets keyed by connection name (safe to share between threads)."""

    def __init__(self, base_dir: Path) -> None:
        self._base_dir = base_dir
        self._open: dict[str, TableTarget] = {}
        self._lock = threading.Lock()

    def get(self, connection: Connection) -> TableTarget:
        with self._lock:
            target = self._open.get(connection.name)
            if target is None:
                target = open_target(connection, self._base_dir)
                self._open[connection.name] = target
            return target

    def introspection_queries(self) -> int:
        with self._lock:
            return sum(t.introspection_queries for t in self._open.values())

    def close(self) -> None:
        with self._lock:
            targets = list(self._open.values())
            self._open.clear()
        for target in targets:
            target.close()

    def __enter__(self) -> TargetPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
