"""SIGKILL a process while it writes the local state: the state always parses, never goes back.

Two ways: a writer that kills itself right before each step of a write (every temp file
creation, fsync and rename), and writers looping under the lock that are killed at random
moments (seeded, printed on failure).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.state.local import LocalStateBackend
from runner.state.model import JobRunRecord, State

ROOT = Path(__file__).resolve().parents[3]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

# kills itself right before the Nth step of one write
STEP_KILLER = """
import os, signal, sys, tempfile
from pathlib import Path
from runner.state.local import LocalStateBackend
from runner.state.model import ConnectionRecord

backend = LocalStateBackend(Path(sys.argv[1]), "sales", "default")
kill_at = int(sys.argv[2])
steps = []

def step(name, real):
    def wrapper(*args, **kwargs):
        steps.append(name)
        if len(steps) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    return wrapper

state = backend.read()
tempfile.mkstemp = step("mkstemp", tempfile.mkstemp)
os.fsync = step("fsync", os.fsync)
os.replace = step("replace", os.replace)
os.link = step("link", os.link)
backend.write(state.with_connection(ConnectionRecord("wh", "new")))
print(len(steps), flush=True)
"""

# writes states in a loop under the lock, printing each serial once it is written
LOOP_WRITER = """
import sys
from pathlib import Path
from runner.state.local import LocalStateBackend
from runner.state.model import JobRunRecord, State

backend = LocalStateBackend(Path(sys.argv[1]), "sales", "default")
with backend.lock("apply") as info:
    state = backend.read() or State("lineage-1", 0, "sales", "default")
    print("locked", flush=True)
    while True:
        n = state.serial
        jobs = {f"job{i}": JobRunRecord(f"job{i}", f"run{n}", "x" * 64, "2026") for i in range(300)}
        state = backend.write(state.replace(jobs=jobs))
        print(state.serial, flush=True)
"""


def seed_state(folder: Path) -> LocalStateBackend:
    backend = LocalStateBackend(folder, "sales", "default")
    s1 = backend.write(State("lineage-1", 0, "sales", "default"))
    backend.write(s1.with_job(JobRunRecord("orders", "run-1", "fp", "2026-01-01T00:00:00Z")))
    return backend


def serial_of(path: Path) -> int:
    return State.from_json(json.loads(path.read_text())).serial


def test_kill_before_each_step_of_a_write(tmp_path: Path) -> None:
    count = subprocess.run(
        [sys.executable, "-c", STEP_KILLER, str(seed_state(tmp_path / "count").folder), "0"],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    steps = int(count.stdout)
    assert steps >= 5  # link and rename for the backup; temp file, fsync, rename, fsync

    for kill_at in range(1, steps + 1):
        folder = tmp_path / f"kill{kill_at}"
        backend = seed_state(folder)
        proc = subprocess.run(
            [sys.executable, "-c", STEP_KILLER, str(folder), str(kill_at)],
            cwd=ROOT,
            env=ENV,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        state = backend.read()  # never raises: the file always parses
        assert state is not None and state.serial in {2, 3}
        assert serial_of(backend.backup_path) in {1, 2}
        assert serial_of(backend.backup_path) <= state.serial
        # the next write continues from what is there and cleans up the killed writer's temps
        assert backend.write(state).serial == state.serial + 1
        assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_random_sigkill_while_writing_in_a_loop(tmp_path: Path) -> None:
    seed = int(os.environ.get("PUBLISH_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    backend = LocalStateBackend(tmp_path, "sales", "default")
    last_read = 0
    for iteration in range(20):
        where = f"seed {seed}, iteration {iteration}"
        proc = subprocess.Popen(
            [sys.executable, "-c", LOOP_WRITER, str(tmp_path)],
            cwd=ROOT,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked", where  # a killed holder left no lock
        time.sleep(rng.uniform(0.0, 0.08))  # lands anywhere in some write
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, (where, err)
        reported = [int(line) for line in out.split()]

        state = backend.read()  # never raises: the file always parses
        if state is None:  # killed before its first write finished: nothing was ever stored
            assert not reported and last_read == 0, where
            assert not backend.backup_path.exists(), where
            continue
        # every write the writer saw complete is there, and nothing went back
        assert state.serial >= max(reported, default=0), where
        assert state.serial >= last_read, where
        if backend.backup_path.exists():
            assert serial_of(backend.backup_path) <= state.serial, where
        last_read = state.serial
    temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(temps) <= 2  # only what the last killed writer left; the next write removes it
