"""`publish validate` and `publish render`, with one reporter for what they find."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Literal

from runner.commands.args import SpecArgs
from runner.errors import SpecError
from runner.plan.words import plural
from runner.spec.api import Validation, check_spec, render_for_display

if TYPE_CHECKING:
    from runner.commands.context import Echo
    from runner.spec.recipes import CheckRecipes

ReportFormat = Literal["text", "json"]


class SpecReporter:
    """Prints a spec's verdict: every issue with its place (text), or one JSON document."""

    def __init__(self, path: str, fmt: ReportFormat, echo: Echo) -> None:
        self.path = path
        self.fmt = fmt
        self.echo = echo

    def invalid(self, exc: SpecError) -> None:
        if self.fmt == "json":
            issues = [i.to_json() for i in exc.issues]
            self.echo(json.dumps({"valid": False, "errors": issues}, indent=2))
            return
        for issue in exc.issues:
            self.echo(str(issue), err=True)
        count = len(exc.issues)
        self.echo(f"{self.path}: {count} error{'s' if count != 1 else ''}", err=True)

    def valid(self, found: Validation) -> None:
        if self.fmt == "json":
            verdict = {
                "valid": True,
                "errors": [],
                "secrets": list(found.secrets),
                "missingSecrets": list(found.missing_secrets),
            }
            self.echo(json.dumps(verdict, indent=2))
            return
        counts = ", ".join(
            plural(n, word)
            for n, word in (
                (found.connections, "connection"),
                (found.jobs, "job"),
                (found.targets, "target"),
            )
        )
        self.echo(f"{self.path}: valid ({counts})")
        if found.secrets:
            unset = set(found.missing_secrets)
            names = ", ".join(f"{n} (not set here)" if n in unset else n for n in found.secrets)
            self.echo(f"plan and apply need the secrets: {names}")


def validate_command(
    args: SpecArgs,
    *,
    fmt: ReportFormat,
    echo: Echo,
    require_secrets: bool = False,
    check_recipes: CheckRecipes | None = None,
) -> bool:
    """Check the spec and report; returns whether it is valid (secrets need not be set)."""
    reporter = SpecReporter(args.path, fmt, echo)
    try:
        found = check_spec(
            args.path,
            environment=args.environment,
            cli_vars=args.cli_vars,
            var_files=args.var_files,
            require_secrets=require_secrets,
            check_recipes=check_recipes,
        )
    except SpecError as exc:
        reporter.invalid(exc)
        return False
    reporter.valid(found)
    return True


def render_command(args: SpecArgs, *, echo: Echo) -> bool:
    """Print the rendered spec; returns False (after reporting) when it cannot be rendered."""
    try:
        text = render_for_display(
            args.path,
            environment=args.environment,
            cli_vars=args.cli_vars,
            var_files=args.var_files,
        )
    except SpecError as exc:
        SpecReporter(args.path, "text", echo).invalid(exc)
        return False
    echo(text, nl=False)
    return True
