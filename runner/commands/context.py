"""What every command that works on a spec opens: the spec, its state and its platform."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.commands.args import SpecArgs
from runner.platforms.base import Platform
from runner.platforms.registry import open_platform
from runner.spec.api import load_spec
from runner.spec.model import Spec
from runner.state.backend import StateBackend
from runner.state.open import open_backend, state_dir

Echo = Callable[..., None]


@dataclass(frozen=True)
class Context:
    spec: Spec
    backend: StateBackend
    state_dir: Path
    load_options: Mapping[str, Any]

    def platform(self) -> Platform:
        return open_platform(self.spec, self.state_dir)


def open_context(args: SpecArgs) -> Context:
    spec = load_spec(
        args.path,
        environment=args.environment,
        cli_vars=args.cli_vars,
        var_files=args.var_files,
    )
    return Context(
        spec=spec,
        backend=open_backend(spec),
        state_dir=state_dir(spec),
        load_options=args.load_options(),
    )


def use_color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
