"""The postgres state backend: state rows in a table, the lock as a session advisory lock.

``publish_state`` keeps the current state and a few previous ones (one row per serial);
a write inserts ``serial + 1`` in one transaction after checking lineage and serial
under a transaction-level advisory lock, so two writers never interleave. The lock is
``pg_try_advisory_lock`` on a dedicated connection: when the process holding it dies,
its session ends and the server releases the lock. ``publish_lock`` records who holds
it, for messages and ``force-unlock``.

The URL usually comes from a secret: it is parsed by libpq's rules
(``conninfo_to_dict``), its password is registered for redaction, and only host,
port and database ever appear in messages. The tables live in the connection's
default schema (set it with ``?options=-csearch_path%3Dmyschema``).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from runner.errors import LockError, StateError
from runner.spec.secrets import Secret, redact, register, reveal
from runner.state.common import (
    StateEncoder,
    check_successor,
    locked_message,
    new_lock_info,
    parse_state,
)
from runner.state.model import LockInfo, State

#: seconds between two attempts to take a busy lock
POLL_INTERVAL = 0.2
#: how many serials are kept (the current state and its predecessors, for recovery)
KEEP_SERIALS = 5
CONNECT_TIMEOUT = 10  # seconds
STATEMENT_TIMEOUT_MS = 30_000
#: serialises table creation across processes (any constant shared by all versions)
_DDL_LOCK_KEY = 0x7075626C69736801  # "publish" + 1

_DDL = (
    """create table if not exists publish_state (
        spec text not null,
        environment text not null,
        lineage text not null,
        serial bigint not null,
        data jsonb not null,
        updated_at timestamptz not null default now(),
        primary key (spec, environment, serial))""",
    """create table if not exists publish_lock (
        spec text not null,
        environment text not null,
        id text not null,
        operation text not null,
        who text not null,
        pid integer not null,
        created text not null,
        version text not null,
        backend_pid integer not null,
        primary key (spec, environment))""",
)


def advisory_key(spec_name: str, environment: str, purpose: str = "lock") -> int:
    """A signed 64-bit advisory lock key for one spec and environment."""
    digest = hashlib.sha256(f"publish\0{purpose}\0{spec_name}\0{environment}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresStateBackend:
    def __init__(
        self,
        url: str | Secret,
        spec_name: str,
        environment: str,
        *,
        spec_ref: str = "SPEC",
        connect_timeout: int = CONNECT_TIMEOUT,
        statement_timeout_ms: int = STATEMENT_TIMEOUT_MS,
    ) -> None:
        self.spec_name = spec_name
        self.environment = environment
        self.spec_ref = spec_ref
        self._params = _parse_url(reveal(url) or "")
        self._params["connect_timeout"] = str(connect_timeout)
        options = self._params.get("options", "")
        self._params["options"] = f"{options} -c statement_timeout={int(statement_timeout_ms)}"
        self._params.setdefault("application_name", "publish-state")
        self._lock_key = advisory_key(spec_name, environment)
        self._write_key = advisory_key(spec_name, environment, "write")
        self._tables_ready = False
        self._encoder = StateEncoder()
        self._written: tuple[int, str, str] | None = None

    def describe(self) -> str:
        host = self._params.get("host") or self._params.get("hostaddr") or "localhost"
        port = self._params.get("port", "5432")
        db = self._params.get("dbname") or self._params.get("user") or "?"
        return f"postgresql://{host}:{port}/{db} (table publish_state)"

    def _where(self) -> str:
        return f"{self.describe()} spec {self.spec_name!r} environment {self.environment!r}"

    # -- connections -----------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(make_conninfo("", **self._params), autocommit=True)
        except psycopg.Error as exc:
            raise StateError(
                f"cannot connect to the state database {self.describe()}: "
                f"{redact(str(exc)).strip()}"
            ) from None
        if not self._tables_ready:
            try:
                with conn.transaction():
                    conn.execute("select pg_advisory_xact_lock(%s)", (_DDL_LOCK_KEY,))
                    for ddl in _DDL:
                        conn.execute(ddl)
            except psycopg.Error as exc:
                conn.close()
                raise self._error("cannot create the state tables in", exc) from None
            self._tables_ready = True
        return conn

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        conn = self._connect()
        try:
            yield conn
        except psycopg.Error as exc:
            raise self._error("state database error on", exc) from None
        finally:
            conn.close()

    def _error(self, what: str, exc: psycopg.Error) -> StateError:
        return StateError(f"{what} {self.describe()}: {redact(str(exc)).strip()}")

    # -- reading and writing ---------------------------------------------------------

    def read(self) -> State | None:
        with self._connection() as conn:
            return self._read(conn)

    def _read(self, conn: psycopg.Connection[Any]) -> State | None:
        row = conn.execute(
            "select serial, lineage, data from publish_state where spec = %s and "
            "environment = %s order by serial desc limit 1",
            (self.spec_name, self.environment),
        ).fetchone()
        if row is None:
            return None
        serial, lineage, data = row
        hint = self._restore_hint(conn, serial)
        state = parse_state(
            data, f"row serial {serial} of {self._where()}", self.spec_name, self.environment, hint
        )
        if state.serial != serial or state.lineage != lineage:
            raise StateError(
                f"state row serial {serial} of {self._where()} is inconsistent: its data "
                f"says serial {state.serial} lineage {state.lineage}, the row says serial "
                f"{serial} lineage {lineage}. {hint()}"
            )
        return state

    def _restore_hint(self, conn: psycopg.Connection[Any], serial: int) -> Callable[[], str]:
        def hint() -> str:
            previous = conn.execute(
                "select max(serial) from publish_state where spec = %s and environment = %s "
                "and serial < %s",
                (self.spec_name, self.environment, serial),
            ).fetchone()
            delete = (
                f"delete from publish_state where spec = {_literal(self.spec_name)} and "
                f"environment = {_literal(self.environment)} and serial = {serial}"
            )
            if previous is None or previous[0] is None:
                return (
                    f"There is no earlier serial to fall back to; fix or remove the row ({delete})."
                )
            return f"The previous serial {previous[0]} is kept; to fall back to it run: {delete}"

        return hint

    def write(self, state: State) -> State:
        if state.spec != self.spec_name or state.environment != self.environment:
            raise StateError(
                f"refusing to write state of spec {state.spec!r} environment "
                f"{state.environment!r} to {self._where()}"
            )
        new = state.replace(serial=state.serial + 1)
        with self._connection() as conn, conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s)", (self._write_key,))
            row = conn.execute(
                "select serial, lineage, xmin::text from publish_state where spec = %s and "
                "environment = %s order by serial desc limit 1",
                (self.spec_name, self.environment),
            ).fetchone()
            if row is not None:
                if tuple(row) != self._written:  # xmin changes when a row is updated
                    self._read(conn)  # refuses to write over a row whose data is unreadable
                stored = State(row[1], row[0], self.spec_name, self.environment)
                check_successor(stored, state, self._where())
            try:
                inserted = conn.execute(
                    "insert into publish_state (spec, environment, lineage, serial, data) "
                    "values (%s, %s, %s, %s, %s::jsonb) returning xmin::text",
                    (
                        self.spec_name,
                        self.environment,
                        new.lineage,
                        new.serial,
                        self._encoder.dumps(new),
                    ),
                )
            except psycopg.errors.UniqueViolation:
                raise StateError(
                    f"refusing to write state serial {new.serial} to {self._where()}: another "
                    "writer stored that serial at the same time. Plan again"
                ) from None
            xmin_row = inserted.fetchone()
            xmin = str(xmin_row[0]) if xmin_row else ""
            conn.execute(
                "delete from publish_state where spec = %s and environment = %s and serial <= %s",
                (self.spec_name, self.environment, new.serial - KEEP_SERIALS),
            )
        #: the row this object wrote last: its data needs no check before the next write
        self._written = (new.serial, new.lineage, xmin)
        return new

    # -- locking ---------------------------------------------------------------------

    def lock(self, operation: str, timeout: float = 0.0) -> AbstractContextManager[LockInfo]:
        return self._lock(operation, timeout)

    @contextlib.contextmanager
    def _lock(self, operation: str, timeout: float) -> Iterator[LockInfo]:
        conn = self._connect()
        try:
            self._acquire(conn, timeout)
            info = new_lock_info(operation)
            conn.execute(
                "insert into publish_lock (spec, environment, id, operation, who, pid, "
                "created, version, backend_pid) values (%s, %s, %s, %s, %s, %s, %s, %s, "
                "pg_backend_pid()) on conflict (spec, environment) do update set "
                "id = excluded.id, operation = excluded.operation, who = excluded.who, "
                "pid = excluded.pid, created = excluded.created, version = excluded.version, "
                "backend_pid = excluded.backend_pid",
                (
                    self.spec_name,
                    self.environment,
                    info.id,
                    info.operation,
                    info.who,
                    info.pid,
                    info.created,
                    info.version,
                ),
            )
        except psycopg.Error as exc:
            conn.close()
            raise self._error("cannot lock the state on", exc) from None
        except BaseException:
            conn.close()
            raise
        try:
            yield info
        finally:
            # a force-unlock may have ended this session: the server released the lock then
            with contextlib.suppress(psycopg.Error):
                conn.execute(
                    "delete from publish_lock where spec = %s and environment = %s and id = %s",
                    (self.spec_name, self.environment, info.id),
                )
                conn.execute("select pg_advisory_unlock(%s)", (self._lock_key,))
            conn.close()

    def _acquire(self, conn: psycopg.Connection[Any], timeout: float) -> None:
        start = time.monotonic()
        while True:
            row = conn.execute("select pg_try_advisory_lock(%s)", (self._lock_key,)).fetchone()
            if row is not None and row[0]:
                return
            waited = time.monotonic() - start
            if waited >= timeout:
                raise LockError(
                    locked_message(
                        self._holder(conn),
                        self._where(),
                        self.spec_ref,
                        self.environment,
                        timeout,
                    )
                )
            time.sleep(min(POLL_INTERVAL, max(0.0, timeout - waited)))

    def _holder(self, conn: psycopg.Connection[Any]) -> LockInfo | None:
        row = conn.execute(
            "select id, operation, who, pid, created, version from publish_lock where "
            "spec = %s and environment = %s and backend_pid in (" + _HOLDERS + ")",
            (self.spec_name, self.environment, *_split_key(self._lock_key)),
        ).fetchone()
        if row is None:
            return None
        return LockInfo(
            id=row[0], operation=row[1], who=row[2], pid=row[3], created=row[4], version=row[5]
        )

    def force_unlock(self, lock_id: str) -> None:
        with self._connection() as conn, conn.transaction():
            row = conn.execute(
                "select id, operation, who, pid, created, version, backend_pid from "
                "publish_lock where spec = %s and environment = %s for update",
                (self.spec_name, self.environment),
            ).fetchone()
            holders = [r[0] for r in conn.execute(_HOLDERS, _split_key(self._lock_key)).fetchall()]
            if not holders:
                stale = (
                    f" (the last lock recorded, {row[0]}, ended with its session)" if row else ""
                )
                raise StateError(f"no lock is held on {self._where()}{stale}; nothing to unlock")
            if row is None or row[6] not in holders:
                raise StateError(
                    f"the lock on {self._where()} is held by database session {holders[0]} "
                    "but it has not recorded its id yet; try again in a moment"
                )
            holder = LockInfo(
                id=row[0],
                operation=row[1],
                who=row[2],
                pid=row[3],
                created=row[4],
                version=row[5],
            )
            if holder.id != lock_id:
                raise StateError(
                    f"lock id {lock_id} does not match the lock held on {self._where()}: "
                    f"{holder.describe()}. Pass that id to force-unlock it"
                )
            conn.execute("select pg_terminate_backend(%s, 5000)", (row[6],))
            conn.execute(
                "delete from publish_lock where spec = %s and environment = %s and id = %s",
                (self.spec_name, self.environment, lock_id),
            )


#: the server processes holding a session advisory lock on a bigint key (classid, objid)
_HOLDERS = (
    "select pid from pg_locks where locktype = 'advisory' and granted "
    "and database = (select oid from pg_database where datname = current_database()) "
    "and classid = %s::bigint::oid and objid = %s::bigint::oid and objsubid = 1"
)


def _literal(text: str) -> str:
    """A SQL string literal, for the recovery commands shown to the user."""
    return "'" + text.replace("'", "''") + "'"


def _split_key(key: int) -> tuple[int, int]:
    """A bigint advisory key as pg_locks shows it: high and low 32 bits, unsigned."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF


def _parse_url(url: str) -> dict[str, str]:
    """The libpq parameters of a postgresql:// URL (or key=value string), never echoing it."""
    if not url.strip():
        raise StateError("the postgres state url is empty; set state.url to postgresql://...")
    try:
        params = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    except psycopg.Error as exc:
        register(url)
        # libpq names the offending part, never the password; redact anyway
        raise StateError(f"the postgres state url is invalid: {redact(str(exc))}") from None
    if params.get("password"):
        register(params["password"])
    return params
