"""The `publish` command line: parse, call one function, map errors to exit codes.

Exit codes: 0 success (``plan --detailed-exitcode``: no changes), 1 a user-facing error,
2 ``plan --detailed-exitcode`` found changes, 3 an internal error (traceback logged to a
file, one line on screen), 130 interrupted.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from runner import __version__
from runner.crash import write_crash_log
from runner.errors import InternalError, Interrupted, PublishError, SpecError
from runner.spec.secrets import RedactingFilter, redact

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BUG, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

log = logging.getLogger("runner")
F = TypeVar("F", bound=Callable[..., Any])


class Exit(Exception):
    """Leave with an exit code after the command printed what it had to say."""

    def __init__(self, code: int) -> None:
        self.code = code


def echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    """Print through the secret filter: nothing printed can hold a secret value."""
    click.echo(redact(text), err=err, nl=nl)


def _setup_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("runner")
    for old in root.handlers:
        old.close()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    # drivers log what they ignore while cleaning up a broken connection; our error says it
    logging.getLogger("psycopg").setLevel(logging.DEBUG if verbose > 1 else logging.ERROR)
    log_file = os.environ.get("PUBLISH_LOG_FILE")
    if log_file:
        fh = logging.FileHandler(log_file, encoding="utf-8")
        fh.addFilter(RedactingFilter())
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        fh.setLevel(logging.DEBUG)
        root.addHandler(fh)
        root.setLevel(logging.DEBUG)


def _parse_vars(values: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--var")
        out[key.strip()] = value
    return out


def spec_options(f: F) -> F:
    """--env, --var and --var-file, shared by every command that loads a spec."""
    f = click.option(
        "--var-file",
        "var_files",
        multiple=True,
        type=click.Path(dir_okay=False),
        help="YAML file of variables (repeatable; later files win).",
    )(f)
    f = click.option(
        "--var", "cli_vars", multiple=True, metavar="K=V", help="Set a variable (repeatable)."
    )(f)
    f = click.option(
        "--env", "environment", default=None, metavar="NAME", help="Environment overlay to use."
    )(f)
    return f


FORMAT = click.Choice(["text", "markdown", "json"])


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="publish")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """Publish the results of data jobs into relational tables, reviewed like code.

    \b
    Write a YAML spec of connections, jobs and targets, then:
      publish validate SPEC        check it (every error, with file:line:col)
      publish plan SPEC            show what would change in every target table
      publish apply SPEC           do that, and only that
    \b
    SPEC is a spec file, or a folder holding one. Addresses name objects of a spec:
    connection.NAME, job.NAME, target.NAME.
    """
    _setup_logging(verbose)


@cli.command()
@click.argument("spec")
@spec_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def validate(
    spec: str,
    environment: str | None,
    cli_vars: tuple[str, ...],
    var_files: tuple[str, ...],
    fmt: str,
) -> None:
    """Check a spec: YAML, templates, schema and references; every error at once."""
    from runner.spec.api import load_spec

    try:
        loaded = load_spec(
            spec, environment=environment, cli_vars=_parse_vars(cli_vars), var_files=var_files
        )
    except SpecError as exc:
        if fmt == "json":
            echo(
                json.dumps({"valid": False, "errors": [i.to_json() for i in exc.issues]}, indent=2)
            )
            raise Exit(EXIT_ERROR) from exc
        for issue in exc.issues:
            echo(str(issue), err=True)
        count = len(exc.issues)
        echo(f"{spec}: {count} error{'s' if count != 1 else ''}", err=True)
        raise Exit(EXIT_ERROR) from exc
    if fmt == "json":
        echo(json.dumps({"valid": True, "errors": []}, indent=2))
    else:
        counts = f"{len(loaded.connections)} connections, {len(loaded.jobs)} jobs, {len(loaded.targets)} targets"
        echo(f"{spec}: valid ({counts})")


@cli.command()
@click.argument("spec")
@spec_options
def render(
    spec: str, environment: str | None, cli_vars: tuple[str, ...], var_files: tuple[str, ...]
) -> None:
    """Print the rendered spec (templates filled in, secrets masked)."""
    from runner.spec.api import render_for_display

    try:
        text = render_for_display(
            spec, environment=environment, cli_vars=_parse_vars(cli_vars), var_files=var_files
        )
    except SpecError as exc:
        for issue in exc.issues:
            echo(str(issue), err=True)
        count = len(exc.issues)
        echo(f"{spec}: {count} error{'s' if count != 1 else ''}", err=True)
        raise Exit(EXIT_ERROR) from exc
    echo(text, nl=False)


@cli.command()
@click.argument("spec")
@spec_options
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Save the plan to this file.")
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0: no changes, 1: error, 2: changes.")
@click.option(
    "--select",
    "select",
    multiple=True,
    metavar="ADDR",
    help="Plan only these (and what they need).",
)
@click.option("--exclude", "exclude", multiple=True, metavar="ADDR", help="Leave these out.")
@click.option(
    "--replace",
    "replace",
    multiple=True,
    metavar="ADDR",
    help="Force a new run (job) or a new publish (target).",
)
@click.option(
    "--allow-destructive", is_flag=True, help="Let protected targets lose rows or columns."
)
@click.option(
    "--refresh/--no-refresh",
    default=True,
    show_default=True,
    help="Compare state with the targets (drift).",
)
@click.option(
    "--check-connections", is_flag=True, help="Test every connection (trifacta: status / dryRun)."
)
def plan(
    spec: str,
    environment: str | None,
    cli_vars: tuple[str, ...],
    var_files: tuple[str, ...],
    out: str | None,
    fmt: str,
    detailed_exitcode: bool,
    select: tuple[str, ...],
    exclude: tuple[str, ...],
    replace: tuple[str, ...],
    allow_destructive: bool,
    refresh: bool,
    check_connections: bool,
) -> None:
    """Show what apply would change in every target table; change nothing."""
    from runner.commands import plan_command

    has_changes = plan_command(
        spec,
        environment=environment,
        cli_vars=_parse_vars(cli_vars),
        var_files=var_files,
        out=out,
        fmt=fmt,
        select=select,
        exclude=exclude,
        replace=replace,
        allow_destructive=allow_destructive,
        refresh=refresh,
        echo=echo,
        check_connections=check_connections,
    )
    if detailed_exitcode and has_changes:
        raise Exit(EXIT_CHANGES)


@cli.command()
@click.argument("spec_or_plan", metavar="SPEC|PLANFILE")
@spec_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking for 'yes'.")
@click.option("--parallelism", default=4, show_default=True, type=click.IntRange(1, 64))
@click.option("--lock-timeout", default=0.0, show_default=True, type=float, metavar="SECONDS")
@click.option(
    "--allow-destructive", is_flag=True, help="Let protected targets lose rows or columns."
)
@click.option("--select", "select", multiple=True, metavar="ADDR", hidden=True)
@click.option("--exclude", "exclude", multiple=True, metavar="ADDR", hidden=True)
@click.option("--replace", "replace", multiple=True, metavar="ADDR", hidden=True)
def apply(
    spec_or_plan: str,
    environment: str | None,
    cli_vars: tuple[str, ...],
    var_files: tuple[str, ...],
    auto_approve: bool,
    parallelism: int,
    lock_timeout: float,
    allow_destructive: bool,
    select: tuple[str, ...],
    exclude: tuple[str, ...],
    replace: tuple[str, ...],
) -> None:
    """Apply a saved plan exactly, or plan a spec, show it and apply after 'yes'."""
    from runner.commands import apply_command

    apply_command(
        spec_or_plan,
        environment=environment,
        cli_vars=_parse_vars(cli_vars),
        var_files=var_files,
        auto_approve=auto_approve,
        parallelism=parallelism,
        lock_timeout=lock_timeout,
        allow_destructive=allow_destructive,
        select=select,
        exclude=exclude,
        replace=replace,
        echo=echo,
    )


@cli.command()
@click.argument("planfile", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
def show(planfile: str, fmt: str) -> None:
    """Show a saved plan (any format); works on stale plans too."""
    from runner.commands import show_command

    show_command(planfile, fmt=fmt, echo=echo)


@cli.command()
@click.argument("operation", type=click.Choice(["list", "show", "rm"]))
@click.argument("spec")
@click.argument("address", required=False)
@spec_options
@click.option("--lock-timeout", default=0.0, type=float, metavar="SECONDS")
def state(
    operation: str,
    spec: str,
    address: str | None,
    environment: str | None,
    cli_vars: tuple[str, ...],
    var_files: tuple[str, ...],
    lock_timeout: float,
) -> None:
    """List, show or forget (rm) what state records; rm never touches a table."""
    from runner.commands import state_command

    state_command(
        operation,
        spec,
        address,
        environment=environment,
        cli_vars=_parse_vars(cli_vars),
        var_files=var_files,
        lock_timeout=lock_timeout,
        echo=echo,
    )


@cli.command("force-unlock")
@click.argument("spec")
@click.argument("lock_id")
@spec_options
def force_unlock(
    spec: str,
    lock_id: str,
    environment: str | None,
    cli_vars: tuple[str, ...],
    var_files: tuple[str, ...],
) -> None:
    """Remove a lock left behind by a killed apply (needs the lock's id)."""
    from runner.commands import force_unlock_command

    force_unlock_command(
        spec,
        lock_id,
        environment=environment,
        cli_vars=_parse_vars(cli_vars),
        var_files=var_files,
        echo=echo,
    )


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
def init(directory: str) -> None:
    """Write a starter spec with a sample input into DIRECTORY."""
    from runner.commands import init_command

    init_command(directory, echo=echo)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns (and exits with) the exit code."""
    code = run(argv)
    sys.exit(code)


def run(argv: Sequence[str] | None = None) -> int:
    try:
        cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="publish",
            standalone_mode=False,
        )
        return EXIT_OK
    except Exit as exc:
        return exc.code
    except Interrupted as exc:
        echo(f"Interrupted: {exc}", err=True)
        return EXIT_INTERRUPTED
    except PublishError as exc:
        echo(f"Error: {exc}", err=True)
        return EXIT_ERROR
    except InternalError as exc:
        echo(f"Internal error: {exc}", err=True)
        return EXIT_BUG
    except click.exceptions.Abort:
        echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return EXIT_ERROR
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as exc:  # a bug: log the traceback, one line on screen
        path = write_crash_log(exc)
        where = f"the traceback is in {path}" if path else "no crash log could be written"
        echo(
            f"Internal error: {type(exc).__name__}: {redact(str(exc))[:300]} "
            f"(a bug in publish; {where})",
            err=True,
        )
        return EXIT_BUG


if __name__ == "__main__":
    main()
