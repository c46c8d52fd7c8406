"""Rows staged ahead: `publish apply SPEC` stages a SQLite target's rows while it still plans.

The plan's preview of a local job writes the rows to parquet first, then the job's
declared formats (Avro, ...) from that file. Inside :func:`session` (``publish apply
SPEC``; never ``publish plan``, never a saved plan) the preview starts staging each
SQLite target's rows from that parquet file in a worker thread right then (:func:`start`),
so the staging file of :mod:`runner.targets.sqlite_stage` is written while the other
formats are, and the rest of the plan runs.

The publish takes a staging file (:func:`take`) only for results whose content hash the
preview wrote alongside that parquet file (:meth:`Ahead.bind`), and only when its
staging table would be the same (``create``); otherwise, or when the worker failed, it
stages the rows itself as before (and meets the same error, if any). Nothing here
touches the target database: the staging file is a scratch file, copied in the
publish's transaction. Whatever is not taken is discarded when the session ends; a file
left by a killed process is swept by the next stage.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.targets import sqlite_stage
from runner.targets._prefetch import Prefetch

_lock = threading.Lock()
_pending: list[Ahead] = []
_active = False


class _Discarded(Exception):
    """The session ended before the rows were staged."""


@dataclass(eq=False)
class Ahead:
    """One staging in a worker thread, into a staging file beside ``database``."""

    database: Path
    create: str | None
    cancel: threading.Event = field(default_factory=threading.Event)
    #: content hashes of the results written alongside the parquet file staged from
    sha256: set[str] = field(default_factory=set)
    staged: sqlite_stage.Staged | None = None
    thread: threading.Thread | None = None

    def bind(self, sha256: str) -> None:
        with _lock:
            self.sha256.add(sha256)

    def run(self, frames: Iterator[Any]) -> None:
        try:
            with Prefetch(self._until(frames), depth=1, name="sqlite-prefetch") as ready:
                self.staged = sqlite_stage.stage(self.database, ready, None, self.create)
        except Exception:  # the publish stages the rows itself and meets it there
            self.staged = None

    def _until(self, frames: Iterator[Any]) -> Iterator[Any]:
        for frame in frames:
            if self.cancel.is_set():
                raise _Discarded
            yield frame

    def wait(self) -> sqlite_stage.Staged | None:
        if self.thread is not None:
            self.thread.join()
        return self.staged


def active() -> bool:
    """Whether rows are staged ahead (inside :func:`session`)."""
    return _active


@contextlib.contextmanager
def session() -> Iterator[None]:
    """Stage rows ahead while this runs; discard what no publish took at the end."""
    global _active
    _active = True
    try:
        yield
    finally:
        _active = False
        discard()


def start(database: Path, create: str | None, frames: Iterator[Any]) -> Ahead:
    """Stage ``frames`` (bindable; see :func:`.sqlite_stage.stage`) beside ``database`` in a
    worker thread, from now."""
    ahead = Ahead(database, create)
    ahead.thread = threading.Thread(
        target=ahead.run, args=(frames,), name="sqlite-stage-ahead", daemon=True
    )
    with _lock:
        _pending.append(ahead)
    ahead.thread.start()
    return ahead


def take(database: Path, sha256: str, create: str | None) -> sqlite_stage.Staged | None:
    """The rows of results with this content hash, staged ahead for this staging table
    (waiting for the worker), or None: stage them now."""
    with _lock:
        found = next(
            (
                a
                for a in _pending
                if a.database == database and sha256 in a.sha256 and a.create == create
            ),
            None,
        )
        if found is None:
            return None
        _pending.remove(found)
    return found.wait()


def discard() -> None:
    """Stop the stagings no publish took and remove their files."""
    with _lock:
        left = list(_pending)
        _pending.clear()
    for ahead in left:
        ahead.cancel.set()
    for ahead in left:
        staged = ahead.wait()
        if staged is not None:
            staged.discard()
