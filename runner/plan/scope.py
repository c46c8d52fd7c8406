"""Which addresses a plan covers: --select (with what it needs), --exclude, and their errors.

- ``--select target.X`` pulls in the job and the connection the target needs (listed in
  the plan as pulled in);
- ``--exclude`` of a job or a connection excludes the targets that need it;
- objects only in state (removed from the spec) stay in scope, so they can be forgotten.
"""

from __future__ import annotations

import difflib
from collections import defaultdict

from runner.plan.options import PlanOptions, table_ref
from runner.plan.stages import Scope
from runner.spec.model import Spec, Target
from runner.state.model import State
from runner.targets.base import TableRef


def all_addresses(spec: Spec) -> set[str]:
    return (
        {f"connection.{n}" for n in spec.connections}
        | {f"job.{n}" for n in spec.jobs}
        | {f"target.{n}" for n in spec.targets}
    )


def _did_you_mean(address: str, known: set[str]) -> str:
    close = difflib.get_close_matches(address, sorted(known), n=1)
    if close:
        return f"; did you mean {close[0]}?"
    return " (addresses look like target.NAME, job.NAME, connection.NAME)"


def address_errors(spec: Spec, state: State | None, options: PlanOptions) -> list[str]:
    """One error per address given to --select/--exclude/--replace that names nothing."""
    known = all_addresses(spec)
    in_state = set(state.addresses()) if state else set()
    return [
        f"{flag} {addr}: no such object in the spec{_did_you_mean(addr, known)}"
        for flag, addrs in (
            ("--select", options.select),
            ("--exclude", options.exclude),
            ("--replace", options.replace),
        )
        for addr in addrs
        if addr not in known and not (flag != "--replace" and addr in in_state)
    ]


def _selected(spec: Spec, select: tuple[str, ...]) -> tuple[set[str], list[str]]:
    """The selected addresses plus what selected targets need, and which were pulled in."""
    chosen = set(select)
    pulled: list[str] = []
    for addr in select:
        kind, _, name = addr.partition(".")
        if kind == "target" and name in spec.targets:
            t = spec.targets[name]
            for need in (f"job.{t.job}", f"connection.{t.connection}"):
                if need not in chosen:
                    chosen.add(need)
                    pulled.append(need)
    return chosen, pulled


def resolve(spec: Spec, state: State | None, options: PlanOptions) -> Scope:
    """The addresses to plan (what --select pulled in is listed apart)."""
    scope = all_addresses(spec) | (set(state.addresses()) if state else set())
    pulled: list[str] = []
    if options.select:
        scope, pulled = _selected(spec, options.select)
    excluded = set(options.exclude)
    for name, t in spec.targets.items():  # excluding what a target needs excludes the target
        if f"job.{t.job}" in excluded or f"connection.{t.connection}" in excluded:
            excluded.add(f"target.{name}")
    return Scope(frozenset(scope - excluded), tuple(sorted(set(pulled))))


def shared_table_problems(spec: Spec) -> list[str]:
    """Two targets replacing or merging into one table would overwrite each other."""
    by_table: dict[TableRef, list[Target]] = defaultdict(list)
    for target in spec.targets.values():
        by_table[table_ref(target)].append(target)
    problems = []
    for ref, targets in sorted(by_table.items()):
        if len(targets) > 1 and any(t.action not in ("load", "createAndLoad") for t in targets):
            names = " and ".join(sorted(t.address for t in targets))
            problems.append(
                f"{names} all publish to {ref}; only appending actions (load, createAndLoad) "
                "can share a table: give each target its own table"
            )
    return problems
