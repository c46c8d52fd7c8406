"""The postgres state backend against the real server: rows, refusals, the advisory lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from runner.errors import LockError, StateError
from runner.spec.secrets import Secret
from runner.state.model import ConnectionRecord, JobRunRecord, State
from runner.state.postgres import KEEP_SERIALS, PostgresStateBackend

ROOT = Path(__file__).resolve().parents[3]
PG_HOST = os.environ.get("PUBLISH_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("PUBLISH_TEST_PG_PORT", "5432"))
#: the server trusts local connections, so any password connects; it must never show
PASSWORD = "pa#ss?w/o@rd"

pytestmark = pytest.mark.postgres


def url_for(schema: str, port: int = PG_PORT) -> str:
    password = urllib.parse.quote(PASSWORD, safe="")
    return (
        f"postgresql://postgres:{password}@{PG_HOST}:{port}/test?options=-csearch_path%3D{schema}"
    )


def admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", dbname="test", autocommit=True
    )


@pytest.fixture
def url(pg_schema: str) -> str:
    return url_for(pg_schema)


@pytest.fixture
def backend(url: str) -> PostgresStateBackend:
    return PostgresStateBackend(Secret(url), "sales", "default", spec_ref="sales.yaml")


def first_state() -> State:
    return State(lineage="lineage-1", serial=0, spec="sales", environment="default")


@pytest.fixture
def two_writes(backend: PostgresStateBackend) -> State:
    s1 = backend.write(first_state())
    return backend.write(s1.with_job(JobRunRecord("orders", "run-1", "fp", "2026-01-01T00:00:00Z")))


def rows(schema: str) -> list[tuple[object, ...]]:
    with admin() as conn:
        return conn.execute(
            f'select spec, environment, serial, lineage from "{schema}".publish_state '
            "order by serial"
        ).fetchall()


# -- reading and writing ---------------------------------------------------------------


def test_round_trip_in_the_given_schema(backend: PostgresStateBackend, pg_schema: str) -> None:
    assert backend.read() is None
    s1 = backend.write(first_state().with_connection(ConnectionRecord("wh", "fp", vendor="sqlite")))
    assert s1.serial == 1
    assert backend.read() == s1
    s2 = backend.write(s1)
    assert backend.read() == s2
    assert rows(pg_schema) == [
        ("sales", "default", 1, "lineage-1"),
        ("sales", "default", 2, "lineage-1"),
    ]
    other_env = PostgresStateBackend(url_for(pg_schema), "sales", "prod")
    assert other_env.read() is None


def test_describe_shows_host_and_database_only(backend: PostgresStateBackend) -> None:
    assert backend.describe() == f"postgresql://{PG_HOST}:{PG_PORT}/test (table publish_state)"


def test_old_serials_are_pruned(backend: PostgresStateBackend, pg_schema: str) -> None:
    state = first_state()
    for _ in range(KEEP_SERIALS + 3):
        state = backend.write(state)
    assert [r[2] for r in rows(pg_schema)] == list(
        range(state.serial - KEEP_SERIALS + 1, state.serial + 1)
    )


def test_other_lineage_and_lower_serial_are_refused(
    backend: PostgresStateBackend, two_writes: State
) -> None:
    with pytest.raises(StateError, match="lineage other differs from the stored lineage"):
        backend.write(two_writes.replace(lineage="other"))
    with pytest.raises(StateError, match="serial 1 is lower than the stored serial 2"):
        backend.write(two_writes.replace(serial=1))
    assert backend.read() == two_writes


def test_concurrent_writer_is_refused(url: str, two_writes: State) -> None:
    a = PostgresStateBackend(url, "sales", "default")
    b = PostgresStateBackend(url, "sales", "default")
    seen_a, seen_b = a.read(), b.read()
    assert seen_a == seen_b == two_writes
    assert seen_a is not None and seen_b is not None
    written = a.write(seen_a.with_connection(ConnectionRecord("a", "fp")))
    with pytest.raises(StateError, match="another run wrote the state since this one read it"):
        b.write(seen_b.with_connection(ConnectionRecord("b", "fp")))
    assert b.read() == written


def test_concurrent_writes_from_threads_never_share_a_serial(
    url: str, two_writes: State, pg_schema: str
) -> None:
    outcomes: list[str] = []

    def write() -> None:
        try:
            PostgresStateBackend(url, "sales", "default").write(two_writes)
            outcomes.append("ok")
        except StateError:
            outcomes.append("refused")

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["ok", "refused", "refused", "refused"]
    assert [r[2] for r in rows(pg_schema)] == [1, 2, 3]


def test_corrupt_row_is_refused_with_the_way_back(
    backend: PostgresStateBackend, two_writes: State, pg_schema: str
) -> None:
    with admin() as conn:
        conn.execute(
            f'update "{pg_schema}".publish_state set data = %s::jsonb where serial = 2',
            ('{"format_version": 1}',),
        )
    with pytest.raises(StateError) as err:
        backend.read()
    message = str(err.value)
    assert "row serial 2 of postgresql://" in message
    assert "missing field 'lineage'" in message
    assert "never read as 'no state'" in message
    command = message.split("to fall back to it run: ", 1)[1]
    assert command == (
        "delete from publish_state where spec = 'sales' and environment = 'default' and serial = 2"
    )
    with pytest.raises(StateError):
        backend.write(two_writes)
    with admin() as conn:
        conn.execute(f'set search_path = "{pg_schema}"')
        conn.execute(command)
    restored = backend.read()
    assert restored is not None and restored.serial == 1


def test_row_whose_data_disagrees_is_refused(
    backend: PostgresStateBackend, two_writes: State, pg_schema: str
) -> None:
    with admin() as conn:
        conn.execute(
            f'update "{pg_schema}".publish_state set data = jsonb_set(data, %s, %s::jsonb) '
            "where serial = 2",
            ("{serial}", "7"),
        )
    with pytest.raises(StateError, match=r"inconsistent: its data says serial 7"):
        backend.read()


def test_no_secret_in_rows_messages_or_errors(
    backend: PostgresStateBackend, pg_schema: str
) -> None:
    secret = Secret("s3cr3t-value", names=["PG_PASSWORD"])
    backend.write(first_state().with_connection(ConnectionRecord("pg", secret.fingerprint)))
    with admin() as conn:
        text = str(conn.execute(f'select data::text from "{pg_schema}".publish_state').fetchall())
    assert secret.fingerprint in text
    assert "s3cr3t-value" not in text

    unreachable = PostgresStateBackend(
        url_for(pg_schema, port=1), "sales", "default", connect_timeout=2
    )
    with pytest.raises(StateError) as err:
        unreachable.read()
    message = str(err.value)
    assert message.startswith(f"cannot connect to the state database postgresql://{PG_HOST}:1/")
    for text in (message, backend.describe(), repr(err.value)):
        assert PASSWORD not in text
        assert urllib.parse.quote(PASSWORD, safe="") not in text


def test_invalid_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(StateError, match="invalid URI query parameter") as err:
        PostgresStateBackend("postgresql://u:topsecret@h/db?schema=x", "sales", "default")
    assert "topsecret" not in str(err.value)
    with pytest.raises(StateError, match="the postgres state url is empty"):
        PostgresStateBackend(Secret(""), "sales", "default")


# -- the lock ----------------------------------------------------------------------------

HOLDER = """
import sys
from runner.state.postgres import PostgresStateBackend
backend = PostgresStateBackend(sys.argv[1], "sales", "default")
with backend.lock("apply") as info:
    print(info.id, flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


class Holder:
    """Another process holding the lock until told to release it (or killed)."""

    def __init__(self, url: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.proc.stdout is not None
        self.lock_id = self.proc.stdout.readline().strip()
        assert self.lock_id, "the holder process did not take the lock"

    def release(self) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().strip()
        self.proc.wait(timeout=30)
        return line

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def holder(url: str, backend: PostgresStateBackend) -> Iterator[Holder]:
    backend.read()  # tables exist before the holder starts
    h = Holder(url)
    try:
        yield h
    finally:
        h.close()


def test_two_lockers_in_one_process(backend: PostgresStateBackend, url: str) -> None:
    other = PostgresStateBackend(url, "sales", "default", spec_ref="sales.yaml")
    with backend.lock("apply") as info:
        with pytest.raises(LockError) as err, other.lock("state rm", timeout=0.3):
            pass
        message = str(err.value)
        assert message.startswith(f"state is locked (waited 0.3s): lock {info.id} held by ")
        assert f"(pid {os.getpid()}) for 'apply' since {info.created}" in message
        assert f"run: publish force-unlock sales.yaml {info.id}" in message
        # another spec or environment is not blocked
        with PostgresStateBackend(url, "sales", "prod").lock("apply"):
            pass
    with other.lock("state rm") as second:
        assert second.id != info.id


def test_waiter_gets_the_lock_when_the_holder_releases(
    backend: PostgresStateBackend, holder: Holder
) -> None:
    with pytest.raises(LockError, match=holder.lock_id), backend.lock("apply"):
        pass
    got: list[str] = []

    def wait_for_lock() -> None:
        with backend.lock("apply", timeout=60) as info:
            got.append(info.id)

    waiter = threading.Thread(target=wait_for_lock)
    waiter.start()
    assert holder.release() == "released"
    waiter.join(timeout=60)
    assert len(got) == 1 and got[0] != holder.lock_id


def test_killed_locker_releases_the_lock(backend: PostgresStateBackend, holder: Holder) -> None:
    holder.proc.send_signal(signal.SIGKILL)
    holder.proc.wait(timeout=30)
    # the server ends the dead client's session (and its lock) once it sees the socket close
    with backend.lock("apply", timeout=30) as info:
        assert info.id != holder.lock_id
    with pytest.raises(StateError, match=r"^no lock is held on "):
        backend.force_unlock(holder.lock_id)


def test_force_unlock_with_wrong_id(backend: PostgresStateBackend, holder: Holder) -> None:
    with pytest.raises(StateError) as err:
        backend.force_unlock("not-the-id")
    assert "lock id not-the-id does not match the lock held on" in str(err.value)
    assert f"lock {holder.lock_id} held by" in str(err.value)
    with pytest.raises(LockError), backend.lock("apply"):
        pass


def test_force_unlock_ends_the_hung_holder(backend: PostgresStateBackend, holder: Holder) -> None:
    backend.force_unlock(holder.lock_id)
    with backend.lock("apply") as info:
        # the holder wakes up: its session is gone, its release must not disturb the new lock
        assert holder.release() == "released"
        with pytest.raises(LockError, match=info.id), backend.lock("apply"):
            pass
    with pytest.raises(StateError, match="no lock is held"):
        backend.force_unlock(info.id)
