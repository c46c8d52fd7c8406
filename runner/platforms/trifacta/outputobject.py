"""A recipe's output object, managed like any other resource.

The output object of a recipe (one per recipe) holds its file outputs (``writeSettings``)
and its table outputs (``publications``); running the recipe's job group writes every
one of them. With ``via: outputObject`` each target is a publication of it. Plan reads
it (``GET /v4/outputObjects`` to find the recipe's, then
``GET /v4/outputObjects/{id}?embed=writeSettings,publications``) and works out the calls
that make it match the spec:

- the output object itself: created when the recipe has none (``POST /v4/outputObjects``);
- a file output in each format a target publishes, unless one exists or the job's
  ``overrides.writesettings`` gives the run's outputs (``POST /v4/writeSettings``, the
  path taken from an existing file output with the extension changed);
- a publication per target: created, changed field by field (``PATCH``) or, when the
  spec no longer has it, deleted (``DELETE /v4/publications/{id}``).

Apply reads it again and makes the calls that are still needed, in that order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runner.platforms.base import ApiCall
from runner.platforms.trifacta.api import (
    OUTPUT_OBJECTS,
    PUBLICATIONS,
    WRITE_SETTINGS,
    api_format,
    output_object_engine,
    override_write_settings,
    publication_body,
    sibling_path,
    write_setting_body,
)
from runner.platforms.trifacta.client import TrifactaClient
from runner.platforms.trifacta.outputs import items
from runner.spec.model import Job, Target

PAGE_LIMIT = 100
MAX_PAGES = 100
EMBED = "writeSettings,publications"
#: the fields of a publication a target decides (PublicationUpdateRequest)
MANAGED_FIELDS = ("path", "tableName", "targetType", "action")


@dataclass(frozen=True)
class Rider:
    """A target published by the job group's run, with what its publication needs."""

    target: Target
    target_type: str
    connection_id: Any  # the remote id, or a {connection.NAME.id} placeholder


@dataclass(frozen=True)
class Current:
    """The recipe's output object as the service holds it now."""

    id: int
    write_settings: tuple[dict[str, Any], ...]
    publications: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Step:
    """One call that makes the output object match the spec."""

    kind: str  # outputObject | writeSetting | publication
    change: str  # create | update | delete
    method: str
    path: str
    body: Any = None
    target: str | None = None
    remote_id: Any = None
    diff: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def call(self) -> ApiCall:
        return ApiCall(self.method, self.path, self.body)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"change": self.change}
        if self.target:
            out["target"] = self.target
        if self.remote_id is not None:
            out["id"] = self.remote_id
        if self.diff:
            out["diff"] = {k: dict(v) for k, v in self.diff.items()}
        elif isinstance(self.body, dict):
            out["fields"] = {k: v for k, v in self.body.items() if k != "writeSettings"}
        return out


def placeholder(job: Job) -> str:
    return f"{{outputObject.{job.name}.id}}"


def _id(value: Any) -> Any:
    if isinstance(value, Mapping):
        value = value.get("id")
    return None if value is None else str(value)


def find(client: TrifactaClient, wrangled_dataset: int) -> Current | None:
    """The output object of recipe ``wrangled_dataset`` with its outputs, or None."""
    found = None
    for page in range(MAX_PAGES):
        params = {"limit": PAGE_LIMIT, "offset": page * PAGE_LIMIT}
        data = items(client.json("GET", OUTPUT_OBJECTS, params=params))
        found = next((o for o in data if _id(o.get("flownode")) == str(wrangled_dataset)), None)
        if found is not None or len(data) < PAGE_LIMIT:
            break
    if found is None:
        return None
    oid = int(found["id"])
    full = client.json("GET", f"{OUTPUT_OBJECTS}/{oid}", params={"embed": EMBED})
    return Current(
        id=oid,
        write_settings=tuple(items(full, "writeSettings")),
        publications=tuple(items(full, "publications")),
    )


