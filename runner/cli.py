"""The `publish` command line: parse, call one function, map errors to exit codes.

Exit codes are in :mod:`runner.exitcodes`. Each command's flags are parsed once here into
one value (:mod:`runner.commands.args`: ``SpecArgs``, ``PlanArgs``, ``ApplyArgs``) and
passed to one function in :mod:`runner.commands`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import click

from runner import __version__, exitcodes
from runner.cli_options import LOCK_TIMEOUT, PLAN_FORMAT, selection_options, spec_argument
from runner.cli_preview import diff_command, preview_options
from runner.crash import write_crash_log
from runner.errors import InternalError, Interrupted, PublishError
from runner.logjson import JsonFormatter, LogFormat, emit, log_format
from runner.logjson import set_format as set_log_format
from runner.spec.secrets import RedactingFilter, redact

if TYPE_CHECKING:
    from runner.commands.args import PreviewArgs, Selection, SpecArgs
    from runner.commands.validate import ReportFormat
    from runner.plan.render import PlanFormat

log = logging.getLogger("runner")


class Exit(Exception):
    """Leave with an exit code after the command printed what it had to say."""

    def __init__(self, code: int) -> None:
        self.code = code


def echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    """Print through the secret filter: nothing printed can hold a secret value."""
    click.echo(redact(text), err=err, nl=nl)


def _setup_logging(verbose: int, log_format: LogFormat = "text") -> None:
    set_log_format(log_format)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        JsonFormatter()
        if log_format == "json"
        else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
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
        fh.setFormatter(
            JsonFormatter()
            if log_format == "json"
            else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        fh.setLevel(logging.DEBUG)
        root.addHandler(fh)
        root.setLevel(logging.DEBUG)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="publish")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    envvar="PUBLISH_LOG_FORMAT",
    help="Logs and apply's step lines on stderr as text, or as JSON lines for CI log collectors.",
)
def cli(verbose: int, log_format: LogFormat) -> None:
    """Publish the results of data jobs into relational tables, reviewed like code.

    \b
    Write a YAML spec of connections, jobs and targets, then:
      publish validate SPEC        check it (every error, with file:line:col)
      publish plan SPEC            show what would change in every target table
      publish apply SPEC           do that, and only that
    \b
    SPEC is a spec file, or a folder holding one (default: the current folder).
    Addresses name objects of a spec: connection.NAME, job.NAME, target.NAME.
    """
    _setup_logging(verbose, log_format)


@cli.command()
@spec_argument()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one error per line with its place; json: {valid, errors}.",
)
@click.option(
    "--require-secrets",
    is_flag=True,
    help="Fail when a secret() variable is not set (as plan and apply do).",
)
def validate(spec: SpecArgs, fmt: str, require_secrets: bool) -> None:
    """Check a spec: YAML, templates, schema and references; every error at once.

    Secrets need not be set: an unset secret() is an opaque placeholder, and the secrets
    plan and apply will need are listed.
    """
    from runner.spec.recipe_helper import recipe_checker

    with recipe_checker(spec.path) as check:  # polars imported meanwhile, when needed
        from runner.commands.validate import validate_command

        report = cast("ReportFormat", fmt)
        valid = validate_command(
            spec, fmt=report, echo=echo, require_secrets=require_secrets, check_recipes=check
        )
    if not valid:
        raise Exit(exitcodes.ERROR)


@cli.command()
@spec_argument()
def render(spec: SpecArgs) -> None:
    """Print the rendered spec (templates filled in, secrets masked)."""
    from runner.commands.validate import render_command

    if not render_command(spec, echo=echo):
        raise Exit(exitcodes.ERROR)


@cli.command()
@spec_argument()
@selection_options
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Save the plan to this file.")
@click.option(
    "--format",
    "fmt",
    type=PLAN_FORMAT,
    default="text",
    show_default=True,
    help="text for people, markdown for pull-request comments, json for programs.",
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0: no changes, 1: error, 2: changes.")
@click.option(
    "--refresh/--no-refresh",
    default=True,
    show_default=True,
    help="Compare state with the targets (drift).",
)
@click.option(
    "--check-connections", is_flag=True, help="Test every connection (trifacta: status / dryRun)."
)
@click.option(
    "--check-jobs",
    is_flag=True,
    help="Validate every job run without running it (trifacta: testMode).",
)
@preview_options
def plan(
    spec: SpecArgs,
    selection: Selection,
    preview: PreviewArgs,
    out: str | None,
    fmt: str,
    detailed_exitcode: bool,
    refresh: bool,
    check_connections: bool,
    check_jobs: bool,
) -> None:
    """Show what apply would change in every target table; change nothing."""
    from runner.commands import plan_command
    from runner.commands.args import PlanArgs

    args = PlanArgs(
        spec,
        selection,
        refresh=refresh,
        check_connections=check_connections,
        check_jobs=check_jobs,
        preview=preview,
    )
    has_changes = plan_command(args, out=out, fmt=cast("PlanFormat", fmt), echo=echo)
    if detailed_exitcode and has_changes:
        raise Exit(exitcodes.CHANGES)


@cli.command()
@spec_argument("SPEC|PLANFILE")
@selection_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking for 'yes'.")
@click.option(
    "--parallelism",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Run at most this many steps (jobs, publications) at once.",
)
@LOCK_TIMEOUT
@preview_options
def apply(
    spec: SpecArgs,
    selection: Selection,
    preview: PreviewArgs,
    auto_approve: bool,
    parallelism: int,
    lock_timeout: float,
) -> None:
    """Apply a saved plan exactly, or plan a spec, show it and apply after 'yes'."""
    from runner.commands import apply_command
    from runner.commands.args import ApplyArgs, PlanArgs

    args = ApplyArgs(
        PlanArgs(spec, selection, preview=preview), auto_approve, parallelism, lock_timeout
    )
    apply_command(args, echo=echo)


@cli.command()
@click.argument("planfile", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=PLAN_FORMAT,
    default="text",
    show_default=True,
    help="text for people, markdown for pull-request comments, json for programs.",
)
def show(planfile: str, fmt: str) -> None:
    """Show a saved plan (any format); works on stale plans too."""
    from runner.commands import show_command

    show_command(planfile, fmt=cast("PlanFormat", fmt), echo=echo)


@cli.command()
@click.argument("operation", type=click.Choice(["list", "show", "rm"]))
@spec_argument(required=True)
@click.argument("address", required=False)
@LOCK_TIMEOUT
def state(operation: str, spec: SpecArgs, address: str | None, lock_timeout: float) -> None:
    """List, show or forget (rm) what state records; rm never touches a table."""
    from runner.commands import state_command

    state_command(operation, spec, address, lock_timeout=lock_timeout, echo=echo)


@cli.command("force-unlock")
@spec_argument(required=True)
@click.argument("lock_id")
def force_unlock(spec: SpecArgs, lock_id: str) -> None:
    """Remove a lock left behind by a killed apply (needs the lock's id)."""
    from runner.commands import force_unlock_command

    force_unlock_command(spec, lock_id, echo=echo)


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
def init(directory: str) -> None:
    """Write a starter spec with a sample input into DIRECTORY."""
    from runner.commands import init_command

    init_command(directory, echo=echo)


@cli.command()
@click.option("--path", "show_path", is_flag=True, help="Print the installed file's path only.")
@click.option("--plan", "plan_schema", is_flag=True, help="The plan file's schema instead.")
def schema(show_path: bool, plan_schema: bool) -> None:
    """Print the spec's JSON Schema (or its path, for editors and check-jsonschema)."""
    from runner.schemafiles import schema_path

    path = schema_path("plan" if plan_schema else "spec")
    echo(str(path) if show_path else path.read_text(encoding="utf-8"), nl=show_path)


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: eval "$(publish completion bash)"."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None  # the three choices are click's own
    echo(cls(cli, {}, "publish", "_PUBLISH_COMPLETE").source())


cli.add_command(diff_command())

for _command in cli.commands.values():  # the command list shows each first line whole
    _command.short_help = (_command.help or "").strip().splitlines()[0]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns (and exits with) the exit code."""
    import gc

    code = run(argv)
    # the process ends: Python's collections on the way out would walk every object left
    # (~0.15-0.3 s after a 1M-row apply); frozen ones are skipped
    gc.freeze()
    sys.exit(code)


def run(argv: Sequence[str] | None = None) -> int:
    try:
        cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="publish",
            standalone_mode=False,
        )
        return exitcodes.OK
    except Exit as exc:
        return exc.code
    except Interrupted as exc:
        echo(f"Interrupted: {exc}", err=True)
        return exitcodes.INTERRUPTED
    except PublishError as exc:
        if log_format() == "json":  # CI log collectors get the error as one JSON object
            emit("error", str(exc), level="error", logger="runner", error=type(exc).__name__)
        else:
            echo(f"Error: {exc}", err=True)
        return exitcodes.ERROR
    except InternalError as exc:
        echo(f"Internal error: {exc}", err=True)
        return exitcodes.BUG
    except click.exceptions.Abort:
        echo("Interrupted.", err=True)
        return exitcodes.INTERRUPTED
    except KeyboardInterrupt:
        echo("Interrupted.", err=True)
        return exitcodes.INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return exitcodes.ERROR
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except BrokenPipeError:
        return exitcodes.ERROR
    except Exception as exc:  # a bug: log the traceback, one line on screen
        path = write_crash_log(exc)
        where = f"the traceback is in {path}" if path else "no crash log could be written"
        echo(
            f"Internal error: {type(exc).__name__}: {redact(str(exc))[:300]} "
            f"(a bug in publish; {where})",
            err=True,
        )
        return exitcodes.BUG


if __name__ == "__main__":
    main()
