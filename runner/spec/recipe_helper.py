"""A helper process that imports polars while ``publish validate`` reads the spec.

Importing polars is most of ``publish validate`` of a small spec (~0.13 s of CPU), and it
runs Python code holding the GIL: importing it in a thread only slows the thread loading
the spec (measured). So on Linux, ``publish validate`` of a spec that mentions a recipe
forks a helper as the command starts: the helper imports polars and the recipe checker on
another core while the parent imports and runs the YAML, template, schema and reference
checks; then it checks the recipes the parent sends it with :func:`check_recipes`, the
function the parent would call, and answers.

The verdicts are the parent's own: whenever the helper gives no well-formed answer (it
could not start, died or was killed), the parent checks the recipes itself, as it does
without a helper, so every message, exit code and crash log stays the same. The helper is
not started when polars is imported already, or when another thread runs (a fork copies
only the forking thread, and a lock another one holds would never be released).
"""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.spec.recipes import CheckRecipes, RecipeProblem, Requests

#: the most bytes of a spec file searched for the word "recipe" (as read_limited reads)
_PEEK_BYTES = 16 * 1024 * 1024


def mentions_recipe(path: str) -> bool:
    """Whether the spec at ``path`` (a file, or the YAML files of a folder) says ``recipe``.

    A hint only, never an error: a helper started for nothing is stopped unused.
    """
    p = Path(path)
    try:
        if p.is_dir():
            files = sorted(c for c in p.iterdir() if c.suffix in (".yaml", ".yml"))
        else:
            files = [p]
        return any(_says_recipe(f) for f in files)
    except OSError:
        return False


def _says_recipe(file: Path) -> bool:
    fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO would block
            return False
        return b"recipe" in fh.read(_PEEK_BYTES)


class RecipeHelper:
    """The parent's end of a helper: :meth:`check` sends the recipes once, then it is done."""

    def __init__(self, pid: int, send: IO[bytes], receive: IO[bytes]) -> None:
        self.pid: int | None = pid
        self._send = send
        self._receive = receive

    def check(self, requests: Requests) -> list[RecipeProblem | None]:
        """The problem of each recipe: the helper's answers, else checked here."""
        answers = self._ask(requests)
        if answers is None:
            from runner.spec.recipes import check_recipes

            return check_recipes(requests)
        return answers

    def _ask(self, requests: Requests) -> list[RecipeProblem | None] | None:
        if self.pid is None:
            return None
        payload = [
            [recipe, [[i.table, i.file, str(i.path), list(i.header.columns)] for i in inputs]]
            for recipe, inputs in requests
        ]
        try:
            self._send.write(json.dumps(payload).encode("utf-8"))
            self._send.close()
            data = self._receive.read()
        except OSError:  # the helper died (a broken pipe)
            return None
        finally:
            self.close()
        return answers(data, len(requests))

    def close(self) -> None:
        """Stop the helper (if it still runs) and reap it."""
        for pipe in (self._send, self._receive):
            with suppress(OSError):
                pipe.close()
        if self.pid is not None:
            pid, self.pid = self.pid, None
            with suppress(OSError):
                os.kill(pid, 9)  # it has answered, or is not needed any more
            with suppress(ChildProcessError):  # reaped already (SIGCHLD ignored)
                os.waitpid(pid, 0)


def answers(data: bytes, count: int) -> list[RecipeProblem | None] | None:
    """The helper's ``count`` answers in ``data``, or None when they are not well-formed."""
    from runner.spec.recipes import RecipeProblem

    try:
        found = json.loads(data)
    except ValueError:
        return None
    if not isinstance(found, list) or len(found) != count:
        return None
    out: list[RecipeProblem | None] = []
    for item in found:
        if item is None:
            out.append(None)
        elif (
            isinstance(item, list)
            and len(item) == 3
            and isinstance(item[0], str)
            and (item[1] is None or type(item[1]) is int)
            and isinstance(item[2], bool)
        ):
            out.append(RecipeProblem(item[0], item[1], item[2]))
        else:
            return None
    return out


def _serve(receive: int, send: int) -> int:  # pragma: no cover - runs in the fork
    import polars  # noqa: F401  (the point: imported while the parent loads the spec)

    from runner.spec.headers import Header
    from runner.spec.recipes import JobInput, check_recipes

    with os.fdopen(receive, "rb") as fh:
        request: list[Any] = json.loads(fh.read())
    requests = [
        (recipe, [JobInput(t, f, Path(p), Header(tuple(c))) for t, f, p, c in inputs])
        for recipe, inputs in request
    ]
    problems = check_recipes(requests)
    found = [None if p is None else [p.message, p.offset, p.syntax] for p in problems]
    with os.fdopen(send, "wb") as fh:
        fh.write(json.dumps(found).encode("utf-8"))
    return 0


def start() -> RecipeHelper | None:
    """Fork a helper importing polars; None where that is not done (see the module's doc)."""
    if sys.platform != "linux" or "polars" in sys.modules or threading.active_count() > 1:
        return None
    import runner.spec.recipes  # noqa: F401  (both need it: the helper then imports polars only)

    for stream in (sys.stdout, sys.stderr):  # nothing buffered now is printed twice
        with suppress(OSError, ValueError):
            if stream is not None:
                stream.flush()
    request_r, request_w = os.pipe()
    answer_r, answer_w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        for fd in (request_r, request_w, answer_r, answer_w):
            os.close(fd)
        return None
    if pid == 0:  # pragma: no cover - the helper
        code = 1
        try:
            os.close(request_w)
            os.close(answer_r)
            code = _serve(request_r, answer_w)
        finally:
            os._exit(code)  # never the parent's exit handlers, never its buffers
    os.close(request_r)
    os.close(answer_w)
    return RecipeHelper(pid, os.fdopen(request_w, "wb"), os.fdopen(answer_r, "rb"))


@contextmanager
def recipe_checker(spec_path: str) -> Iterator[CheckRecipes | None]:
    """A helper's :meth:`RecipeHelper.check` while the block runs, or None (check here)."""
    helper = start() if mentions_recipe(spec_path) else None
    try:
        yield helper.check if helper is not None else None
    finally:
        if helper is not None:
            helper.close()
