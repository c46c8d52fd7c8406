"""JSON paths (``$.targets.orders_out.path[0]``) and the source positions they map to."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from runner.spec.model import Position

ROOT = "$"
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@functools.lru_cache(maxsize=65536)
def _segment(key: str) -> str:
    if _PLAIN_KEY.match(key):
        return f".{key}"
    escaped = key.replace("\\", "\\\\").replace("'", "\\'")
    return f"['{escaped}']"


def child(path: str, key: str | int) -> str:
    """The JSON path of ``key`` (a mapping key or a list index) under ``path``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return path + _segment(key)


def join(parts: tuple[str | int, ...] | list[str | int], root: str = ROOT) -> str:
    path = root
    for part in parts:
        path = child(path, part)
    return path


def parent(path: str) -> str | None:
    """The JSON path one level up, or None for the root."""
    if path == ROOT:
        return None
    if path.endswith("]"):
        depth = 0
        for i in range(len(path) - 1, -1, -1):
            ch = path[i]
            if ch == "]" and (i == 0 or path[i - 1] != "\\"):
                depth += 1
            elif ch == "[" and depth == 1:
                return path[:i]
    cut = path.rfind(".")
    return path[:cut] if cut > 0 else ROOT


def nearest(positions: Mapping[str, Position], path: str) -> Position | None:
    """The position of ``path``, or of its closest ancestor that has one."""
    current: str | None = path
    while current is not None:
        pos = positions.get(current)
        if pos is not None:
            return pos
        current = parent(current)
    return None


def rebase(path: str, old_prefix: str, new_prefix: str) -> str | None:
    """``path`` moved from under ``old_prefix`` to under ``new_prefix`` (None if not under)."""
    if path == old_prefix:
        return new_prefix
    if path.startswith(old_prefix) and path[len(old_prefix)] in ".[":
        return new_prefix + path[len(old_prefix) :]
    return None
