"""A stand-in for the Trifacta service that answers only what the API description allows.

Registered on a ``responses`` mock (unregistered calls fail): every request is validated
against runner/platforms/trifacta/openapi.json before it is answered (an invalid one is
recorded in ``invalid`` and answered 400), and every answer is validated too. It keeps
connections, recipes, output objects with their write settings and publications, and job
groups whose jobs move on as they are polled:

- a job group is ``InProgress`` for ``transform_polls`` status polls, then ``Complete``;
- its publish jobs (one per publication of the output object when it ran, one per
  ``PUT .../publish``) stay ``InProgress`` for ``publish_polls`` polls of its jobs, then
  end ``Complete`` (writing ``<table>_<timestamp>`` for create/createAndLoad) or, while
  ``fail_publish`` is set, ``Failed`` with that message;
- ``PUT .../publish`` answers the job group's own id (31 -> 31) and leaves its status at
  ``Complete`` while the publish job runs.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import requests
import responses

from tests.trifacta.openapi_check import make_response, request_errors, response_errors

Answer = tuple[int, Any]
STAMP = "2026-12-01T08:00:00.000Z"


def error(status: int, name: str, message: str) -> Answer:
    return status, {"exception": {"name": name, "message": message, "details": ""}}


@dataclass
class Group:
    id: int
    dataset: int
    execution_id: str | None
    jobs: list[dict[str, Any]]
    publications: list[dict[str, Any]]
    files: list[dict[str, Any]]
    tables: list[dict[str, Any]] = field(default_factory=list)
    status_polls: int = 0
    job_polls: int = 0
    publish_from: dict[int, int] = field(default_factory=dict)  # job id -> job poll it ends
    pending: dict[int, dict[str, Any]] = field(default_factory=dict)  # job id -> publication


class FakeTrifacta:
    def __init__(self, rsps: responses.RequestsMock, base: str) -> None:
        self.base = base
        self.rsps = rsps
        self.invalid: list[str] = []
        self.seen: list[tuple[str, str, Any]] = []
        self.ids = iter(range(100, 100000))
        self.transform_polls = 2
        self.publish_polls = 2
        self.fail_publish: str | None = None
        #: while set, a testMode run is refused with this message
        self.refuse_test: str | None = None
        #: while set, the transform job fails with this message (its publish jobs never start)
        self.fail_transform: str | None = None
        #: (method, url regex): answers lost once each after the service acted
        self.lose: list[tuple[str, str]] = []
        #: extra fields on each job group of the job library (e.g. an echoed execution id)
        self.library_echo: str | None = None
        self.stamp = 1764576000
        self.connections: dict[int, dict[str, Any]] = {
            2: {
                "id": 2,
                "uuid": "c2",
                "name": "redshift",
                "vendor": "redshift",
                "vendorName": "redshift",
                "type": "jdbc",
                "credentialType": "iamRoleArn",
                "host": "rs.example.com",
                "port": 5439,
                "params": {"database": "dev"},
                "createdAt": STAMP,
                "updatedAt": STAMP,
            }
        }
        self.datasets: dict[int, dict[str, Any]] = {
            28629: {
                "id": 28629,
                "name": "job2",
                "wrangled": True,
                "flow": {"id": 7},
                "updatedAt": STAMP,
            }
        }
        self.output_objects: dict[int, dict[str, Any]] = {}
        self.write_settings: dict[int, dict[str, Any]] = {}
        self.publications: dict[int, dict[str, Any]] = {}
        self.groups: dict[int, Group] = {}
        self.executions: dict[str, int] = {}
        self._routes()

    # --- setup helpers ---------------------------------------------------------------
    def add_output_object(self, dataset: int, formats: tuple[str, ...] = ("avro",)) -> int:
        oid = next(self.ids)
        self.output_objects[oid] = {
            "id": oid,
            "execution": "photon",
            "profiler": False,
            "flownode": {"id": dataset},
            "createdAt": STAMP,
            "updatedAt": STAMP,
        }
        for fmt in formats:
            self._write_setting(
                {
                    "path": f"s3://bucket/out/job{dataset}.{fmt}",
                    "action": "create",
                    "format": fmt,
                    "outputObjectId": oid,
                }
            )
        return oid

    def add_publication(self, oid: int, **fields: Any) -> int:
        return self._publication({**fields, "outputObjectId": oid})

    def calls(self, method: str, pattern: str = "") -> list[tuple[str, str, Any]]:
        return [s for s in self.seen if s[0] == method and re.search(pattern, s[1])]

    # --- routing ---------------------------------------------------------------------
    def _routes(self) -> None:
        table: list[tuple[str, str, Callable[..., Answer]]] = [
            ("GET", r"/v4/connections", self._list_connections),
            ("POST", r"/v4/connections", self._create_connection),
            ("GET", r"/v4/connections/(\d+)", self._get_connection),
            ("GET", r"/v4/connections/(\d+)/status", lambda cid: (200, {"result": "SUCCESS"})),
            ("GET", r"/v4/wrangledDatasets/(\d+)", self._get_dataset),
            ("GET", r"/v4/outputObjects", self._list_output_objects),
            ("POST", r"/v4/outputObjects", self._create_output_object),
            ("GET", r"/v4/outputObjects/(\d+)", self._get_output_object),
            ("POST", r"/v4/writeSettings", lambda: (201, self._write_setting(self.body))),
            (
                "POST",
                r"/v4/publications",
                lambda: (201, self.publications[self._publication(self.body)]),
            ),
            ("PATCH", r"/v4/publications/(\d+)", self._patch_publication),
            ("DELETE", r"/v4/publications/(\d+)", self._delete_publication),
            ("POST", r"/v4/jobGroups", self._run),
            ("GET", r"/v4/jobGroups/(\d+)/status", self._status),
            ("GET", r"/v4/jobGroups/(\d+)/jobs", self._jobs),
            (
                "GET",
                r"/v4/jobGroups/(\d+)/outputs",
                lambda gid: (
                    200,
                    {"files": self.groups[int(gid)].files, "tables": self.groups[int(gid)].tables},
                ),
            ),
            (
                "GET",
                r"/v4/jobGroups/(\d+)/publications",
                lambda gid: (
                    200,
                    {
                        "data": self.groups[int(gid)].publications,
                        "count": len(self.groups[int(gid)].publications),
                    },
                ),
            ),
            (
                "POST",
                r"/v4/jobGroups/(\d+)/cancel",
                lambda gid: (200, {"jobIds": [], "jobgroupId": int(gid)}),
            ),
            ("PUT", r"/v4/jobGroups/(\d+)/publish", self._publish),
            ("GET", r"/v4/jobLibrary", self._library),
        ]
        for method, path, handler in table:
            pattern = re.compile(re.escape(self.base) + path + r"(\?.*)?$")
            self.rsps.add_callback(method, pattern, callback=self._wrap(path, handler))

    def _wrap(
        self, path: str, handler: Callable[..., Answer]
    ) -> Callable[[requests.PreparedRequest], tuple[int, dict[str, str], str]]:
        def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
            url = str(request.url)
            body = json.loads(request.body) if request.body else None
            self.seen.append((str(request.method), url[len(self.base) :], body))
            problems = request_errors(self.base, request)
            if problems:
                self.invalid += [f"{request.method} {url}: {p}" for p in problems]
                status, answer = error(400, "ValidationFailed", "; ".join(problems))
            else:
                self.body, self.request = body, request
                match = re.match(re.escape(self.base) + path + r"(\?.*)?$", url)
                assert match is not None
                args = [g for g in match.groups()[:-1]]
                status, answer = handler(*args)
            lost = next(
                (x for x in self.lose if x[0] == request.method and re.search(x[1], url)), None
            )
            if lost is not None:  # the service acted, the answer never arrives
                self.lose.remove(lost)
                raise requests.ConnectionError("connection lost after the request was sent")
            response = make_response(status, answer)
            self.invalid += [
                f"{request.method} {url}: answer: {p}"
                for p in response_errors(self.base, request, response)
            ]
            text = "" if answer is None else json.dumps(answer)
            return status, {"Content-Type": "application/json"} if text else {}, text

        return callback

    # --- connections and recipes ---------------------------------------------------------
    def _list_connections(self) -> Answer:
        name = dict(parse_qsl(str(self.request.url).partition("?")[2])).get("filter")
        data = [c for c in self.connections.values() if name is None or name in c["name"]]
        return 200, {"data": data, "count": len(data)}

    def _create_connection(self) -> Answer:
        cid = next(self.ids)
        body = {k: v for k, v in self.body.items() if k != "credentials"}
        self.connections[cid] = {
            **body,
            "id": cid,
            "uuid": f"c{cid}",
            "createdAt": STAMP,
            "updatedAt": STAMP,
        }
        return 201, self.connections[cid]

    def _get_connection(self, cid: str) -> Answer:
        found = self.connections.get(int(cid))
        return (200, found) if found else error(404, "NotFound", f"no connection {cid}")

    def _get_dataset(self, did: str) -> Answer:
        found = self.datasets.get(int(did))
        return (200, found) if found else error(404, "NotFound", f"no wrangledDataset {did}")

    # --- output objects ------------------------------------------------------------------
    def _list_output_objects(self) -> Answer:
        data = list(self.output_objects.values())
        return 200, {"data": data, "count": len(data)}

    def _create_output_object(self) -> Answer:
        dataset = self.body.get("flowNodeId")
        if any(o["flownode"]["id"] == dataset for o in self.output_objects.values()):
            return error(400, "ValidationFailed", f"recipe {dataset} has an output object already")
        oid = self.add_output_object(int(dataset), ())
        for ws in self.body.get("writeSettings", []):
            self._write_setting({**ws, "outputObjectId": oid})
        for pub in self.body.get("publications", []):
            self._publication({**pub, "outputObjectId": oid})
        return 201, self.output_objects[oid]

    def _children(self, store: dict[int, dict[str, Any]], oid: int) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in x.items() if k != "_oid"} for x in store.values() if x["_oid"] == oid
        ]

    def _get_output_object(self, oid: str) -> Answer:
        found = self.output_objects.get(int(oid))
        if found is None:
            return error(404, "NotFound", f"no outputObject {oid}")
        out = dict(found)
        if "writeSettings" in str(self.request.url):
            out["writeSettings"] = {"data": self._children(self.write_settings, int(oid))}
            out["publications"] = {"data": self._children(self.publications, int(oid))}
        return 200, out

    def _write_setting(self, body: dict[str, Any]) -> dict[str, Any]:
        wid = next(self.ids)
        fields = {k: v for k, v in body.items() if k != "outputObjectId"}
        self.write_settings[wid] = {
            **fields,
            "id": wid,
            "_oid": body.get("outputObjectId"),
            "createdAt": STAMP,
            "updatedAt": STAMP,
        }
        return {k: v for k, v in self.write_settings[wid].items() if k != "_oid"}

    def _publication(self, body: dict[str, Any]) -> int:
        pid = next(self.ids)
        self.publications[pid] = {
            "id": pid,
            "path": body["path"],
            "tableName": body["tableName"],
            "targetType": body["targetType"],
            "action": body["action"],
            "connection": {"id": int(body["connectionId"])},
            "_oid": body.get("outputObjectId"),
            "createdAt": STAMP,
            "updatedAt": STAMP,
        }
        return pid

    def _patch_publication(self, pid: str) -> Answer:
        found = self.publications.get(int(pid))
        if found is None:
            return error(404, "NotFound", f"no publication {pid}")
        found.update(self.body)
        return 200, {"id": int(pid), "updatedAt": STAMP}

    def _delete_publication(self, pid: str) -> Answer:
        if self.publications.pop(int(pid), None) is None:
            return error(404, "NotFound", f"no publication {pid}")
        return 204, None

    # --- job groups ----------------------------------------------------------------------
    def _publish_job(self, group: Group, pub: dict[str, Any]) -> None:
        jid = next(self.ids)
        group.jobs.append(
            {"id": jid, "status": "InProgress", "jobType": "publish", "jobGroup": {"id": group.id}}
        )
        group.publish_from[jid] = group.job_polls + self.publish_polls
        group.pending[jid] = pub

    def _run(self) -> Answer:
        dataset = int(self.body["wrangledDataset"]["id"])
        if dataset not in self.datasets:
            return error(400, "ValidationFailed", f"no recipe {dataset}")
        if self.body.get("testMode"):
            if self.refuse_test:
                return error(400, "ValidationFailed", self.refuse_test)
            return 201, {"reason": "JobValidated", "sessionId": "test"}
        key = self.request.headers.get("x-execution-id")
        if key is not None and key in self.executions:
            return 304, None
        gid = next(self.ids)
        oid = next(
            (o["id"] for o in self.output_objects.values() if o["flownode"]["id"] == dataset), None
        )
        files = [
            {"uri": w["path"], "fileType": "FILE", "isPrimaryOutput": True}
            for w in self.write_settings.values()
            if oid is not None and w["_oid"] == oid
        ]
        for ws in (self.body.get("overrides") or {}).get("writesettings", []):
            files.append({"uri": ws["path"], "fileType": "FILE", "isPrimaryOutput": True})
        pubs = self._children(self.publications, oid) if oid is not None else []
        wrangle = {
            "id": next(self.ids),
            "status": "InProgress",
            "jobType": "wrangle",
            "jobGroup": {"id": gid},
        }
        group = Group(gid, dataset, key, [wrangle], copy.deepcopy(pubs), files)
        self.groups[gid] = group
        for pub in pubs:
            self._publish_job(group, pub)
        if key is not None:
            self.executions[key] = gid
        return 201, {
            "id": gid,
            "reason": "JobStarted",
            "sessionId": f"s{gid}",
            "jobs": {"data": [{"id": j["id"]} for j in group.jobs]},
        }

    def _library(self) -> Answer:
        data = []
        for group in sorted(self.groups.values(), key=lambda g: -g.id):
            item: dict[str, Any] = {
                "id": group.id,
                "ranfrom": "api",
                "createdAt": STAMP,
                "updatedAt": STAMP,
                "wrangledDataset": {"id": group.dataset},
            }
            if self.library_echo is not None:
                item[self.library_echo] = group.execution_id
            data.append(item)
        return 200, {"data": data, "count": len(data)}

    def _status(self, gid: str) -> Answer:
        group = self.groups[int(gid)]
        group.status_polls += 1
        done = group.status_polls > self.transform_polls
        if done and self.fail_transform:
            group.jobs[0].update(status="Failed", errorMessage=self.fail_transform)
            for job in group.jobs[1:]:
                job["status"] = "Created"
                group.publish_from.pop(job["id"], None)
            return 200, "Failed"
        if done:
            group.jobs[0]["status"] = "Complete"
        return 200, "Complete" if done else "InProgress"

    def _jobs(self, gid: str) -> Answer:
        group = self.groups[int(gid)]
        group.job_polls += 1
        for job in group.jobs:
            end = group.publish_from.get(job["id"])
            if end is None or job["status"] != "InProgress" or group.job_polls < end:
                continue
            if group.jobs[0]["status"] != "Complete":
                continue
            if self.fail_publish:
                job.update(status="Failed", errorMessage=self.fail_publish)
                continue
            job["status"] = "Complete"
            pub = group.pending[job["id"]]
            name = pub["tableName"]
            if pub["action"] in ("create", "createAndLoad"):
                self.stamp += 1
                name = f"{name}_{self.stamp}"
            conn = self.connections.get(int(pub["connection"]["id"]), {})
            group.tables.append(
                {
                    "vendor": conn.get("vendor", "?"),
                    "databaseConnectString": "jdbc://x",
                    "relationalPath": list(pub["path"]),
                    "table": name,
                    "action": pub["action"],
                }
            )
        return 200, {"data": group.jobs, "count": len(group.jobs)}

    def _publish(self, gid: str) -> Answer:
        group = self.groups.get(int(gid))
        if group is None:
            return error(404, "NotFound", f"no job group {gid}")
        pub = {
            "id": next(self.ids),
            "path": self.body["path"],
            "tableName": self.body["table"],
            "targetType": self.connections[int(self.body["connection"]["id"])]["vendor"],
            "action": self.body["action"],
            "connection": {"id": int(self.body["connection"]["id"])},
            "createdAt": STAMP,
            "updatedAt": STAMP,
        }
        group.publications.append(pub)
        self._publish_job(group, pub)
        return 200, {"jobgroupId": group.id, "reason": "JobStarted", "sessionId": f"p{gid}"}
