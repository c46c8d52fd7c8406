"""The command-line parts of previews: their flags, and `publish diff SPEC target.NAME`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

if TYPE_CHECKING:
    from runner.commands.args import PreviewArgs, SpecArgs

F = TypeVar("F", bound=Callable[..., Any])


def preview_options(f: F) -> F:
    """--no-preview, --diff-samples, --diff-rows-limit, --skip-check, passed on as ``preview``."""

    @functools.wraps(f)
    def wrapper(
        *args: Any,
        preview: bool,
        diff_samples: int,
        diff_rows_limit: int,
        skip_checks: tuple[str, ...],
        **kwargs: Any,
    ) -> Any:
        from runner.commands.args import PreviewArgs

        chosen = PreviewArgs(preview, diff_samples, diff_rows_limit, tuple(skip_checks))
        return f(*args, preview=chosen, **kwargs)

    options = [
        click.option(
            "--skip-check",
            "skip_checks",
            multiple=True,
            metavar="ADDR.NAME",
            help="Let this failing check through (emergencies; recorded in state); repeatable.",
        ),
        click.option(
            "--diff-rows-limit",
            default=2_000_000,
            show_default=True,
            type=click.IntRange(0),
            metavar="ROWS",
            help="Compare rows of tables up to this size; larger ones say 'diff skipped'.",
        ),
        click.option(
            "--diff-samples",
            default=5,
            show_default=True,
            type=click.IntRange(0),
            metavar="N",
            help="Sample rows shown per class of the row diff (added, removed, changed, ...).",
        ),
        click.option(
            "--preview/--no-preview",
            default=True,
            show_default=True,
            help="Run local jobs at plan to show exact rows, row diffs and checks.",
        ),
    ]
    decorated: Any = wrapper
    for option in options:
        decorated = option(decorated)
    return cast(F, decorated)


def diff_command() -> click.Command:
    """`publish diff` (made when runner.cli is loaded, whose helpers it uses)."""
    from runner.cli import echo
    from runner.cli_options import spec_argument

    @click.command("diff")
    @spec_argument(required=True)
    @click.argument("address", metavar="target.NAME")
    @click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "markdown", "json"]),
        default="text",
        show_default=True,
        help="text for people, markdown for pull-request comments, json for programs.",
    )
    @preview_options
    def diff(spec: SpecArgs, address: str, fmt: str, preview: PreviewArgs) -> None:
        """Show the row-level diff publishing a target's current results would make."""
        from runner.commands.diff import diff_command

        diff_command(spec, address, preview, fmt=fmt, echo=echo)

    return diff
