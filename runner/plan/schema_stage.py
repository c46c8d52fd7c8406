"""The planner's schema stage: target schemas (mysql: databases) that do not exist yet.

A plan shows the creation of each as a step of its own (``+ schema wh.staging``), carried
by the first publish into it (``createSchema`` in JSON); apply creates it before that
table (:mod:`runner.targets.schemas`). A connection with ``createSchemas: false``, or a
user who may not create schemas, makes the plan fail instead: never the apply.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping

from runner.errors import PublishError
from runner.plan.model import Change
from runner.plan.options import table_ref
from runner.plan.stages import Described, TargetSource
from runner.spec.model import Spec
from runner.targets import schemas
from runner.targets.base import TableRef


def missing_schemas(
    spec: Spec,
    pool: TargetSource,
    refs_by_conn: Mapping[str, Iterable[TableRef]],
    described: Iterable[str],
    problem: Callable[[str], None],
) -> frozenset[tuple[str, str]]:
    """(connection, schema) of every schema to publish into that does not exist; a
    problem for each that publish may not create."""
    out: set[tuple[str, str]] = set()
    if spec.platform.type == "trifacta":  # its service creates the tables, not publish
        return frozenset()
    for name in sorted(set(described) & set(refs_by_conn)):
        conn = spec.connections[name]
        refs = sorted(refs_by_conn[name])
        try:
            found = schemas.missing(pool.get(conn), (r.path[0] for r in refs if r.path))
        except PublishError as exc:
            problem(str(exc))
            continue
        for schema, may_create in sorted(found.items()):
            users = ", ".join(
                f"target.{t.name}"
                for t in sorted(spec.targets.values(), key=lambda t: t.name)
                if t.connection == name and t.path[:1] == (schema,)
            )
            kind = "database" if conn.vendor == "mysql" else "schema"
            if not conn.create_schemas:
                problem(
                    f"{conn.address}: {kind} {schema!r} does not exist and the connection says "
                    f"createSchemas: false ({users} publish into it); create it first "
                    f"(create {kind} {schema}), or remove createSchemas: false so that apply "
                    "creates it"
                )
            elif not may_create:
                problem(
                    f"{conn.address}: {kind} {schema!r} does not exist and user "
                    f"{conn.username or '(default)'} may not create it ({users} publish into "
                    f"it); create it first (create {kind} {schema}), or grant CREATE on the "
                    "database"
                )
            else:
                out.add((name, schema))
    return frozenset(out)


def with_schema_steps(spec: Spec, changes: Iterable[Change], described: Described) -> list[Change]:
    """The changes, the first publish into each missing schema carrying its creation."""
    missing = described.missing_schemas
    tables = {t.address: table_ref(t) for t in spec.targets.values()}
    changes = list(changes)
    first: dict[tuple[str, str], int] = {}
    for i, change in enumerate(changes):
        ref = tables.get(change.address)
        if change.action == "publish" and ref is not None and ref.path:
            key = (ref.connection, ref.path[0])
            if key in missing and key not in first:
                first[key] = i
    out = list(changes)
    for (_, schema), i in first.items():
        out[i] = dataclasses.replace(out[i], create_schema=schema)
    return out
