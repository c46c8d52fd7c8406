"""The rows as CSV through a named pipe, which LOAD DATA LOCAL INFILE reads while it is
being written: the server parses and stores one batch while the next is read from the
results and encoded, and no copy of the rows is ever spooled to disk.

PyMySQL answers the server's request for the file by opening the path it was given and
sending what it reads; the path here is a FIFO (mode 0600, in a private temporary
directory) that a worker thread writes. The worker never touches the connection.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO

import polars as pl

from runner.targets._prefetch import Prefetch

#: rows encoded at a time (a few MB of CSV; up to 4 such chunks wait for the pipe)
_SLICE_ROWS = 25_000
#: sorted key hashes compared at a time by :meth:`RowPipe.keys_unique`
COMPARE_ROWS = 1 << 20


class RowPipe:
    """Write ``frames`` with ``encode`` into the FIFO at :attr:`path`, in a thread.

    ``keys``: also keep a 64-bit hash of each row's key columns, for :meth:`keys_unique`.
    Use as a context manager: leaving it waits for the worker, unblocking it when the
    server never opened the pipe or stopped reading it; :meth:`finish` then re-raises
    the worker's error (a value refused in the results, a file that cannot be read).
    """

    def __init__(
        self,
        frames: Iterable[pl.DataFrame],
        encode: Callable[[pl.DataFrame, BinaryIO], None],
        keys: Sequence[str] = (),
    ) -> None:
        self._dir = tempfile.mkdtemp(prefix="publish-")
        self.path = os.path.join(self._dir, "rows.csv")
        os.mkfifo(self.path, 0o600)
        self.rows = 0
        self._keys = list(keys)
        self._hashes: list[pl.Series] = []
        self._error: BaseException | None = None
        self._abandon = threading.Event()
        # read and encode from now on, while the server is still busy with what comes first
        self._chunks = Prefetch(self._encoded(frames, encode), depth=4, name="publish-mysql-csv")
        self._thread = threading.Thread(target=self._write, name="publish-mysql-pipe", daemon=True)
        self._thread.start()

    def _encoded(
        self, frames: Iterable[pl.DataFrame], encode: Callable[[pl.DataFrame, BinaryIO], None]
    ) -> Iterator[tuple[int, bytes]]:
        """``(rows, CSV)`` of a few MB at a time."""
        for frame in frames:
            if self._keys:
                self._hashes.append(frame.select(pl.struct(self._keys).hash()).to_series())
            for piece in frame.iter_slices(_SLICE_ROWS):
                buffer = io.BytesIO()  # bytes, so that the pipe's errors are Python's (EPIPE)
                encode(piece, buffer)
                yield len(piece), buffer.getvalue()

    def _write(self) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY)  # blocks until the server asks for the file
            with os.fdopen(fd, "wb") as out:
                for rows, chunk in self._chunks:
                    if self._abandon.is_set():
                        return
                    out.write(chunk)
                    self.rows += rows
        except BrokenPipeError:  # the reader went away: the statement's error says why
            pass
        except BaseException as exc:  # handed to the caller by finish()
            self._error = exc

    def keys_unique(self) -> bool:
        """Whether no two rows written had the same key hash (True: no key is repeated;
        False: a key may be repeated, or two keys share a hash)."""
        if not self._hashes:
            return True
        import numpy as np

        # one array of 8 bytes a row, sorted in place, compared a slice at a time: the
        # frames' hashes are freed as they are copied, and nothing else is row-sized
        hashes = np.empty(sum(len(h) for h in self._hashes), np.uint64)
        at = 0
        while self._hashes:
            part = self._hashes.pop(0).to_numpy()
            hashes[at : at + len(part)] = part
            at += len(part)
        hashes.sort()
        last, step = len(hashes) - 1, COMPARE_ROWS
        return not any(
            (hashes[a + 1 : min(a + step, last) + 1] == hashes[a : min(a + step, last)]).any()
            for a in range(0, last, step)
        )

    def close(self) -> None:
        """Stop and wait for the worker, and remove the pipe."""
        self._abandon.set()
        while self._thread.is_alive():
            # opening and closing a reader lets a worker blocked in open() go on (to see
            # _abandon), and makes a worker blocked in write() fail with EPIPE
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            except OSError:
                pass
            else:
                os.close(fd)
            self._thread.join(0.05)
        self._chunks.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def finish(self) -> None:
        """:meth:`close`, then raise what the worker raised, if anything."""
        self.close()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> RowPipe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
