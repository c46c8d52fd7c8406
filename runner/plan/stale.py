"""When a saved plan may no longer be applied (stale), and what to say.

A saved plan is applied exactly as it was made, or not at all. It is stale when:

- the spec file's bytes changed, or the rendered spec did (a variable, an environment
  variable or a secret has another value);
- it was applied already (a plan is applied at most once), or the state moved since
  (another serial or lineage, state written where there was none, state gone);
- a table it publishes to appeared, vanished, or filled up while a replacing publish was
  planned as not destructive (the plan's consequences no longer hold).
"""

from __future__ import annotations

from collections import defaultdict

from runner.errors import PublishError, StalePlanError
from runner.plan.model import Change, Plan
from runner.plan.options import table_ref
from runner.plan.replan import replan_command
from runner.spec.model import REPLACING_ACTIONS, Spec
from runner.state.model import State
from runner.targets.base import TableInfo, TableRef
from runner.targets.pool import TargetPool


def _again(plan: Plan, planfile: str) -> str:
    return f"Make a new plan with the same options: {replan_command(plan, planfile)}"


def check_spec_unchanged(plan: Plan, spec: Spec, planfile: str) -> None:
    again = _again(plan, planfile)
    if spec.sha256 != plan.spec_sha256:
        raise StalePlanError(
            f"saved plan {planfile} is stale: the spec file changed since it was made. {again}"
        )
    if spec.rendered_sha256 != plan.rendered_sha256:
        raise StalePlanError(
            f"saved plan {planfile} is stale: the rendered spec changed since it was made (a variable, "
            f"an environment variable or a secret has another value). {again}"
        )


def check_state_unchanged(plan: Plan, state: State | None, planfile: str) -> None:
    again = _again(plan, planfile)
    if state is not None and plan.plan_id in state.applied_plans:
        raise StalePlanError(
            f"saved plan {planfile} is stale: it was already applied (a plan is applied at most once). {again}"
        )
    if plan.lineage is None and state is not None:
        raise StalePlanError(
            f"saved plan {planfile} is stale: it was made when no state existed, and state has been "
            f"written since (serial {state.serial}). {again}"
        )
    if plan.lineage is not None and state is None:
        raise StalePlanError(
            f"saved plan {planfile} is stale: the state it was made against is gone. {again}"
        )
    if state is not None and (state.lineage != plan.lineage or state.serial != plan.serial):
        raise StalePlanError(
            f"saved plan {planfile} is stale: state moved from serial {plan.serial} to {state.serial} "
            f"since it was made. {again}"
        )


def table_change_problem(change: Change, ref: TableRef, info: TableInfo | None) -> str | None:
    """Why the table of a planned publish no longer matches the plan, or None."""
    if (info is None) != (change.rows_existing is None):
        now = "exists now" if info is not None else "was dropped since"
        return (
            f"{change.address}'s table {ref} {now}, "
            f"so the plan's '{change.consequence}' no longer holds"
        )
    if (
        info is not None
        and change.publish_action in REPLACING_ACTIONS
        and not change.destructive
        and info.rows > 0
    ):
        return (
            f"{ref} held no rows when the plan was made and holds {info.rows:,} now, "
            f"which {change.publish_action} would replace"
        )
    return None


def check_tables_unchanged(plan: Plan, spec: Spec, planfile: str) -> None:
    """Refuse a saved plan when a table it publishes to appeared, vanished or filled up since.

    The plan's consequences (and the destructive guard of protected targets) were decided on
    what the tables held then; applying it to different tables would do something unshown.
    """
    items: dict[str, list[tuple[Change, TableRef]]] = defaultdict(list)
    for change in plan.changes:
        target = spec.targets.get(change.name) if change.action == "publish" else None
        if target is not None and spec.connections[target.connection].vendor is not None:
            items[target.connection].append((change, table_ref(target)))
    with TargetPool(spec.base_dir) as pool:
        for conn_name, pairs in sorted(items.items()):
            try:
                infos = pool.get(spec.connections[conn_name]).describe([r for _, r in pairs])
            except PublishError:
                continue  # unreachable now: the publish itself will say so
            for change, ref in pairs:
                problem = table_change_problem(change, ref, infos.get(ref))
                if problem:
                    raise StalePlanError(
                        f"saved plan {planfile} is stale: {problem}. {_again(plan, planfile)}"
                    )
