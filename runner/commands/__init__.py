"""One function per CLI command; each loads what it needs and returns or raises.

The functions are imported on first use (PEP 562): ``publish validate`` imports
``runner.commands.args`` and ``runner.commands.validate`` only, never apply's or plan's
modules (which import polars and the database drivers).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.commands.apply import apply_command
    from runner.commands.init import init_command
    from runner.commands.plan import plan_command
    from runner.commands.show import show_command
    from runner.commands.state import force_unlock_command, state_command

_WHERE = {
    "apply_command": "runner.commands.apply",
    "force_unlock_command": "runner.commands.state",
    "init_command": "runner.commands.init",
    "plan_command": "runner.commands.plan",
    "show_command": "runner.commands.show",
    "state_command": "runner.commands.state",
}

__all__ = [
    "apply_command",
    "force_unlock_command",
    "init_command",
    "plan_command",
    "show_command",
    "state_command",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'runner.commands' has no attribute {name!r}")
