"""Prepare the next batch in a worker thread while the database loads this one."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()


class Prefetch(Iterator[T]):
    """Iterate ``items`` in a background thread, up to ``depth`` items ahead.

    The thread starts at once, so the first batches are decoded and encoded while the
    database is still busy with what comes before the load (a DELETE, a CREATE).
    polars releases the GIL while it decodes and encodes, and the drivers release it
    while they send, so on two cores the next batch is prepared while this one loads.
    Exceptions in the producer are re-raised in the consumer. Always :meth:`close` it
    (``with Prefetch(...) as items:``), which stops the producer and waits for it.
    The worker never touches a database connection, only ``items``.
    """

    def __init__(self, items: Iterable[T], depth: int = 2, name: str = "publish-prefetch") -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._produce, args=(items,), name=name, daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, items: Iterable[T]) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the consumer
            self._put(exc)
        finally:  # a generator stopped early runs its own clean-up (an inner Prefetch's)
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if item is _END:
            self._done = True
            raise StopIteration
        if isinstance(item, BaseException):
            self._done = True
            raise item
        return item  # type: ignore[return-value]

    def close(self) -> None:
        self._stop.set()
        self._done = True
        while self._thread.is_alive():
            try:
                self._queue.get_nowait()
            except queue.Empty:
                self._thread.join(0.05)

    def __enter__(self) -> Prefetch[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
