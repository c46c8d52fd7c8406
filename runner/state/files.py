"""Files under the state folder (``.publish/``): never follow a symbolic link, never leave it.

A pull request can commit a symlink where publish keeps its own files: a lock file that
points at ``~/.bashrc`` would be truncated by the next apply, and a ``results`` folder
that points elsewhere would be written into and cleaned up (deleted). Every open here
uses ``O_NOFOLLOW``, every folder on the way is checked with ``lstat``, and deleting a
tree refuses any path that is not strictly below the root it was given.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

from runner.errors import StateError


def _link_refusal(path: Path) -> StateError:
    return StateError(
        f"{path} is a symbolic link; publish never follows links inside its state folder "
        "(one committed there could make it overwrite or delete files elsewhere). Remove it "
        "and run again"
    )


def open_nofollow(path: Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` that refuses a symbolic link at ``path`` (StateError saying so)."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _link_refusal(path) from None
        raise


def read_nofollow(path: Path) -> bytes:
    """The bytes of the regular file ``path``; a link or a special file is refused."""
    fd = open_nofollow(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise StateError(f"{path} is not a regular file; move it out of the state folder")
        return fh.read()


def _inside(root: Path, path: Path) -> Path:
    """``path`` relative to ``root`` (both made absolute without resolving links)."""
    root_abs = Path(os.path.abspath(root))
    path_abs = Path(os.path.abspath(path))
    try:
        rel = path_abs.relative_to(root_abs)
    except ValueError:
        raise StateError(f"{path} is outside {root}; publish only touches its own files") from None
    if rel.parts and ".." in rel.parts:  # pragma: no cover - abspath removes them
        raise StateError(f"{path} is outside {root}")
    return rel


def check_no_links(root: Path, path: Path) -> None:
    """Refuse when ``root`` or any existing folder from it down to ``path`` is a link."""
    rel = _inside(root, path)
    current = Path(os.path.abspath(root))
    for part in ("", *rel.parts):
        current = current / part if part else current
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(info.st_mode):
            raise _link_refusal(current)


def make_dirs(root: Path, path: Path) -> Path:
    """Create ``path`` (a folder below ``root``) without following any link on the way."""
    check_no_links(root, path)
    path.mkdir(parents=True, exist_ok=True)
    check_no_links(root, path)  # a link swapped in meanwhile is still refused
    return path


def remove_tree(root: Path, path: Path) -> None:
    """Delete the folder ``path``, strictly below ``root``, never through a link.

    A link at ``path`` itself is removed as a link (what it points at is untouched); a
    link on the way from ``root`` is refused. ``shutil.rmtree`` does not follow links
    inside the tree it deletes.
    """
    rel = _inside(root, path)
    if not rel.parts:
        raise StateError(f"refusing to delete {root} itself")
    check_no_links(root, path.parent)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        path.unlink()
        return
    shutil.rmtree(path)