def _formats_step(
    job: Job, current: Current | None, formats: Sequence[str], oid: Any
) -> tuple[list[Step], list[str]]:
    """File outputs to add so the run writes each format a target publishes."""
    given = override_write_settings(job)
    existing = given if given is not None else list(current.write_settings if current else ())
    have = {api_format(str(w.get("format"))) for w in existing}
    missing = sorted({api_format(f) for f in formats} - have)
    if not missing:
        return [], []
    where = (
        f"{job.address}.overrides.writesettings"
        if given is not None
        else f"the output object of recipe {job.wrangled_dataset}"
    )
    paths = [str(w["path"]) for w in existing if w.get("path")]
    if given is not None or not paths:
        return [], [
            f"{job.address}: the run writes no {', '.join(missing)} results ({where} has no "
            f"such file output) and no folder is known to add one; add a {missing[0]} output "
            f"to the recipe in the application, or list it in {job.address}.overrides.writesettings"
        ]
    steps = [
        Step(
            "writeSetting",
            "create",
            "POST",
            WRITE_SETTINGS,
            write_setting_body(sibling_path(paths[0], fmt), fmt, oid),
        )
        for fmt in missing
    ]
    return steps, []


def _pub_key(pub: Mapping[str, Any]) -> tuple[Any, Any]:
    connection = pub.get("connection", pub.get("connectionId"))
    return _id(connection), pub.get("tableName")


def _pair(
    riders: Sequence[Rider], pubs: Sequence[dict[str, Any]]
) -> list[tuple[Rider, dict[str, Any] | None]]:
    """Each rider with the existing publication it is (same connection and table, path first)."""
    free = list(pubs)
    pairs: list[tuple[Rider, dict[str, Any] | None]] = []
    for exact in (True, False):
        for rider in riders:
            if any(r is rider for r, _ in pairs):
                continue
            key = (_id(rider.connection_id), rider.target.table)
            match = next(
                (
                    p
                    for p in free
                    if _pub_key(p) == key
                    and (not exact or list(p.get("path") or []) == list(rider.target.path))
                ),
                None,
            )
            if match is not None or not exact:
                pairs.append((rider, match))
                if match is not None:
                    free.remove(match)
    return pairs


def _publication_steps(riders: Sequence[Rider], current: Current | None, oid: Any) -> list[Step]:
    pubs = list(current.publications) if current else []
    creates, updates = [], []
    for rider, existing in _pair(riders, pubs):
        body = publication_body(rider.target, rider.target_type, rider.connection_id, oid)
        address = rider.target.address
        if existing is None:
            creates.append(Step("publication", "create", "POST", PUBLICATIONS, body, address))
            continue
        diff = {
            k: {"from": existing.get(k), "to": body[k]}
            for k in MANAGED_FIELDS
            if existing.get(k) != body[k]
        }
        if diff:
            patch = {k: body[k] for k in diff}
            pid = existing.get("id")
            updates.append(
                Step(
                    "publication",
                    "update",
                    "PATCH",
                    f"{PUBLICATIONS}/{pid}",
                    patch,
                    address,
                    pid,
                    diff,
                )
            )
    kept = {id(p) for _, p in _pair(riders, pubs) if p is not None}
    deletes = [
        Step(
            "publication",
            "delete",
            "DELETE",
            f"{PUBLICATIONS}/{p.get('id')}",
            remote_id=p.get("id"),
            diff={
                "table": {
                    "from": ".".join([*(p.get("path") or []), str(p.get("tableName"))]),
                    "to": None,
                }
            },
        )
        for p in pubs
        if id(p) not in kept
    ]
    return deletes + updates + creates


def reconcile(
    job: Job, current: Current | None, formats: Sequence[str], riders: Sequence[Rider]
) -> tuple[list[Step], list[str]]:
    """The steps that make the recipe's output object match the spec, and plan errors."""
    steps: list[Step] = []
    oid: Any = current.id if current else placeholder(job)
    if current is None:
        steps.append(
            Step(
                "outputObject",
                "create",
                "POST",
                OUTPUT_OBJECTS,
                {
                    "execution": output_object_engine(job),
                    "profiler": False,
                    "flowNodeId": job.wrangled_dataset,
                },
            )
        )
    writes, problems = _formats_step(job, current, formats, oid)
    steps += writes
    if riders:
        steps += _publication_steps(riders, current, oid)
    return steps, problems


def _resolve(value: Any, mark: str, oid: int) -> Any:
    if value == mark:
        return oid
    if isinstance(value, dict):
        return {k: _resolve(v, mark, oid) for k, v in value.items()}
    return value


def apply_steps(client: TrifactaClient, job: Job, steps: Sequence[Step]) -> int | None:
    """Make the calls, in order; returns the output object's id (None: none was needed)."""
    mark = placeholder(job)
    oid: int | None = None
    for step in steps:
        body = _resolve(step.body, mark, oid) if oid is not None else step.body
        answer = client.json(step.method, step.path, body=body)
        if step.kind == "outputObject" and step.change == "create":
            oid = int(answer["id"])
    return oid
