"""One local Spark Connect server per test run, shared by every pytest-xdist worker.

The controller process (or the only process, without xdist) makes a run folder and
names it in ``PUBLISH_SPARK_RUN_DIR`` before the workers start, so they inherit it. The
first test that needs Spark takes a file lock in that folder, starts the server on a free
port and writes its URL there; every later test, in any worker, reads the URL under the
same lock. The controller stops the server when the run ends. ``PUBLISH_SPARK_URL``
names a server that is already running (none is started then).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

RUN_DIR_ENV = "PUBLISH_SPARK_RUN_DIR"
URL_ENV = "PUBLISH_SPARK_URL"
START_TIMEOUT = 120.0
#: JIT and GC settings for a short-lived test server: C1 only and the serial collector cut
#: the start and the first query by about a third on 2 busy cores (measured 35 -> 22 s and
#: 60 -> 38 s to the first answer); the benchmark clears them to measure a normal server
JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
#: servers this process started (reaped here when it stops them)
_started: dict[int, subprocess.Popen[bytes]] = {}


def spark_home() -> Path | None:
    """The installed pyspark's folder when it ships the Connect server script."""
    try:
        import pyspark
    except ImportError:
        return None
    home = Path(pyspark.__file__).parent
    return home if (home / "sbin" / "start-connect-server.sh").is_file() else None


def java_home() -> Path | None:
    """A Java 17+ runtime: JAVA_HOME, else the java on PATH."""
    env = os.environ.get("JAVA_HOME")
    if env and (Path(env) / "bin" / "java").is_file():
        return Path(env)
    found = shutil.which("java")
    return Path(found).resolve().parent.parent if found else None


def missing() -> str | None:
    """Why a local server cannot start here, or None."""
    if os.environ.get(URL_ENV):
        return None
    try:
        import pyspark.sql.connect.session  # noqa: F401
    except ImportError as exc:
        return f"pyspark with its Connect client is not installed ({exc}); pip install -e '.[test]'"
    if spark_home() is None:
        return "this pyspark has no sbin/start-connect-server.sh (pyspark-client only); install pyspark"
    if java_home() is None:
        return "no Java runtime (java on PATH or JAVA_HOME); Spark needs Java 17+"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the Spark Connect server exited: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the Spark Connect server did not listen in {START_TIMEOUT:.0f} s")


def _start(run_dir: Path) -> dict[str, object]:
    home, java = spark_home(), java_home()
    assert home is not None and java is not None
    port = _free_port()
    log = run_dir / "server.log"
    env = dict(
        os.environ,
        SPARK_HOME=str(home),
        JAVA_HOME=str(java),
        SPARK_LOG_DIR=str(run_dir),
        SPARK_PID_DIR=str(run_dir),
        SPARK_LOCAL_IP="127.0.0.1",
    )
    command = [
        str(home / "sbin" / "start-connect-server.sh"),
        "--wait",
        "--master",
        "local[2]",
        "--conf",
        f"spark.connect.grpc.binding.port={port}",
        "--conf",
        "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        "spark.sql.shuffle.partitions=2",
        "--conf",
        f"spark.local.dir={run_dir}",
        "--driver-java-options",
        f"-Dderby.system.home={run_dir} {JVM_OPTIONS}".strip(),
    ]
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    _started[proc.pid] = proc
    _wait_for_port(port, proc, log)
    return {"url": f"sc://127.0.0.1:{port}", "pid": proc.pid, "seconds": time.monotonic() - started}


def shared_url() -> str:
    """The URL of the run's server, started by whichever test asks first."""
    if os.environ.get(URL_ENV):
        return os.environ[URL_ENV]
    run_dir = Path(os.environ[RUN_DIR_ENV])
    with (run_dir / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        info = run_dir / "server.json"
        if info.is_file():
            data = json.loads(info.read_text())
            if data.get("error"):
                raise RuntimeError(str(data["error"]))
            return str(data["url"])
        try:
            data = _start(run_dir)
        except Exception as exc:  # tell the other workers too, rather than start again
            info.write_text(json.dumps({"error": str(exc)}))
            raise
        info.write_text(json.dumps(data))
        return str(data["url"])


def begin_run() -> Path | None:
    """Make the run folder (controller only); None when one is already set."""
    if os.environ.get(RUN_DIR_ENV):
        return None
    run_dir = Path(tempfile.mkdtemp(prefix="publish-spark-"))
    os.environ[RUN_DIR_ENV] = str(run_dir)
    return run_dir


def started_in(run_dir: Path) -> float | None:
    """Seconds the run's server took to listen, or None when none was started."""
    info = run_dir / "server.json"
    if not info.is_file():
        return None
    seconds = json.loads(info.read_text()).get("seconds")
    return float(seconds) if isinstance(seconds, int | float) else None


def end_run(run_dir: Path) -> None:
    """Stop the run's server (its whole process group) and remove the run folder."""
    info = run_dir / "server.json"
    if info.is_file():
        pid = json.loads(info.read_text()).get("pid")
        if isinstance(pid, int):
            _stop(pid)
    os.environ.pop(RUN_DIR_ENV, None)
    shutil.rmtree(run_dir, ignore_errors=True)


def _stop(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    proc = _started.pop(pid, None)
    if proc is not None:  # our own child: wait for it (and reap it)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(pid, signal.SIGKILL)
            proc.wait()
        return
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it is this process's child
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
