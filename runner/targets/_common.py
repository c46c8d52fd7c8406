"""Helpers shared by the warehouse targets (Postgres, Redshift, MySQL/MariaDB).

Nothing here talks to a database: naming of staging tables, error messages that name
the connection and host (never a secret), logical-type parsing, and a small prefetching
iterator that overlaps decoding/encoding of the next batch with the load of this one.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import re
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from runner.errors import TargetError
from runner.results import ResultSchema
from runner.spec.model import Connection
from runner.spec.secrets import redact, reveal
from runner.targets.base import PublishRequest, TableInfo

T = TypeVar("T")

#: tables whose catalog estimate is below this many rows are counted exactly
EXACT_COUNT_LIMIT = 1_000_000
#: rows per batch read from the result files on the load path
BATCH_ROWS = 250_000
#: seconds to wait for a connection to open
CONNECT_TIMEOUT = 10
#: statement timeout for loads (seconds); describe uses DESCRIBE_TIMEOUT
LOAD_TIMEOUT = 3600
DESCRIBE_TIMEOUT = 120

_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")


def decimal_parts(logical: str) -> tuple[int, int] | None:
    """``(precision, scale)`` of a ``decimal(P,S)`` logical type, else None."""
    m = _DECIMAL.match(logical.strip().lower())
    return (int(m.group(1)), int(m.group(2))) if m else None


def staging_name(kind: str, table: str, run_id: str, limit: int) -> str:
    """A table name for staging ``table`` in run ``run_id``, at most ``limit`` bytes.

    ``_pub_<kind>_<table prefix>_<hash of table><hash of table and run>``: the hashes
    cover the whole names, so truncating the readable part never makes two tables' or
    two runs' names collide, and :func:`staging_prefix` finds only this table's ones.
    """
    of_table = hashlib.sha256(table.encode()).hexdigest()[:8]
    of_run = hashlib.sha256(f"{table}\0{run_id}".encode()).hexdigest()[:8]
    head = f"_pub_{kind}_"
    room = limit - len(head.encode()) - 17
    readable = re.sub(r"[^A-Za-z0-9_]", "", table).lower().encode()[: max(room, 0)].decode()
    return f"{head}{readable}_{of_table}{of_run}"


def staging_prefix(kind: str, table: str, limit: int) -> tuple[str, int]:
    """``(prefix, length)``: every staging name of ``table`` starts with the prefix and
    has this length (for cleaning up what a crashed run left behind, and nothing else)."""
    name = staging_name(kind, table, "", limit)
    return name[:-8], len(name)


def where(connection: Connection) -> str:
    """``connection.NAME (host:port)``: how errors name a connection."""
    host = connection.host or "localhost"
    port = f":{connection.port}" if connection.port else ""
    return f"{connection.address} ({host}{port})"


def driver_error(connection: Connection, exc: BaseException, doing: str) -> TargetError:
    """A TargetError for a driver exception, naming the connection, never a secret."""
    message = str(exc).strip() or type(exc).__name__
    password = reveal(connection.password)
    if password:
        message = message.replace(password, "***")
    return TargetError(redact(f"{where(connection)}: {doing}: {message}"))


def params_of(connection: Connection) -> dict[str, str]:
    """The connection's extra driver parameters, with secrets revealed for the driver."""
    return {k: str(reveal(v)) for k, v in connection.params.items()}


def check_columns(request: PublishRequest, info: TableInfo | None) -> None:
    """Every result column must exist in an existing table (load-type actions)."""
    schema: ResultSchema = request.results.schema
    if info is None or request.action == "dropAndLoad":
        return
    missing = [c.name for c in schema.columns if info.column(c.name) is None]
    if missing:
        raise TargetError(
            f"target.{request.target}: table {request.ref} has no column "
            f"{', '.join(repr(m) for m in missing)}; use dropAndLoad to recreate it "
            "from the results, or add the columns"
        )


def check_key(request: PublishRequest) -> None:
    if request.action != "upsert":
        return
    if not request.key:
        raise TargetError(f"target.{request.target}: upsert needs `key` (the key columns)")
    missing = [k for k in request.key if request.results.schema.get(k) is None]
    if missing:
        raise TargetError(
            f"target.{request.target}: key column {', '.join(map(repr, missing))} "
            "is not in the results"
        )


_END = object()


class Prefetch(Iterator[T]):
    """Iterate ``items`` in a background thread, up to ``depth`` items ahead.

    The thread starts at once, so the first batches are decoded and encoded while the
    database is still busy with what comes before the load (a DELETE, a CREATE).
    polars releases the GIL while it decodes and encodes, and the drivers release it
    while they send, so on two cores the next batch is prepared while this one loads.
    Exceptions in the producer are re-raised in the consumer. Always :meth:`close` it
    (``with Prefetch(...) as items:``), which stops the producer.
    """

    def __init__(self, items: Iterable[T], depth: int = 2) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=self._produce, args=(items,), name="publish-prefetch", daemon=True
        )
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


class PerThreadConnection:
    """One driver connection per thread.

    The executor publishes to several tables of one connection in parallel through the
    same target object; a driver connection holds one transaction at a time, so each
    thread gets its own. :meth:`_close_all` closes every one of them.
    """

    def _init_connections(self) -> None:
        self._local = threading.local()
        self._opened: list[Any] = []
        self._opened_lock = threading.Lock()

    @property
    def _conn(self) -> Any:
        return getattr(self._local, "conn", None)

    @_conn.setter
    def _conn(self, value: Any) -> None:
        self._local.conn = value
        if value is not None:
            with self._opened_lock:
                self._opened.append(value)

    def _close_all(self) -> None:
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            with contextlib.suppress(Exception):
                conn.close()
        self._local = threading.local()
