"""The local state backend: one JSON file per spec and environment, written atomically.

``<folder>/<name>.<environment>.state.json`` is replaced, never rewritten in place:
the new text goes to a temp file in the same folder, is flushed and fsynced, renamed
over the state file with ``os.replace``, and the folder is fsynced. Before that, the
current text (already checked to parse) is saved the same way as ``<file>.backup``, so
a crash at any point leaves a state file and a backup that both parse.

The lock is ``<file>.lock`` held with ``flock``: the kernel releases it when its
process dies, so a killed apply never leaves the state locked. The lock file records
who holds it, for messages and ``force-unlock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from runner.errors import LockError, StateError
from runner.state.common import (
    CorruptState,
    StateEncoder,
    check_successor,
    loads_state,
    lock_info_from_json,
    lock_info_to_json,
    locked_message,
    new_lock_info,
    parse_state,
)
from runner.state.files import open_nofollow, read_nofollow
from runner.state.model import LockInfo, State

#: seconds between two attempts to take a busy lock
POLL_INTERVAL = 0.1
_TEMP_SUFFIX = ".tmp"


class LocalStateBackend:
    def __init__(
        self,
        folder: Path,
        spec_name: str,
        environment: str,
        *,
        spec_ref: str = "SPEC",
    ) -> None:
        self.folder = Path(folder)
        self.spec_name = spec_name
        self.environment = environment
        #: how the user names the spec on the command line (for the unlock hint)
        self.spec_ref = spec_ref
        self.path = self.folder / f"{spec_name}.{environment}.state.json"
        self.backup_path = self.path.with_name(self.path.name + ".backup")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._encoder = StateEncoder()
        #: the file this object last wrote (device, inode, size, mtime) and its state
        self._written: tuple[tuple[int, int, int, int] | None, State] | None = None

    def describe(self) -> str:
        return str(self.path)

    # -- reading ---------------------------------------------------------------------

    def read(self) -> State | None:
        loaded = self._load()
        return loaded[0] if loaded else None

    def _load(self) -> tuple[State, bytes] | None:
        """The stored state and its bytes; None when no state was ever written."""
        if not self.path.exists():
            if self.backup_path.exists():
                raise StateError(
                    f"state file {self.path} is missing but its backup {self.backup_path} "
                    f"exists; a state was written before, so this is not a first run. "
                    f"{self._restore_hint()} If you really mean to start over, move the "
                    "backup away"
                )
            return None
        return self._parse_file(self.path, self._restore_hint)

    def _parse_file(self, path: Path, restore_hint: Callable[[], str]) -> tuple[State, bytes]:
        """The state in ``path`` and the bytes it was parsed from."""
        try:
            raw = read_nofollow(path)
        except OSError as exc:
            raise StateError(f"cannot read state {path}: {exc.strerror}") from None
        try:
            if not raw.strip():
                raise ValueError("the file is empty")
            data = loads_state(raw)
        except CorruptState as exc:
            raise StateError(
                f"state {path} is corrupt ({exc}); it is never read as 'no state'. {restore_hint()}"
            ) from None
        except ValueError as exc:  # also JSONDecodeError and UnicodeDecodeError
            problem = str(exc)
            raise StateError(
                f"state {path} is unreadable ({problem}); it is never read as 'no state'. "
                f"{restore_hint()}"
            ) from None
        state = parse_state(data, str(path), self.spec_name, self.environment, restore_hint)
        return state, raw

    def _backup_serial(self) -> int | None:
        """The serial of a backup that parses, or None."""
        try:
            return self._parse_file(self.backup_path, str)[0].serial
        except StateError:
            return None

    def _restore_hint(self) -> str:
        if not self.backup_path.exists():
            return "There is no backup to restore; fix the file by hand or restore it from a copy."
        serial = self._backup_serial()
        if serial is None:
            return (
                f"The backup {self.backup_path} does not parse either; restore the state "
                "from a copy."
            )
        return (
            f"The backup parses (serial {serial}); to restore it run: "
            f"cp {self.backup_path} {self.path}"
        )

    # -- writing ---------------------------------------------------------------------

    def write(self, state: State) -> State:
        if state.spec != self.spec_name or state.environment != self.environment:
            raise StateError(
                f"refusing to write state of spec {state.spec!r} environment "
                f"{state.environment!r} to {self.path} (spec {self.spec_name!r} environment "
                f"{self.environment!r})"
            )
        stored = self._stored()
        check_successor(stored, state, str(self.path))
        new = state.replace(serial=state.serial + 1)
        text = self._encoder.dumps(new).encode()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._remove_orphan_temps()
            if stored is not None:
                self._keep_backup()
            self._atomic_write(self.path, text)
        except OSError as exc:
            kept = (
                f"the stored state (serial {stored.serial}) is intact"
                if stored
                else ("no state was stored")
            )
            raise StateError(
                f"cannot write state {self.path}: {exc.strerror or exc}; {kept}. Free space "
                "or fix permissions on the folder, then apply again"
            ) from exc
        self._written = (_file_key(self.path), new)
        return new

    def _stored(self) -> State | None:
        """The stored state, checked; not parsed again when it is the file this object wrote."""
        if self._written is not None and _file_key(self.path) == self._written[0]:
            return self._written[1]
        loaded = self._load()  # refuses an unreadable state, or a missing one with a backup
        return loaded[0] if loaded else None

    def _keep_backup(self) -> None:
        """Make the current state file (checked to parse) the backup, atomically.

        The state file is only ever replaced, never changed in place, so a hard link to
        it is a stable copy; where links are not possible its bytes are copied.
        """
        temp = (
            self.folder / f".{self.backup_path.name}.{os.getpid()}.{uuid.uuid4().hex}{_TEMP_SUFFIX}"
        )
        current = _file_key(self.path)
        backup = _file_key(self.backup_path)
        if current and backup and current[:2] == backup[:2]:
            return  # already linked (a write was cut short after its backup step)
        try:
            os.link(self.path, temp)
        except OSError:
            self._atomic_write(self.backup_path, self.path.read_bytes())
            return
        try:
            os.replace(temp, self.backup_path)
        finally:
            # rename() does nothing when both names are links to one file: never leave it
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)

    def _atomic_write(self, target: Path, data: bytes) -> None:
        fd, temp = tempfile.mkstemp(
            prefix=f".{target.name}.{os.getpid()}.", suffix=_TEMP_SUFFIX, dir=self.folder
        )
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        _fsync_dir(self.folder)

    def _remove_orphan_temps(self) -> None:
        """Delete temp files left by killed writers (whose process is gone)."""
        for prefix in (self.path.name, self.backup_path.name):
            for temp in self.folder.glob(f".{prefix}.*{_TEMP_SUFFIX}"):
                pid_text = temp.name[len(prefix) + 2 :].split(".", 1)[0]
                if pid_text.isdigit() and not _alive(int(pid_text)):
                    with contextlib.suppress(OSError):
                        temp.unlink()

    # -- locking ---------------------------------------------------------------------

    def lock(self, operation: str, timeout: float = 0.0) -> AbstractContextManager[LockInfo]:
        return self._lock(operation, timeout)

    @contextlib.contextmanager
    def _lock(self, operation: str, timeout: float) -> Iterator[LockInfo]:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = self._acquire(timeout)
        except OSError as exc:
            raise StateError(f"cannot lock state {self.lock_path}: {exc.strerror or exc}") from exc
        try:
            info = new_lock_info(operation)
            text = json.dumps(lock_info_to_json(info), indent=2, sort_keys=True) + "\n"
            os.ftruncate(fd, 0)
            os.pwrite(fd, text.encode(), 0)
            os.fsync(fd)
            yield info
        finally:
            try:
                if _same_file(fd, self.lock_path):  # not force-unlocked and replaced meanwhile
                    with contextlib.suppress(OSError):
                        self.lock_path.unlink()
            finally:
                os.close(fd)  # releases the flock

    def _acquire(self, timeout: float) -> int:
        """An fd of the lock file holding its flock, waiting up to ``timeout`` seconds."""
        start = time.monotonic()
        while True:
            fd = open_nofollow(self.lock_path, os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
            except BaseException:
                os.close(fd)
                raise
            else:
                if _same_file(fd, self.lock_path):
                    return fd
                # the file was unlinked (released or force-unlocked) after we opened it
                os.close(fd)
                continue
            waited = time.monotonic() - start
            if waited >= timeout:
                raise LockError(
                    locked_message(
                        self._holder(),
                        str(self.lock_path),
                        self.spec_ref,
                        self.environment,
                        timeout,
                    )
                )
            time.sleep(min(POLL_INTERVAL, max(0.0, timeout - waited)))

    def _holder(self) -> LockInfo | None:
        try:
            return lock_info_from_json(loads_state(read_nofollow(self.lock_path)))
        except (OSError, ValueError, StateError):
            return None

    def _held(self) -> bool:
        """Whether some process holds the flock of the current lock file."""
        try:
            fd = open_nofollow(self.lock_path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def force_unlock(self, lock_id: str) -> None:
        holder = self._holder()
        if not self._held():
            stale = f" (the lock file names {holder.id}, but its process is gone)" if holder else ""
            raise StateError(f"no lock is held on {self.path}{stale}; nothing to unlock")
        if holder is None:
            raise StateError(
                f"the lock on {self.path} is held but {self.lock_path} does not record its id "
                "yet; try again in a moment"
            )
        if holder.id != lock_id:
            raise StateError(
                f"lock id {lock_id} does not match the lock held on {self.path}: "
                f"{holder.describe()}. Pass that id to force-unlock it"
            )
        # the holder keeps its flock on the unlinked file; new applies lock a new file
        self.lock_path.unlink()
        _fsync_dir(self.folder)


def _file_key(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (own.st_dev, own.st_ino) == (st.st_dev, st.st_ino)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
