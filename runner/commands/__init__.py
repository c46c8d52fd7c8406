"""One function per CLI command; each loads what it needs and returns or raises."""

from __future__ import annotations

from runner.commands.apply import apply_command
from runner.commands.init import init_command
from runner.commands.plan import plan_command
from runner.commands.show import show_command
from runner.commands.state import force_unlock_command, state_command

__all__ = [
    "apply_command",
    "force_unlock_command",
    "init_command",
    "plan_command",
    "show_command",
    "state_command",
]
