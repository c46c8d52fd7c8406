"""Keep a native library's panic text off stderr.

polars is written in Rust; a panic inside it prints ``thread '...' panicked at`` (and,
with RUST_BACKTRACE, a backtrace) on file descriptor 2 before Python sees the
PanicException. :func:`quiet_stderr` sends fd 2 to a temporary file while a call runs,
then writes back whatever was printed unless it is panic text.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_PANIC = (b"panicked at", b"stack backtrace:", b"RUST_BACKTRACE")


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """Run the block with fd 2 captured; panic text is dropped, anything else kept."""
    with _lock, tempfile.TemporaryFile() as spool:
        try:
            if sys.stderr is not None:
                sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no stderr to keep clean (closed, or not a file)
            yield
            return
        os.dup2(spool.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            spool.seek(0)
            text = spool.read()
            if text and not any(marker in text for marker in _PANIC):
                os.write(2, text)
