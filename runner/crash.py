"""Crash logs: the traceback of a bug, written where only the user can read it, redacted."""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from pathlib import Path

from runner import __version__
from runner.spec.secrets import redact


def log_folder() -> Path:
    """PUBLISH_LOG_DIR, else $XDG_CACHE_HOME/publish, else ~/.cache/publish."""
    configured = os.environ.get("PUBLISH_LOG_DIR")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "publish"


def write_crash_log(exc: BaseException) -> Path | None:
    """Write the redacted traceback to a new file (never through a symlink); None if impossible."""
    text = "".join(traceback.format_exception(exc))
    header = f"publish {__version__}\npython {sys.version}\nargv {sys.argv[1:]}\n\n"
    try:
        folder = log_folder()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, path = tempfile.mkstemp(prefix="publish-crash-", suffix=".log", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(redact(header + text))
        return Path(path)
    except OSError:
        return None
