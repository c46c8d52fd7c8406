"""Options shared by the commands of :mod:`runner.cli`, each parsed once into one value.

``spec_argument`` turns SPEC, ``--env``, ``--var`` and ``--var-file`` into ``spec: SpecArgs``;
``selection_options`` turns ``--select``, ``--exclude``, ``--replace`` and
``--allow-destructive`` into ``selection: Selection`` (:mod:`runner.commands.args`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import click

F = TypeVar("F", bound=Callable[..., Any])


def _parse_vars(values: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--var")
        out[key.strip()] = value
    return out


def spec_argument(metavar: str = "SPEC", *, required: bool = False) -> Callable[[F], F]:
    """The SPEC argument and --env/--var/--var-file, passed on as one ``spec: SpecArgs``.

    SPEC defaults to the current folder (as terraform and dbt do) unless ``required``.
    """

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def wrapper(
            *args: Any,
            spec_path: str,
            environment: str | None,
            cli_vars: tuple[str, ...],
            var_files: tuple[str, ...],
            **kwargs: Any,
        ) -> Any:
            from runner.commands.args import SpecArgs

            spec = SpecArgs(spec_path, environment, _parse_vars(cli_vars), tuple(var_files))
            return f(*args, spec=spec, **kwargs)

        options = [
            click.option(
                "--var-file",
                "var_files",
                multiple=True,
                type=click.Path(dir_okay=False),
                help="YAML file of variables (repeatable; later files win).",
            ),
            click.option(
                "--var",
                "cli_vars",
                multiple=True,
                metavar="K=V",
                help="Set a variable (repeatable).",
            ),
            click.option(
                "--env",
                "environment",
                default=None,
                metavar="NAME",
                help="Environment overlay to use.",
            ),
            click.argument(
                "spec_path",
                metavar=metavar if required else f"[{metavar}]",
                required=required,
                default=None if required else ".",
            ),
        ]
        decorated: Any = wrapper
        for option in options:
            decorated = option(decorated)
        return cast(F, decorated)

    return decorate


def selection_options(f: F) -> F:
    """--select, --exclude, --replace and --allow-destructive, passed on as ``selection``."""

    @functools.wraps(f)
    def wrapper(
        *args: Any,
        select: tuple[str, ...],
        exclude: tuple[str, ...],
        replace: tuple[str, ...],
        allow_destructive: bool,
        **kwargs: Any,
    ) -> Any:
        from runner.commands.args import Selection

        selection = Selection(tuple(select), tuple(exclude), tuple(replace), allow_destructive)
        return f(*args, selection=selection, **kwargs)

    options = [
        click.option(
            "--allow-destructive", is_flag=True, help="Let protected targets lose rows or columns."
        ),
        click.option(
            "--replace",
            "replace",
            multiple=True,
            metavar="ADDR",
            help="Force a new run (job.NAME) or a new publish (target.NAME); repeatable.",
        ),
        click.option(
            "--exclude",
            "exclude",
            multiple=True,
            metavar="ADDR",
            help="Leave these out (and the targets that need them); repeatable.",
        ),
        click.option(
            "--select",
            "select",
            multiple=True,
            metavar="ADDR",
            help="Plan only these (and what they need); repeatable.",
        ),
    ]
    decorated: Any = wrapper
    for option in options:
        decorated = option(decorated)
    return cast(F, decorated)


PLAN_FORMAT = click.Choice(["text", "markdown", "json"])
LOCK_TIMEOUT = click.option(
    "--lock-timeout",
    default=0.0,
    show_default=True,
    type=float,
    metavar="SECONDS",
    help="Wait this long for the state lock held by another apply (0: fail at once).",
)
