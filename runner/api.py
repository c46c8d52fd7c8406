"""The Python API: ``from runner import load_spec, plan, apply``.

What the command line does, for orchestrators (Airflow, Dagster, Prefect) and scripts: the
same checks, the same plan, the same apply, the same state and locks; nothing is printed
and nothing is asked. Errors are the documented ones (:mod:`runner.errors`), all
:class:`~runner.errors.PublishError` subclasses except :class:`~runner.errors.InternalError`
(a bug) and :class:`~runner.errors.Interrupted` (``cancel`` was set)::

    from runner import load_spec, plan, apply

    spec = load_spec("publish_specs/sales", environment="prod")
    p = plan(spec)                       # a Plan: p.changes, p.has_changes, p.to_json()
    if p.has_changes:
        result = apply(p)                # exactly that plan, or StalePlanError
        print(result.summary)

``docs/python.md`` has an Airflow task and a Dagster asset.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from runner.apply.executor import ApplyReport, Events, StepResult
from runner.commands.args import PlanArgs, Selection, SpecArgs
from runner.commands.context import Context, open_context
from runner.commands.execute import raise_for, run_plan
from runner.commands.plan import build_plan
from runner.errors import ApplyError
from runner.plan.model import Plan
from runner.plan.planfile import read_plan_file, write_plan_file
from runner.plan.stale import check_spec_unchanged, check_state_unchanged, check_tables_unchanged
from runner.spec.api import load_spec as _load
from runner.spec.model import Spec
from runner.state.model import State
from runner.state.open import open_backend, state_dir

__all__ = ["ApplyFailed", "ApplyResult", "Events", "StepResult", "apply", "load_spec", "plan"]

PathLike = str | os.PathLike[str]

# how each Spec returned by load_spec was loaded, so a plan of it records that (and a saved
# plan can load it again the same way); keyed by id, dropped when the Spec is collected
_LOADED: dict[int, tuple[weakref.ref[Spec], SpecArgs]] = {}


@dataclass(frozen=True)
class ApplyResult:
    """What an apply did: the plan it applied and how each step ended."""

    plan: Plan
    report: ApplyReport

    @property
    def ok(self) -> bool:
        """Every step finished (an apply with nothing to do is ok)."""
        return self.report.ok

    @property
    def steps(self) -> tuple[StepResult, ...]:
        return self.report.steps

    def by_status(self, status: str) -> list[StepResult]:
        """The steps that ended ``done``, ``failed`` or ``skipped``."""
        return [s for s in self.report.steps if s.status == status]

    @property
    def summary(self) -> str:
        done, failed, skipped = (len(self.by_status(s)) for s in ("done", "failed", "skipped"))
        return f"{done} done, {failed} failed, {skipped} skipped"


class ApplyFailed(ApplyError):
    """One or more steps failed; ``result`` says which (what finished is in state)."""

    def __init__(self, message: str, result: ApplyResult) -> None:
        super().__init__(message)
        self.result = result


def _spec_args(
    path: PathLike,
    environment: str | None,
    variables: Mapping[str, object] | None,
    var_files: Sequence[PathLike],
) -> SpecArgs:
    return SpecArgs(
        os.fspath(path),
        environment,
        {str(k): str(v) for k, v in (variables or {}).items()},
        tuple(os.fspath(f) for f in var_files),
    )


def load_spec(
    path: PathLike = ".",
    *,
    environment: str | None = None,
    variables: Mapping[str, object] | None = None,
    var_files: Sequence[PathLike] = (),
) -> Spec:
    """Load, render and validate a spec (a file, or a folder holding one).

    ``environment`` is ``--env``, ``variables`` are ``--var K=V`` (values are turned into
    strings), ``var_files`` are ``--var-file``. Raises :class:`~runner.errors.SpecError`
    with every issue (``exc.issues``: file, line, column, JSON path, message).
    """
    args = _spec_args(path, environment, variables, var_files)
    spec = _load(
        args.path, environment=args.environment, cli_vars=args.cli_vars, var_files=args.var_files
    )
    key = id(spec)
    _LOADED[key] = (weakref.ref(spec, lambda _ref: _LOADED.pop(key, None)), args)
    return spec


def _context(
    spec: Spec | PathLike,
    environment: str | None,
    variables: Mapping[str, object] | None,
    var_files: Sequence[PathLike],
) -> Context:
    if not isinstance(spec, Spec):
        return open_context(_spec_args(spec, environment, variables, var_files))
    if environment is not None or variables or var_files:
        raise TypeError("environment, variables and var_files are given to load_spec, not here")
    entry = _LOADED.get(id(spec))
    if entry is None or entry[0]() is not spec:
        raise TypeError("pass a Spec returned by runner.load_spec, or the spec's path")
    args = entry[1]
    return Context(spec, open_backend(spec), state_dir(spec), args.load_options())


def _plan_args(
    ctx: Context,
    spec: Spec | PathLike,
    select: Sequence[str],
    exclude: Sequence[str],
    replace: Sequence[str],
    allow_destructive: bool,
    refresh: bool,
) -> PlanArgs:
    entry = _LOADED.get(id(spec)) if isinstance(spec, Spec) else None
    spec_args = (
        entry[1]
        if entry
        else SpecArgs(
            os.fspath(spec) if not isinstance(spec, Spec) else str(spec.file),
            ctx.load_options.get("environment"),
            ctx.load_options.get("vars", {}),
            tuple(ctx.load_options.get("var_files", ())),
        )
    )
    selection = Selection(tuple(select), tuple(exclude), tuple(replace), allow_destructive)
    return PlanArgs(spec_args, selection, refresh=refresh)


def plan(
    spec: Spec | PathLike = ".",
    *,
    environment: str | None = None,
    variables: Mapping[str, object] | None = None,
    var_files: Sequence[PathLike] = (),
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    replace: Sequence[str] = (),
    allow_destructive: bool = False,
    refresh: bool = True,
    out: PathLike | None = None,
) -> Plan:
    """Make the plan of a spec (a :class:`Spec` from :func:`load_spec`, or a path); change nothing.

    ``select``/``exclude``/``replace`` take addresses (``target.NAME``, ``job.NAME``) as the
    CLI flags do. ``out`` also saves the plan file (``publish apply FILE`` or :func:`apply`
    apply it). Raises :class:`~runner.errors.SpecError`, :class:`~runner.errors.PlanError`
    (every problem, nothing ran), :class:`~runner.errors.StateError`,
    :class:`~runner.errors.TargetError` or :class:`~runner.errors.PlatformError`.
    """
    ctx = _context(spec, environment, variables, var_files)
    args = _plan_args(ctx, spec, select, exclude, replace, allow_destructive, refresh)
    made = build_plan(ctx, ctx.backend.read(), args)
    if out is not None:
        write_plan_file(made, os.fspath(out))
    return made


def apply(
    what: Plan | Spec | PathLike = ".",
    *,
    environment: str | None = None,
    variables: Mapping[str, object] | None = None,
    var_files: Sequence[PathLike] = (),
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    replace: Sequence[str] = (),
    allow_destructive: bool = False,
    parallelism: int = 4,
    lock_timeout: float = 0.0,
    events: Events | None = None,
    cancel: threading.Event | None = None,
) -> ApplyResult:
    """Apply a plan exactly (a :class:`Plan`, or a saved plan file), or plan a spec and apply it.

    A plan is refused with :class:`~runner.errors.StalePlanError` (nothing changed) when the
    spec, its rendered values, the state or its tables moved since it was made. A spec (or a
    spec's path) is planned and applied under one lock, as ``publish apply --auto-approve``.
    ``events`` hears each step start, progress and finish (from worker threads); setting
    ``cancel`` stops running steps at their next safe point and raises
    :class:`~runner.errors.Interrupted`. Failed steps raise :class:`ApplyFailed`, whose
    ``result`` says what finished (recorded in state: the next apply continues from there).
    """
    path = None if isinstance(what, (Plan, Spec)) else Path(os.fspath(what))
    saved = read_plan_file(path) if path is not None and path.is_file() else None
    if isinstance(what, Plan) or saved is not None:
        given = environment or variables or var_files or select or exclude or replace
        if given or allow_destructive:
            raise TypeError("a plan is applied exactly as made: pass these options to plan()")
        the_plan = what if isinstance(what, Plan) else saved
        assert the_plan is not None
        label = os.fspath(path) if saved is not None and path is not None else the_plan.plan_id
        return _apply_plan(the_plan, label, parallelism, lock_timeout, events, cancel)
    spec = what if isinstance(what, Spec) else Path(os.fspath(what))
    ctx = _context(
        spec if isinstance(spec, Spec) else os.fspath(spec), environment, variables, var_files
    )
    args = _plan_args(
        ctx,
        spec if isinstance(spec, Spec) else os.fspath(spec),
        select,
        exclude,
        replace,
        allow_destructive,
        True,
    )
    with ctx.backend.lock("apply", timeout=lock_timeout):
        state = ctx.backend.read()
        made = build_plan(ctx, state, args)
        return _run(made, ctx, state, parallelism, events, cancel)


def _apply_plan(
    the_plan: Plan,
    label: str,
    parallelism: int,
    lock_timeout: float,
    events: Events | None,
    cancel: threading.Event | None,
) -> ApplyResult:
    spec_path = the_plan.spec_path
    if not Path(spec_path).exists() and Path(label).is_file():
        spec_path = str(Path(label).parent / spec_path)
    options = the_plan.options
    ctx = open_context(
        SpecArgs(
            spec_path,
            options.get("environment"),
            options.get("vars", {}),
            tuple(options.get("var_files", ())),
        )
    )
    check_spec_unchanged(the_plan, ctx.spec, label)
    with ctx.backend.lock("apply", timeout=lock_timeout):
        state = ctx.backend.read()
        check_state_unchanged(the_plan, state, label)
        check_tables_unchanged(the_plan, ctx.spec, label)
        return _run(the_plan, ctx, state, parallelism, events, cancel)


def _run(
    the_plan: Plan,
    ctx: Context,
    state: State | None,
    parallelism: int,
    events: Events | None,
    cancel: threading.Event | None,
) -> ApplyResult:
    if not the_plan.has_changes:
        return ApplyResult(the_plan, ApplyReport(()))
    report = run_plan(the_plan, ctx, state, parallelism=parallelism, events=events, cancel=cancel)
    result = ApplyResult(the_plan, report)
    try:
        raise_for(report)
    except ApplyError as exc:
        failed = "; ".join(f"{s.address}: {s.message}" for s in result.by_status("failed"))
        raise ApplyFailed(f"{exc} ({failed})", result) from None
    return result
