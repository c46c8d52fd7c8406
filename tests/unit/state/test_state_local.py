"""The local state backend: atomic writes with a backup, refusals, and the flock lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.errors import LockError, StateError
from runner.spec.model import Spec, StateConfig
from runner.spec.secrets import Secret
from runner.state.local import LocalStateBackend
from runner.state.model import ConnectionRecord, JobRunRecord, State
from runner.state.open import new_state, open_backend, state_dir

ROOT = Path(__file__).resolve().parents[3]


def make_backend(folder: Path) -> LocalStateBackend:
    return LocalStateBackend(folder, "sales", "default", spec_ref="specs/sales.yaml")


def first_state() -> State:
    return State(lineage="lineage-1", serial=0, spec="sales", environment="default")


def parses(path: Path) -> State:
    return State.from_json(json.loads(path.read_text()))


@pytest.fixture
def backend(tmp_path: Path) -> LocalStateBackend:
    return make_backend(tmp_path / ".publish")


@pytest.fixture
def two_writes(backend: LocalStateBackend) -> State:
    """A backend holding serial 2 (file) and serial 1 (backup)."""
    s1 = backend.write(first_state())
    return backend.write(s1.with_job(JobRunRecord("orders", "run-1", "fp", "2026-01-01T00:00:00Z")))


# -- reading and writing ---------------------------------------------------------------


def test_no_state_reads_as_none(backend: LocalStateBackend) -> None:
    assert backend.read() is None
    assert not backend.folder.exists()  # reading creates nothing


def test_write_increments_serial_and_keeps_backup(backend: LocalStateBackend) -> None:
    s1 = backend.write(first_state())
    assert s1.serial == 1
    assert backend.path == backend.folder / "sales.default.state.json"
    assert not backend.backup_path.exists()
    s2 = backend.write(s1.with_job(JobRunRecord("orders", "run-1", "fp", "2026-01-01T00:00:00Z")))
    assert s2.serial == 2
    assert backend.read() == s2
    assert parses(backend.backup_path) == s1
    assert sorted(p.name for p in backend.folder.iterdir()) == [
        "sales.default.state.json",
        "sales.default.state.json.backup",
    ]


def test_state_json_is_pretty_and_sorted(backend: LocalStateBackend) -> None:
    backend.write(first_state().with_connection(ConnectionRecord("wh", "fp", vendor="sqlite")))
    text = backend.path.read_text()
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, sort_keys=True) + "\n"
    assert data["format_version"] == 1


def test_environment_gets_its_own_file(tmp_path: Path) -> None:
    prod = LocalStateBackend(tmp_path, "sales", "prod")
    prod.write(State(lineage="x", serial=0, spec="sales", environment="prod"))
    assert (tmp_path / "sales.prod.state.json").exists()
    assert make_backend(tmp_path).read() is None


def test_other_lineage_is_refused(backend: LocalStateBackend, two_writes: State) -> None:
    with pytest.raises(
        StateError, match=r"lineage other differs from the stored lineage lineage-1"
    ):
        backend.write(two_writes.replace(lineage="other"))
    assert backend.read() == two_writes


def test_lower_serial_is_refused(backend: LocalStateBackend, two_writes: State) -> None:
    with pytest.raises(StateError, match=r"serial 1 is lower than the stored serial 2"):
        backend.write(two_writes.replace(serial=1))
    assert backend.read() == two_writes
    assert backend.write(two_writes).serial == 3  # the same serial continues


def test_state_of_another_spec_is_refused(backend: LocalStateBackend) -> None:
    with pytest.raises(StateError, match=r"spec 'other'"):
        backend.write(first_state().replace(spec="other"))
    assert not backend.path.exists()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "the file is empty"),
        (b"  \n", "the file is empty"),
        (b'{"format_version": 1, "lineage": "lin', "Unterminated string"),
        (b"\xc3\x28 not utf-8", "codec can't decode"),
        (b"[1, 2]", "expected a JSON object, found list"),
        (b'{"format_version": 1}', "missing field 'lineage'"),
        (b'{"format_version": 99}', "unknown state format_version 99"),
    ],
)
def test_unreadable_state_is_refused_with_pointer_to_backup(
    backend: LocalStateBackend, two_writes: State, content: bytes, problem: str
) -> None:
    backend.path.write_bytes(content)
    with pytest.raises(StateError) as err:
        backend.read()
    message = str(err.value)
    assert f"state {backend.path} is unreadable" in message
    assert problem in message
    assert "never read as 'no state'" in message
    assert "The backup parses (serial 1)" in message
    assert f"cp {backend.backup_path} {backend.path}" in message
    # and nothing is written over it
    with pytest.raises(StateError):
        backend.write(two_writes)
    assert backend.path.read_bytes() == content


def test_truncated_state_is_refused(backend: LocalStateBackend, two_writes: State) -> None:
    text = backend.path.read_bytes()
    backend.path.write_bytes(text[: len(text) // 2])
    with pytest.raises(StateError, match=r"is unreadable .*The backup parses \(serial 1\)"):
        backend.read()


def test_following_the_restore_hint_works(backend: LocalStateBackend, two_writes: State) -> None:
    backend.path.write_bytes(b"")
    with pytest.raises(StateError) as err:
        backend.read()
    command = str(err.value).split("to restore it run: ", 1)[1].split()
    assert command[0] == "cp"
    subprocess.run(command, check=True)
    restored = backend.read()
    assert restored is not None and restored.serial == 1


def test_corrupt_state_without_backup(backend: LocalStateBackend) -> None:
    backend.write(first_state())
    backend.path.write_text("{")
    with pytest.raises(StateError, match=r"There is no backup to restore"):
        backend.read()


def test_corrupt_state_and_backup(backend: LocalStateBackend, two_writes: State) -> None:
    backend.path.write_text("{")
    backend.backup_path.write_text("")
    with pytest.raises(StateError, match=r"does not parse either"):
        backend.read()


def test_state_of_another_environment_in_the_file_is_refused(
    backend: LocalStateBackend, two_writes: State
) -> None:
    data = json.loads(backend.path.read_text())
    data["environment"] = "prod"
    backend.path.write_text(json.dumps(data))
    with pytest.raises(StateError, match=r"belongs to spec 'sales' environment 'prod'"):
        backend.read()


def test_missing_state_with_backup_is_refused(
    backend: LocalStateBackend, two_writes: State
) -> None:
    backend.path.unlink()
    with pytest.raises(StateError) as err:
        backend.read()
    message = str(err.value)
    assert f"state file {backend.path} is missing but its backup" in message
    assert f"cp {backend.backup_path} {backend.path}" in message
    with pytest.raises(StateError):
        backend.write(new_state_for(backend))
    assert not backend.path.exists()


def new_state_for(backend: LocalStateBackend) -> State:
    return State(lineage="fresh", serial=0, spec=backend.spec_name, environment="default")


# -- crashes in the middle of a write ----------------------------------------------------


@pytest.mark.parametrize("failing_call", [1, 2])
def test_crash_in_replace_leaves_old_state_and_backup(
    backend: LocalStateBackend,
    two_writes: State,
    monkeypatch: pytest.MonkeyPatch,
    failing_call: int,
) -> None:
    before = {p.name: p.read_bytes() for p in backend.folder.iterdir()}
    real_replace = os.replace
    calls = []

    def replace(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == failing_call:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(
        StateError, match=r"No space left on device; the stored state \(serial 2\) is intact"
    ):
        backend.write(two_writes.with_connection(ConnectionRecord("wh", "fp")))
    monkeypatch.undo()

    assert backend.read() == two_writes
    assert parses(backend.backup_path).serial in {1, 2}  # the old backup, or the new one
    names = sorted(p.name for p in backend.folder.iterdir())
    assert names == sorted(before)  # no temp file left behind
    if failing_call == 1:
        assert {p.name: p.read_bytes() for p in backend.folder.iterdir()} == before


@pytest.mark.parametrize("links", [True, False])
def test_crash_in_fsync_leaves_old_state(
    backend: LocalStateBackend,
    two_writes: State,
    monkeypatch: pytest.MonkeyPatch,
    links: bool,
) -> None:
    def fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    def link(src: str, dst: str) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "fsync", fsync)
    if not links:  # a file system without hard links: the backup is a copy
        monkeypatch.setattr(os, "link", link)
    with pytest.raises(StateError, match=r"cannot write state .*: Input/output error"):
        backend.write(two_writes)
    monkeypatch.undo()
    assert backend.read() == two_writes
    # with links the backup is already the current file; a copy failed before it replaced
    assert parses(backend.backup_path).serial == (2 if links else 1)
    assert len(list(backend.folder.iterdir())) == 2


def test_backup_is_copied_where_links_are_not_possible(
    backend: LocalStateBackend, two_writes: State, monkeypatch: pytest.MonkeyPatch
) -> None:
    def link(src: str, dst: str) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", link)
    s3 = backend.write(two_writes)
    assert parses(backend.backup_path) == two_writes
    assert os.stat(backend.backup_path).st_ino != os.stat(backend.path).st_ino
    assert backend.read() == s3


def test_file_changed_by_hand_between_writes_is_checked_again(
    backend: LocalStateBackend, two_writes: State
) -> None:
    data = json.loads(backend.path.read_text())
    data["lineage"] = "edited"
    backend.path.write_text(json.dumps(data))
    with pytest.raises(StateError, match="stored lineage edited"):
        backend.write(two_writes)
    backend.path.write_text("{")
    with pytest.raises(StateError, match="is unreadable"):
        backend.write(two_writes)


def varied_state() -> State:
    state = State("lin", 0, "sales", "default", applied_plans=("p1", "p2"))
    state = state.with_connection(ConnectionRecord("wh", "fp", vendor="sqlite"))
    state = state.with_connection(ConnectionRecord("Ärger", "fp2", remote_id=7))
    for i in range(3):
        state = state.with_job(
            JobRunRecord(
                f"j{i}",
                f"r{i}",
                "fp",
                "2026",
                rows=i,
                schema=[["a", "int"]],
                results={"avro": {"path": "x/ü.avro", "rows": i}},
            )
        )
    return state.with_failure("target.t", "r9", 'bad "quote"\nline', "2026")


def test_encoder_matches_plain_json_across_writes(backend: LocalStateBackend) -> None:
    from runner.state.common import StateEncoder, dumps_state
    from runner.state.model import PublicationRecord

    encoder = StateEncoder()
    empty = first_state()
    assert encoder.dumps(empty) == dumps_state(empty)
    state = varied_state()
    assert encoder.dumps(state) == dumps_state(state)
    changed = state.with_job(JobRunRecord("j1", "r-new", "fp", "2027")).without("job.j0")
    changed = changed.with_publication(
        PublicationRecord("t", "r1", "wh.main.t", "create", 1, 1, [["a", "integer"]], "2026")
    )
    assert encoder.dumps(changed) == dumps_state(changed)
    # the same record object under another key
    moved = changed.replace(jobs={"other": changed.jobs["j2"], **changed.jobs})
    assert encoder.dumps(moved) == dumps_state(moved)
    written = backend.write(moved)
    assert backend.path.read_text() == dumps_state(written)


def test_temp_files_of_dead_writers_are_removed(
    backend: LocalStateBackend, two_writes: State
) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    orphan = backend.folder / f".{backend.path.name}.{dead.stdout.strip()}.abc.tmp"
    orphan.write_text("{")
    live = backend.folder / f".{backend.path.name}.{os.getpid()}.abc.tmp"
    live.write_text("{")
    backend.write(two_writes)
    assert not orphan.exists()
    assert live.exists()  # a writer still running keeps its temp file


def test_state_file_holds_no_secret(backend: LocalStateBackend) -> None:
    value = "hunter2#?/@tok"
    secret = Secret(value, names=["PG_PASSWORD"])
    state = first_state().with_connection(
        ConnectionRecord("pg", secret.fingerprint, vendor="postgres")
    )
    written = backend.write(state)
    backend.write(written)  # and the backup
    for path in (backend.path, backend.backup_path):
        text = path.read_text()
        assert secret.fingerprint in text
        for form in (value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)):
            assert form not in text


# -- the lock ----------------------------------------------------------------------------

HOLDER = """
import sys
from pathlib import Path
from runner.state.local import LocalStateBackend
backend = LocalStateBackend(Path(sys.argv[1]), "sales", "default")
with backend.lock("apply") as info:
    print(info.id, flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


class Holder:
    """Another process holding the lock until told to release it (or killed)."""

    def __init__(self, folder: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.proc.stdout is not None
        self.lock_id = self.proc.stdout.readline().strip()
        assert self.lock_id, "the holder process did not take the lock"

    def release(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "released"
        self.proc.wait(timeout=30)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def holder(backend: LocalStateBackend) -> Iterator[Holder]:
    backend.folder.mkdir(parents=True, exist_ok=True)
    h = Holder(backend.folder)
    try:
        yield h
    finally:
        h.close()


def test_lock_records_who_holds_it_and_is_removed_after(backend: LocalStateBackend) -> None:
    with backend.lock("apply") as info:
        recorded = json.loads(backend.lock_path.read_text())
        assert recorded["id"] == info.id
        assert recorded["operation"] == "apply"
        assert recorded["pid"] == os.getpid()
        assert recorded["created"].endswith("+00:00")
        assert "@" in recorded["who"]
    assert not backend.lock_path.exists()
    with backend.lock("apply") as again:  # free again
        assert again.id != info.id


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_lock_is_released_on_exceptions(backend: LocalStateBackend, exc: BaseException) -> None:
    with pytest.raises(type(exc)), backend.lock("apply"):
        raise exc
    with backend.lock("apply"):
        pass


def test_second_process_gets_lock_error_naming_holder(
    backend: LocalStateBackend, holder: Holder
) -> None:
    with pytest.raises(LockError) as err, backend.lock("apply", timeout=0.3):
        pass
    message = str(err.value)
    assert message.startswith("state is locked (waited 0.3s): lock " + holder.lock_id)
    assert f"(pid {holder.proc.pid}) for 'apply' since " in message
    assert " ago). Wait for it to finish" in message
    assert f"run: publish force-unlock specs/sales.yaml {holder.lock_id}" in message
    assert holder.proc.poll() is None  # the holder is untouched


def test_waiter_gets_lock_when_holder_releases(backend: LocalStateBackend, holder: Holder) -> None:
    with pytest.raises(LockError), backend.lock("apply"):
        pass
    got: list[str] = []

    def wait_for_lock() -> None:
        with backend.lock("apply", timeout=60) as info:
            got.append(info.id)

    waiter = threading.Thread(target=wait_for_lock)
    waiter.start()
    holder.release()
    waiter.join(timeout=60)
    assert len(got) == 1 and got[0] != holder.lock_id


def test_killed_holder_releases_the_lock(backend: LocalStateBackend, holder: Holder) -> None:
    holder.kill()
    assert backend.lock_path.exists()  # the record stays, the flock is gone
    with pytest.raises(StateError, match=rf"no lock is held .*names {holder.lock_id}.*gone"):
        backend.force_unlock(holder.lock_id)
    with backend.lock("apply") as info:
        assert json.loads(backend.lock_path.read_text())["id"] == info.id


def test_force_unlock_with_wrong_id(backend: LocalStateBackend, holder: Holder) -> None:
    with pytest.raises(StateError) as err:
        backend.force_unlock("not-the-id")
    assert f"lock id not-the-id does not match the lock held on {backend.path}" in str(err.value)
    assert f"lock {holder.lock_id} held by" in str(err.value)
    with pytest.raises(LockError), backend.lock("apply"):
        pass


def test_force_unlock_with_right_id_lets_a_new_apply_run(
    backend: LocalStateBackend, holder: Holder
) -> None:
    backend.force_unlock(holder.lock_id)
    assert not backend.lock_path.exists()
    with backend.lock("apply") as info:
        # the hung holder finishing now must not remove the new lock
        holder.release()
        assert json.loads(backend.lock_path.read_text())["id"] == info.id
        with pytest.raises(LockError, match=info.id), make_backend(backend.folder).lock("apply"):
            pass


def test_force_unlock_without_lock(backend: LocalStateBackend) -> None:
    with pytest.raises(StateError, match=r"^no lock is held on .*; nothing to unlock$"):
        backend.force_unlock("any")


# -- opening from a spec -----------------------------------------------------------------


def spec_at(tmp_path: Path, **state: str) -> Spec:
    return Spec(
        name="sales",
        file=tmp_path / "sales.yaml",
        environment="prod",
        state=StateConfig(**state),  # type: ignore[arg-type]
    )


def test_open_local_backend(tmp_path: Path) -> None:
    spec = spec_at(tmp_path)
    assert state_dir(spec) == (tmp_path / ".publish").resolve()
    backend = open_backend(spec)
    assert isinstance(backend, LocalStateBackend)
    assert backend.describe() == str((tmp_path / ".publish" / "sales.prod.state.json").resolve())
    state = new_state(spec)
    assert (state.serial, state.spec, state.environment) == (0, "sales", "prod")
    assert state.lineage != new_state(spec).lineage
    assert backend.write(state).serial == 1


@pytest.mark.parametrize("path", ["../elsewhere", "/tmp/state"])
def test_state_path_outside_the_spec_folder_is_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(StateError, match=r"\$\.state\.path: .* leads outside the spec's folder"):
        state_dir(spec_at(tmp_path, path=path))


def test_postgres_backend_needs_a_url(tmp_path: Path) -> None:
    with pytest.raises(StateError, match=r"\$\.state\.url: the postgres state backend needs"):
        open_backend(spec_at(tmp_path, backend="postgres"))
