"""Several observers of one apply behind the executor's one ``events`` hook.

The executor tells one :class:`~runner.apply.executor.Events` what happens (a step started,
made progress, finished). The progress display, lineage and a Python caller's callback all
want to hear it: :class:`Observers` passes every call to each of them in turn. An observer
that fails (a lineage server down) is logged once and dropped; it never fails the apply.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from runner.apply.executor import Events, StepResult
from runner.plan.model import Change

log = logging.getLogger("runner.observers")


class Observers(Events):
    def __init__(self, *observers: Events | None) -> None:
        self._observers = [o for o in observers if o is not None]
        self._lock = threading.Lock()

    def _each(self, call: Callable[[Events], None]) -> None:
        for observer in list(self._observers):
            try:
                call(observer)
            except Exception as exc:  # an observer's bug or outage never stops the apply
                with self._lock:
                    dropped = observer in self._observers
                    if dropped:
                        self._observers.remove(observer)
                if dropped:  # said once, however many threads saw it fail
                    log.warning(
                        "%s stopped reporting: %s: %s",
                        type(observer).__name__,
                        type(exc).__name__,
                        exc,
                    )

    def started(self, change: Change) -> None:
        self._each(lambda o: o.started(change))

    def progress(self, change: Change, rows: int, total: int | None = None) -> None:
        self._each(lambda o: o.progress(change, rows, total))

    def note(self, change: Change, message: str) -> None:
        self._each(lambda o: o.note(change, message))

    def finished(self, result: StepResult) -> None:
        self._each(lambda o: o.finished(result))

    def close(self) -> None:
        """Let observers that hold resources (a lineage transport) flush them."""
        for observer in self._observers:
            close = getattr(observer, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:
                    log.warning("%s could not close: %s", type(observer).__name__, exc)
