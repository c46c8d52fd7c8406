"""Where in the spec a plan problem is: ``FILE:LINE:COL: target.x: message``.

A problem that starts with an address of the spec (``target.x``, ``job.y``,
``connection.z``) is prefixed with the place the object is written, or the place of one of
its fields when the problem is about that field (``key``, ``action``, ``recipe``...).
Problems about flags (``--select ...``) or objects no longer in the spec keep no place.
"""

from __future__ import annotations

import re

from runner.spec.model import Spec

_ADDRESS = re.compile(r"^(connection|job|target)\.([A-Za-z0-9_-]+)")
_SECTIONS = {"connection": "connections", "job": "jobs", "target": "targets"}


def locate(spec: Spec, message: str, field: str | None = None) -> str:
    """``message`` prefixed with the spec position of the object (or field) it names."""
    match = _ADDRESS.match(message)
    if match is None:
        return message
    kind, name = match.groups()
    path = f"$.{_SECTIONS[kind]}.{name}"
    if field is not None and f"{path}.{field}" in spec.positions:
        path = f"{path}.{field}"
    position = spec.positions.get(path)
    return f"{position}: {message}" if position else message
