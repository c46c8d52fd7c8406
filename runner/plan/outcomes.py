"""The outcome of one planned publication, with what the platform and the spec add to it."""

from __future__ import annotations

import dataclasses

from runner.plan import calls as remote
from runner.plan.diff import Outcome, outcome
from runner.plan.options import table_ref
from runner.plan.stages import JobRunPlan, TargetSource
from runner.platforms.base import Platform
from runner.spec.model import Spec, Target
from runner.targets.base import TableInfo


def publication_outcome(
    spec: Spec,
    pool: TargetSource,
    platform: Platform,
    target: Target,
    run: JobRunPlan,
    info: TableInfo | None,
    known: bool,
) -> Outcome:
    """What publishing ``run`` to ``target`` would do; ``known``: its table was described."""
    ref = table_ref(target)
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
