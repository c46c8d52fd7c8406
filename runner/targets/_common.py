"""Helpers shared by the warehouse targets (Postgres, Redshift, MySQL/MariaDB).

Nothing here talks to a database: naming of staging tables, error messages that name
the connection and host (never a secret), and one driver connection per thread. The prefetching iterator is in :mod:`._prefetch`.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from runner.errors import TargetError
from runner.spec.model import Connection
from runner.spec.params import driver_params
from runner.spec.secrets import redact, reveal
from runner.targets.base import PublishRequest, TableRef

#: tables whose catalog estimate is below this many rows are counted exactly
EXACT_COUNT_LIMIT = 1_000_000
#: seconds to wait for a connection to open
CONNECT_TIMEOUT = 10
#: statement timeout for loads (seconds); describe uses DESCRIBE_TIMEOUT
LOAD_TIMEOUT = 3600
DESCRIBE_TIMEOUT = 120


def by_path(
    tables: Iterable[TableRef], key: Callable[[TableRef], str]
) -> dict[str, list[TableRef]]:
    """``tables`` grouped by schema (or database) for one catalog query per group."""
    groups: dict[str, list[TableRef]] = {}
    for t in tables:
        groups.setdefault(key(t), []).append(t)
    return groups


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


#: SQLSTATE classes of failures that say nothing about the spec or the data: connection
#: exceptions (08), transaction rollbacks: deadlock, serialization (40), operator
#: intervention: server shutting down (57P)
_TRANSIENT_SQLSTATES = ("08", "40", "57P")
#: MySQL/MariaDB: lock wait timeout, deadlock, server gone away, lost connection
_TRANSIENT_MYSQL_CODES = frozenset({1205, 1213, 2006, 2013})
_TRANSIENT_TEXT = re.compile(
    r"server closed the connection|connection (is|was) lost|consuming input failed|"
    r"terminating connection|database is locked|lost connection",
    re.IGNORECASE,
)


def is_transient(exc: BaseException) -> bool:
    """Whether a driver error is a lost connection, a deadlock or a server shutting down."""
    sqlstate = getattr(exc, "sqlstate", None)  # psycopg
    if isinstance(sqlstate, str) and sqlstate.startswith(_TRANSIENT_SQLSTATES):
        return True
    code = exc.args[0] if exc.args else None  # pymysql: (code, message)
    if isinstance(code, int) and code in _TRANSIENT_MYSQL_CODES:
        return True
    return bool(_TRANSIENT_TEXT.search(str(exc)))


def driver_error(connection: Connection, exc: BaseException, doing: str) -> TargetError:
    """A TargetError for a driver exception, naming the connection, never a secret."""
    message = str(exc).strip() or type(exc).__name__
    password = reveal(connection.password)
    if password:
        message = message.replace(password, "***")
    return TargetError(
        redact(f"{where(connection)}: {doing}: {message}"), transient=is_transient(exc)
    )


def load_error(
    connection: Connection,
    request: PublishRequest,
    message: str,
    row: int | None = None,
    column: str | None = None,
    *,
    transient: bool = False,
) -> TargetError:
    """A failed load, naming the target, the row and column when known, never a secret.

    ``... failed at row N, column 'c': message``, or ``failed in column 'c'`` when only
    the column is known; it always ends by saying the table is unchanged.
    """
    if row is not None:
        place = f" at row {row}" + (f", column {column!r}" if column else "")
    else:
        place = f" in column {column!r}" if column else ""
    base = driver_error(
        connection,
        Exception(message),
        f"target.{request.target}: {request.action} into {request.ref} failed{place}",
    )
    return TargetError(f"{base}; the table is unchanged", transient=transient)


def params_of(connection: Connection) -> dict[str, str]:
    """The connection's extra driver parameters, with secrets revealed for the driver.

    Only the vendor's allow-list (:data:`runner.spec.params.DRIVER_PARAMS`) ever reaches a
    driver: a key such as MySQL's ``init_command`` would run SQL when plan connects.
    """
    try:
        params = driver_params(connection.vendor, connection.params)
    except ValueError as exc:
        raise TargetError(f"{connection.address}: {exc}") from None
    return {k: str(reveal(v)) for k, v in params.items()}


class PerThreadConnection:
    """One driver connection per thread.

    The executor publishes to several tables of one connection in parallel through the
    same target object; a driver connection holds one transaction at a time, so each
    thread gets its own. :meth:`close` closes every one of them. Anything else the
    threads share is either set once per server (the same for every connection) or
    changed under a lock (:meth:`_counted`).
    """

    introspection_queries: int

    def _init_connections(self) -> None:
        self._local = threading.local()
        self._opened: list[Any] = []
        self._opened_lock = threading.Lock()
        self._count_lock = threading.Lock()

    def _counted(self) -> None:
        """One more catalog query (``+=`` alone can lose counts between threads)."""
        with self._count_lock:
            self.introspection_queries += 1

    @property
    def _conn(self) -> Any:
        return getattr(self._local, "conn", None)

    @_conn.setter
    def _conn(self, value: Any) -> None:
        self._local.conn = value
        if value is not None:
            with self._opened_lock:
                self._opened.append(value)

    def _forget_connection(self) -> None:
        """Drop this thread's connection (it broke); the next use opens a new one."""
        conn = self._conn
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        """Close every thread's connection (the target's ``close``)."""
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            with contextlib.suppress(Exception):
                conn.close()
        self._local = threading.local()
