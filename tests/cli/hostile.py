"""Run `publish` in a child process under a memory limit and measure what it spent."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the address-space limit of the child (a safety net: a runaway child dies, not the host);
#: 4 GiB: plan previews local jobs, and polars with pyarrow reserve more than 1 GiB of it
MEMORY_LIMIT = 4 << 30
#: what a hostile spec may cost: CPU seconds (user + system) and peak resident memory
MAX_SECONDS = 2.0
MAX_RSS_MB = 300
#: a child still running after this long is killed (a hang, reported as a failure)
HANG_SECONDS = 60.0
PUBLISH = [sys.executable, "-m", "runner.cli"]


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    cpu: float  # user + system seconds of the child
    wall: float
    rss_mb: float  # peak resident set size of the child


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_limited(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Outcome:
    """``publish ARGS`` in ``cwd``; waits with wait4 to read the child's own rusage."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*PUBLISH, *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
                 **(env or {})},
            preexec_fn=_limit_memory,
        )  # fmt: skip
        deadline = start + HANG_SECONDS
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Outcome(
            code=proc.returncode,
            out=out.read().decode("utf-8", "replace"),
            err=err.read().decode("utf-8", "replace"),
            cpu=usage.ru_utime + usage.ru_stime,
            wall=wall,
            rss_mb=usage.ru_maxrss / 1024,
        )


#: the hostile corpus: one attack per file (see tests/cli/test_hostile_corpus.py)
CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "hostile"


def header(case: Path) -> dict[str, str]:
    out = {}
    for line in case.read_text(encoding="utf-8").splitlines():
        if not line.startswith("# "):
            break
        key, _, value = line[2:].partition(": ")
        out[key] = value
    return out


def commands(case: Path) -> list[tuple[str, int]]:
    return [(c, int(code)) for c, code in (p.split("=") for p in header(case)["exit"].split())]


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry under ``folder`` (links by target, files by content)."""
    seen: dict[str, bytes | str] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            rel = str(path.relative_to(folder))
            if path.is_symlink():
                seen[rel] = "-> " + os.readlink(path)
            elif path.is_file():
                seen[rel] = path.read_bytes()
            else:
                seen[rel] = "dir"
    return seen


def prepare(case: Path, tmp: Path) -> tuple[Path, Path]:
    """The spec folder (the case as publish.yaml, with data/) and the folder outside it."""
    outside = tmp / "outside"
    (outside / "folder" / "orders" / "run-old").mkdir(parents=True)
    (outside / "folder" / "orders" / "run-old" / "keep.txt").write_text("not publish's\n")
    (outside / "victim.txt").write_text("precious\n")
    (outside / "victim.csv").write_text("secret\nroot:x:0:0\n")
    spec = tmp / "spec"
    shutil.copytree(CORPUS / "data", spec / "data")
    shutil.copy(case, spec / "publish.yaml")
    setup = header(case).get("setup")
    if setup:
        kind, *args = setup.split()
        path = spec / args[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "link":
            target = args[1].replace("@outside", str(outside))
            path.symlink_to(target)
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "deep-state":
            path.write_text('{"lineage": ' + "[" * 100_000 + "]" * 100_000 + "}")
        else:  # pragma: no cover - a typo in a corpus header
            raise AssertionError(f"unknown setup {kind}")
    return spec, outside


# -- a zygote: one interpreter with publish imported, forking a child per command ---------
#
# Starting Python and importing publish costs more CPU than most hostile cases; a child
# forked from a process that imported it already costs only what the command does. The
# zygote imports nothing that starts threads (polars and pyarrow are imported by the
# child that needs them), so forking it is safe. A few tests still run the real
# `publish` executable (run_limited) to cover the whole path.


def _child(request: dict[str, Any]) -> None:  # pragma: no cover - runs in the fork
    try:
        os.chdir(request["cwd"])
        os.environ.update(request.get("env", {}))
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, path in ((1, request["out"]), (2, request["err"])):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
        from runner.cli import run

        code = run(request["args"])
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        code = 99
    os._exit(code)


def serve() -> None:  # pragma: no cover - the zygote's main loop
    import json

    import runner.cli
    import runner.spec.api
    from runner.spec.schema import validator

    validator()
    assert runner.cli and runner.spec.api
    assert len(os.listdir("/proc/self/task")) == 1, "the zygote must not start threads"
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            _child(request)
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.perf_counter() - start > HANG_SECONDS:
                os.kill(pid, 9)
                _, status, usage = os.wait4(pid, 0)
                break
            time.sleep(0.005)
        answer = {
            "code": os.waitstatus_to_exitcode(status),
            "cpu": usage.ru_utime + usage.ru_stime,
            "wall": time.perf_counter() - start,
            "rss_mb": usage.ru_maxrss / 1024,
        }
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


class Zygote:
    """The parent's handle on a zygote process (see :func:`serve`)."""

    def __init__(self) -> None:
        root = Path(__file__).resolve().parents[2]
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from tests.cli.hostile import serve; serve()"],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(root)},
        )

    def run(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Outcome:
        import json

        assert self.proc.stdin is not None and self.proc.stdout is not None
        with tempfile.TemporaryDirectory() as tmp:
            out, err = Path(tmp) / "out", Path(tmp) / "err"
            request = {"args": args, "cwd": str(cwd), "out": str(out), "err": str(err),
                       "env": env or {}}  # fmt: skip
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            answer = json.loads(self.proc.stdout.readline())
            return Outcome(
                code=answer["code"],
                out=out.read_text(encoding="utf-8", errors="replace") if out.exists() else "",
                err=err.read_text(encoding="utf-8", errors="replace") if err.exists() else "",
                cpu=answer["cpu"],
                wall=answer["wall"],
                rss_mb=answer["rss_mb"],
            )

    def close(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        self.proc.wait(timeout=10)
