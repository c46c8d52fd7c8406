"""What a command was asked to do, built once by the CLI and passed down as one value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.plan.options import PlanOptions


@dataclass(frozen=True)
class SpecArgs:
    """Which spec to load and how: its path, ``--env``, ``--var`` and ``--var-file``."""

    path: str = "."
    environment: str | None = None
    cli_vars: Mapping[str, str] = field(default_factory=dict)
    var_files: tuple[str, ...] = ()

    def load_options(self) -> dict[str, Any]:
        """How the spec was loaded, as a plan records it (so apply loads it the same way)."""
        return {
            "environment": self.environment,
            "vars": dict(sorted(self.cli_vars.items())),
            "var_files": [str(f) for f in self.var_files],
        }

    @property
    def given(self) -> tuple[str, ...]:
        """The loading flags given on the command line."""
        flags = (
            ("--env", self.environment),
            ("--var", self.cli_vars),
            ("--var-file", self.var_files),
        )
        return tuple(flag for flag, value in flags if value)


@dataclass(frozen=True)
class Selection:
    """``--select``, ``--exclude``, ``--replace`` and ``--allow-destructive``."""

    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    allow_destructive: bool = False

    @property
    def given(self) -> tuple[str, ...]:
        flags = (
            ("--allow-destructive", self.allow_destructive),
            ("--select", self.select),
            ("--exclude", self.exclude),
            ("--replace", self.replace),
        )
        return tuple(flag for flag, value in flags if value)


@dataclass(frozen=True)
class PreviewArgs:
    """``--no-preview``, ``--diff-samples``, ``--diff-rows-limit`` and ``--skip-check``."""

    preview: bool = True
    diff_samples: int = 5
    diff_rows_limit: int = 2_000_000
    skip_checks: tuple[str, ...] = ()

    @property
    def given(self) -> tuple[str, ...]:
        flags = (
            ("--no-preview", not self.preview),
            ("--diff-samples", self.diff_samples != 5),
            ("--diff-rows-limit", self.diff_rows_limit != 2_000_000),
            ("--skip-check", self.skip_checks),
        )
        return tuple(flag for flag, value in flags if value)


@dataclass(frozen=True)
class PlanArgs:
    """Everything a plan is made from, besides the spec's content and the state."""

    spec: SpecArgs = field(default_factory=SpecArgs)
    selection: Selection = field(default_factory=Selection)
    refresh: bool = True
    check_connections: bool = False
    check_jobs: bool = False
    preview: PreviewArgs = field(default_factory=PreviewArgs)

    def options(self) -> PlanOptions:
        from runner.plan.options import PlanOptions  # imports polars: not for validate

        return PlanOptions(
            select=self.selection.select,
            exclude=self.selection.exclude,
            replace=self.selection.replace,
            allow_destructive=self.selection.allow_destructive,
            refresh=self.refresh,
            check_connections=self.check_connections,
            check_jobs=self.check_jobs,
            load=self.spec.load_options(),
            spec_path=self.spec.path,
            preview=self.preview.preview,
            diff_samples=self.preview.diff_samples,
            diff_rows_limit=self.preview.diff_rows_limit,
            skip_checks=self.preview.skip_checks,
        )


@dataclass(frozen=True)
class ApplyArgs:
    """``publish apply``: a plan to make (``plan.spec.path`` is a spec) or a saved plan file."""

    plan: PlanArgs = field(default_factory=PlanArgs)
    auto_approve: bool = False
    parallelism: int = 4
    lock_timeout: float = 0.0
