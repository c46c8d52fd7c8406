"""Open targets once per connection for the planner, and close them all after."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from runner.spec.model import Connection
from runner.targets.base import Target
from runner.targets.registry import open_target


class TargetPool:
    """A cache of open targets keyed by connection name."""

    def __init__(self, base_dir: Path) -> None:
        self._base_dir = base_dir
        self._open: dict[str, Target] = {}

    def get(self, connection: Connection) -> Target:
        target = self._open.get(connection.name)
        if target is None:
            target = open_target(connection, self._base_dir)
            self._open[connection.name] = target
        return target

    def introspection_queries(self) -> int:
        return sum(t.introspection_queries for t in self._open.values())

    def close(self) -> None:
        for target in self._open.values():
            target.close()
        self._open.clear()

    def __enter__(self) -> TargetPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
