"""The outcome of one planned publication, with what the platform and the spec add to it."""

from __future__ import annotations

import dataclasses

from runner.errors import PublishError
from runner.plan import calls as remote
from runner.plan.diff import Outcome, outcome
from runner.plan.options import table_ref
from runner.plan.stages import JobRunPlan, TargetSource
from runner.platforms.base import Platform
from runner.spec.model import Spec, Target
from runner.targets import _ledger
from runner.targets.base import TableInfo


def publication_outcome(
    spec: Spec,
    pool: TargetSource,
    platform: Platform,
    target: Target,
    run: JobRunPlan,
    info: TableInfo | None,
    known: bool,
    forced: bool = False,
) -> Outcome:
    """What publishing ``run`` to ``target`` would do; ``known``: its table was described."""
    ref = table_ref(target)
    ledgered = getattr(platform, "publish_note", None) is None  # publish writes the ledger
    if known and info is not None and ledgered and not forced:
        held = recorded(spec, pool, target, run.run_id)
        if held is not None:
            return held
    out = outcome(
        address=target.address,
        action=target.action,
        table_name=str(ref),
        table=info,
        results=run.schema,
        target=pool.get(spec.connections[target.connection]) if known else None,
        key=target.key,
        incoming=run.rows,
        on_schema_change=target.on_schema_change,
    )
    if not known:
        out = dataclasses.replace(
            out,
            consequence=f"{target.action} into {ref} (table not inspected: no database "
            "credentials in the spec)",
            diff=(),
        )
    return remote.platform_outcome(platform, target, out)


def recorded(spec: Spec, pool: TargetSource, target: Target, run_id: str) -> Outcome | None:
    """Apply only records the publish when the table's ledger says it holds this run already
    (a lost or removed state): the plan says so instead of the action's consequence."""
    table = pool.get(spec.connections[target.connection])
    ref = table_ref(target)
    try:
        rows = _ledger.published(table, target.name, ref, run_id)
    except PublishError as exc:
        return Outcome("", False, error=f"{target.address}: {exc}", error_field="table")
    if rows is None:
        return None
    return Outcome(
        f"record: already published run {run_id} ({rows:,} {'row' if rows == 1 else 'rows'}, "
        f"found in the table's ledger); no change to the table",
        False,
        ledger=rows,
    )
