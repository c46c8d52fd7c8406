"""Builders of example plans for tests (renderers, schema, CLI).

Import with ``from plan_fixtures import example_plan`` from a test under ``tests/unit``.
Every builder is deterministic: the same call gives an equal Plan.
"""

from __future__ import annotations

import hashlib

from runner.plan.model import Change, Drift, Plan, SchemaChange


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _plan(
    changes: tuple[Change, ...] = (),
    drift: tuple[Drift, ...] = (),
    *,
    environment: str = "default",
) -> Plan:
    return Plan(
        spec_name="sales",
        spec_path="publish_specs/sales.yaml",
        spec_sha256=_sha("sales spec"),
        rendered_sha256=_sha("sales rendered"),
        environment=environment,
        lineage="3f2b9c1e-5d4a-4c3b-9a8e-7f6d5c4b3a21",
        serial=7,
        changes=changes,
        drift=drift,
        options={"env": None, "vars": {}, "refresh": True},
    )


def example_plan() -> Plan:
    """One new connection, one job run, three publications (one destructive)."""
    return _plan(
        (
            Change(
                address="connection.warehouse",
                action="create",
                reason="new connection",
                details={"vendor": "sqlite", "database": "warehouse.db"},
            ),
            Change(
                address="job.orders_clean",
                action="run",
                reason="the job's recipe changed since its latest run",
                run_id="run-0001",
                fingerprint="sha256:0a1b2c3d4e5f6a7b",
            ),
            Change(
                address="target.orders_out",
                action="publish",
                reason="job.orders_clean has a new run",
                depends_on=("job.orders_clean", "connection.warehouse"),
                publish_action="truncateAndLoad",
                table="warehouse.main.orders",
                destructive=True,
                rows_existing=1204,
                rows_estimated=True,
                rows_incoming=None,
                schema_diff=(
                    SchemaChange("note", "added", None, "text", "additive"),
                    SchemaChange("legacy", "removed", "integer", None, "destructive"),
                    SchemaChange(
                        "amount", "retyped", "numeric(10,2)", "double precision", "destructive"
                    ),
                ),
                consequence="all rows are replaced; the table's grants and views are kept",
                run_id="run-0001",
            ),
            Change(
                address="target.customers_out",
                action="publish",
                reason="first publication of this target",
                depends_on=("job.orders_clean",),
                publish_action="createAndLoad",
                table="warehouse.main.customers",
                rows_existing=None,
                rows_incoming=310,
                consequence="the table is created and loaded",
                run_id="run-0001",
            ),
            Change(
                address="target.events_out",
                action="publish",
                reason="job.orders_clean has a new run",
                depends_on=("job.orders_clean",),
                publish_action="upsert",
                table="warehouse.main.events",
                rows_existing=50,
                rows_incoming=12,
                consequence="new keys are inserted, existing keys updated",
                run_id="run-0001",
            ),
        )
    )


def empty_plan() -> Plan:
    """Nothing to do: every target holds the results of its job's latest run."""
    return _plan()


def drift_plan() -> Plan:
    """No intended change, but two tables were changed by hand since the last publish."""
    return _plan(
        drift=(
            Drift(
                "target.orders_out",
                "table_dropped",
                "warehouse.main.orders no longer exists",
                recorded={"rows": 1204},
                actual=None,
            ),
            Drift(
                "target.events_out",
                "rows_changed",
                "warehouse.main.events holds 48 rows; state recorded 50",
                recorded=50,
                actual=48,
            ),
            Drift(
                "target.events_out",
                "columns_changed",
                "column extra was added outside publish",
                recorded=["id", "kind"],
                actual=["id", "kind", "extra"],
            ),
        )
    )


def trifacta_plan() -> Plan:
    """A trifacta platform plan: a run then a dropAndLoad publish, with the API calls shown."""
    return _plan(
        (
            Change(
                address="job.orders_clean",
                action="run",
                reason="--replace job.orders_clean",
                run_id="run-0002",
                fingerprint="sha256:99aa88bb77cc66dd",
                api_calls=(
                    {
                        "method": "POST",
                        "path": "/v4/jobGroups",
                        "body": {
                            "wrangledDataset": {"id": 28629},
                            "overrides": {"profiler": False},
                        },
                    },
                ),
            ),
            Change(
                address="target.orders_out",
                action="publish",
                reason="job.orders_clean has a new run",
                depends_on=("job.orders_clean",),
                publish_action="dropAndLoad",
                table="redshift_prod.public.orders",
                destructive=True,
                rows_existing=88000,
                rows_estimated=False,
                rows_incoming=None,
                consequence="the table is dropped and recreated from the results' schema",
                run_id="run-0002",
                api_calls=(
                    {
                        "method": "PUT",
                        "path": "/v4/jobGroups/{jobGroupId}/publish",
                        "body": {
                            "connection": {"id": 2},
                            "path": ["public"],
                            "table": "orders",
                            "action": "dropAndLoad",
                            "inputFormat": "avro",
                        },
                    },
                    {"method": "GET", "path": "/v4/jobGroups/{jobGroupId}/status"},
                ),
            ),
        ),
        environment="prod",
    )


def big_plan(n_targets: int = 2000) -> Plan:
    """``n_targets`` publications over 4 connections, one job per 10 targets; every third
    target is a destructive dropAndLoad with a schema diff, every fifth a new table."""
    changes: list[Change] = []
    n_jobs = max(1, n_targets // 10)
    for j in range(n_jobs):
        changes.append(
            Change(
                address=f"job.job_{j:04d}",
                action="run",
                reason="the job's inputs changed",
                run_id=f"run-{j:04d}",
                fingerprint=f"sha256:{_sha(str(j))[:16]}",
            )
        )
    for t in range(n_targets):
        job = f"job.job_{t % n_jobs:04d}"
        conn = f"conn_{t % 4}"
        table = f"{conn}.analytics.table_{t:05d}"
        if t % 3 == 0:
            change = Change(
                address=f"target.target_{t:05d}",
                action="publish",
                reason=f"{job} has a new run",
                depends_on=(job,),
                publish_action="dropAndLoad",
                table=table,
                destructive=True,
                rows_existing=1000 + t,
                rows_estimated=t % 2 == 0,
                schema_diff=(
                    SchemaChange(
                        "amount", "retyped", "numeric(10,2)", "double precision", "destructive"
                    ),
                    SchemaChange("old_code", "removed", "text", None, "destructive"),
                    SchemaChange("new_code", "added", None, "text", "additive"),
                ),
                consequence="the table is dropped and recreated from the results' schema",
                run_id=f"run-{t % n_jobs:04d}",
            )
        elif t % 5 == 1:
            change = Change(
                address=f"target.target_{t:05d}",
                action="publish",
                reason="first publication of this target",
                depends_on=(job,),
                publish_action="createAndLoad",
                table=table,
                rows_existing=None,
                consequence="the table is created and loaded",
                run_id=f"run-{t % n_jobs:04d}",
            )
        else:
            change = Change(
                address=f"target.target_{t:05d}",
                action="publish",
                reason=f"{job} has a new run",
                depends_on=(job,),
                publish_action="createAndLoad",
                table=table,
                rows_existing=500 + t,
                rows_incoming=20,
                consequence="rows are appended",
                run_id=f"run-{t % n_jobs:04d}",
            )
        changes.append(change)
    drift = tuple(
        Drift(f"target.target_{t:05d}", "rows_changed", "rows changed outside publish", 10, 11)
        for t in range(0, n_targets, 97)
    )
    return _plan(tuple(changes), drift)
