"""A Plan is plain data: made by the planner, rendered for review, saved, applied exactly.

Its JSON form (``Plan.to_json``) is the public contract of ``--format json`` and of plan
files, described by ``schemas/plan.schema.json``. Nothing in a plan is a secret value:
secrets appear as ``{"secret": [NAME], "fingerprint": ...}`` references.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from runner.checks.model import CheckResult
from runner.rowdiff.model import RowDiff

FORMAT_VERSION = "1"

#: "delete" is the name plan files made before 0.2 give "forget"
ChangeAction = Literal["create", "update", "forget", "delete", "run", "publish"]
SchemaChangeKind = Literal["added", "removed", "retyped"]
ChangeClass = Literal["additive", "destructive"]


@dataclass(frozen=True)
class SchemaChange:
    column: str
    change: SchemaChangeKind
    from_type: str | None
    to_type: str | None
    change_class: ChangeClass

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "change": self.change,
            "from": self.from_type,
            "to": self.to_type,
            "class": self.change_class,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SchemaChange:
        return cls(d["column"], d["change"], d.get("from"), d.get("to"), d["class"])


@dataclass(frozen=True)
class Change:
    address: str  # connection.NAME | job.NAME | target.NAME
    action: ChangeAction
    reason: str  # why this change is in the plan, for people
    depends_on: tuple[str, ...] = ()  # addresses of changes in this plan it waits for
    # --- publish ---
    publish_action: str | None = None
    table: str | None = None  # "connection.schema.table"
    destructive: bool = False
    rows_existing: int | None = None  # None: the table does not exist
    rows_estimated: bool = False
    rows_incoming: int | None = None  # None: known after the job runs
    schema_diff: tuple[SchemaChange, ...] = ()
    #: onSchemaChange: the ALTER statements run before the load, in order
    alter: tuple[str, ...] = ()
    consequence: str = ""  # what happens to the table, in words
    #: the schema (mysql: database) apply creates before this, the first table in it
    create_schema: str | None = None
    # --- job ---
    run_id: str | None = None  # the run this change makes (job) or publishes (publish)
    fingerprint: str | None = None
    # --- trifacta ---
    api_calls: tuple[Mapping[str, Any], ...] = ()
    # --- anything else worth showing (connection fields changed, ...) ---
    details: Mapping[str, Any] = field(default_factory=dict)
    # --- previewed results (issue 12) ---
    #: publish: the row-level diff against the table now
    diff: RowDiff | None = None
    #: job and publish: the checks evaluated on the previewed results
    checks: tuple[CheckResult, ...] = ()
    #: job: whether the results were previewed at plan, their rows and content hash per
    #: format, or why not
    preview: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.address.partition(".")[0]

    @property
    def name(self) -> str:
        return self.address.partition(".")[2]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "address": self.address,
            "action": self.action,
            "reason": self.reason,
        }
        if self.depends_on:
            out["depends_on"] = list(self.depends_on)
        if self.action == "publish":
            out.update(
                {
                    "publishAction": self.publish_action,
                    "table": self.table,
                    "destructive": self.destructive,
                    "rows": {
                        "existing": self.rows_existing,
                        "incoming": self.rows_incoming,
                        "estimated": self.rows_estimated,
                    },
                    "schemaDiff": [s.to_json() for s in self.schema_diff],
                    "consequence": self.consequence,
                }
            )
            if self.alter:
                out["alter"] = list(self.alter)
            if self.create_schema is not None:
                out["createSchema"] = self.create_schema
        if self.run_id is not None:
            out["run_id"] = self.run_id
        if self.fingerprint is not None:
            out["fingerprint"] = self.fingerprint
        if self.api_calls:
            out["api_calls"] = [dict(c) for c in self.api_calls]
        if self.details:
            out["details"] = dict(self.details)
        if self.preview:
            out["preview"] = dict(self.preview)
        if self.diff is not None:
            out["diff"] = self.diff.to_json()
        if self.checks:
            out["checks"] = [c.to_json() for c in self.checks]
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Change:
        rows = d.get("rows") or {}
        return cls(
            address=d["address"],
            action=d["action"],
            reason=d.get("reason", ""),
            depends_on=tuple(d.get("depends_on", ())),
            publish_action=d.get("publishAction"),
            table=d.get("table"),
            destructive=bool(d.get("destructive", False)),
            rows_existing=rows.get("existing"),
            rows_estimated=bool(rows.get("estimated", False)),
            rows_incoming=rows.get("incoming"),
            schema_diff=tuple(SchemaChange.from_json(s) for s in d.get("schemaDiff", ())),
            alter=tuple(d.get("alter", ())),
            consequence=d.get("consequence", ""),
            create_schema=d.get("createSchema"),
            run_id=d.get("run_id"),
            fingerprint=d.get("fingerprint"),
            api_calls=tuple(d.get("api_calls", ())),
            details=d.get("details", {}),
            diff=RowDiff.from_json(d["diff"]) if d.get("diff") else None,
            checks=tuple(CheckResult.from_json(c) for c in d.get("checks", ())),
            preview=d.get("preview", {}),
        )


_KIND_ORDER = {"connection": 0, "job": 1, "target": 2}


def in_dependency_order(changes: Iterable[Change]) -> tuple[Change, ...]:
    """Dependency order: connections, jobs, publications; by address within each."""
    return tuple(sorted(changes, key=lambda c: (_KIND_ORDER[c.kind], c.address)))


@dataclass(frozen=True)
class Drift:
    """Something a target holds that differs from what state recorded publishing."""

    address: str
    kind: Literal["table_dropped", "rows_changed", "columns_changed"]
    message: str
    recorded: Any = None
    actual: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "kind": self.kind,
            "message": self.message,
            "recorded": self.recorded,
            "actual": self.actual,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Drift:
        return cls(d["address"], d["kind"], d["message"], d.get("recorded"), d.get("actual"))


@dataclass(frozen=True)
class Plan:
    spec_name: str
    spec_path: str  # as given on the command line, relative when it was
    spec_sha256: str
    rendered_sha256: str
    environment: str
    lineage: str | None  # None: no state existed when the plan was made
    serial: int
    changes: tuple[Change, ...] = ()
    drift: tuple[Drift, ...] = ()
    #: how the plan was made, so apply can load the spec the same way
    options: Mapping[str, Any] = field(default_factory=dict)
    #: addresses pulled in by --select because a selected object needs them
    pulled_in: tuple[str, ...] = ()
    format_version: str = FORMAT_VERSION

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def summary(self) -> dict[str, int]:
        counts = {"create": 0, "update": 0, "forget": 0, "run": 0, "publish": 0, "destructive": 0}
        for c in self.changes:
            counts["forget" if c.action == "delete" else c.action] += 1
            if c.destructive:
                counts["destructive"] += 1
        return counts

    def change(self, address: str) -> Change | None:
        for c in self.changes:
            if c.address == address:
                return c
        return None

    def body_json(self) -> dict[str, Any]:
        """Everything but the plan id (which is a hash of this)."""
        return {
            "format_version": self.format_version,
            "spec": {
                "name": self.spec_name,
                "path": self.spec_path,
                "sha256": self.spec_sha256,
                "rendered_sha256": self.rendered_sha256,
            },
            "environment": self.environment,
            "state": {"lineage": self.lineage, "serial": self.serial},
            "options": dict(self.options),
            "changes": [c.to_json() for c in self.changes],
            "drift": [d.to_json() for d in self.drift],
            "pulled_in": list(self.pulled_in),
            "summary": self.summary(),
        }

    @property
    def plan_id(self) -> str:
        blob = json.dumps(self.body_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {**self.body_json(), "plan_id": self.plan_id}

    def dumps(self) -> str:
        """The canonical, deterministic JSON text of the plan."""
        return json.dumps(self.to_json(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Plan:
        spec = d["spec"]
        state = d["state"]
        return cls(
            spec_name=spec["name"],
            spec_path=spec["path"],
            spec_sha256=spec["sha256"],
            rendered_sha256=spec.get("rendered_sha256", ""),
            environment=d["environment"],
            lineage=state.get("lineage"),
            serial=int(state.get("serial", 0)),
            changes=tuple(Change.from_json(c) for c in d.get("changes", ())),
            drift=tuple(Drift.from_json(x) for x in d.get("drift", ())),
            options=d.get("options", {}),
            pulled_in=tuple(d.get("pulled_in", ())),
            format_version=d["format_version"],
        )
