"""Request bodies of the Trifacta API v4, built from the spec (see trifacta-api.md).

Every builder takes ``masked``: with it, secrets become ``***`` (for plans), without it
they are revealed (for the request itself). Nothing here talks to the network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runner.spec.model import Connection, Job, Target
from runner.spec.secrets import MASK, Secret

#: vendors a connection can be created for through POST /v4/connections (S6: postgres,
#: sqlserver, hive examples; mysql is a JDBC vendor of the platform). Redshift: "Create via
#: API: N" (S1/S2); sqlite is not a Trifacta connection type at all.
CREATABLE_VENDORS: frozenset[str] = frozenset({"postgres", "mysql"})
#: spec params that map onto documented body fields rather than connectStrOpts
KNOWN_PARAMS: frozenset[str] = frozenset({"connectStrOpts", "ssl", "sslmode"})
_SSL_MODES = frozenset({"require", "verify-ca", "verify-full"})

JOB_GROUPS = "/v4/jobGroups"
#: the API spells Parquet ``pqt`` (S1, S3 externalFileFormats)
API_FORMATS: dict[str, str] = {"parquet": "pqt"}


def plain(value: Any, *, masked: bool) -> Any:
    """``value`` with every Secret revealed, or replaced by the mask."""
    if isinstance(value, Secret):
        return MASK if masked else value.reveal()
    if isinstance(value, Mapping):
        return {str(k): plain(v, masked=masked) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, masked=masked) for v in value]
    return value


def _ssl(params: Mapping[str, Any]) -> bool:
    ssl = params.get("ssl")
    if isinstance(ssl, bool):
        return ssl
    if isinstance(ssl, str):
        return ssl.strip().lower() in ("true", "1", "yes")
    mode = params.get("sslmode")
    return isinstance(mode, str) and mode.strip().lower() in _SSL_MODES


def connection_body(connection: Connection, *, masked: bool) -> dict[str, Any]:
    """The documented relational body of ``POST /v4/connections`` (S6)."""
    vendor = connection.vendor or ""
    password = connection.password
    return {
        "name": connection.name,
        "description": connection.description or "",
        "vendor": vendor,
        "vendorName": vendor,
        "type": "jdbc",
        "host": connection.host,
        "port": connection.port,
        "params": {
            "database": connection.database,
            "connectStrOpts": plain(connection.params.get("connectStrOpts", ""), masked=masked),
        },
        "ssl": _ssl(connection.params),
        "credentialType": "basic",
        "credentials": [
            {
                "username": connection.username,
                "password": plain(password, masked=masked) if password is not None else None,
            }
        ],
    }


def run_parameters(values: Mapping[str, Any], *, masked: bool) -> dict[str, Any]:
    """A spec mapping ``{country: Germany}`` as the API's ``runParameters``."""
    data = [{"key": str(k), "value": plain(v, masked=masked)} for k, v in values.items()]
    return {"overrides": {"data": data}}


def override_publication(target: Target, vendor: str, connection_id: int | None) -> dict[str, Any]:
    """One entry of ``overrides.publications`` ("publish with overrides").

    UNCERTAIN SHAPE: no retrieved example shows publications inside a job run's overrides
    (trifacta-api.md §2 [U]); the field names are those of the documented Publication
    object (``POST /v4/publications``: path, tableName, targetType, action, connectionId).
    This function is the only place that knows the shape: fix it here if the API differs.
    """
    return {
        "path": list(target.path),
        "tableName": target.table,
        "action": target.action,
        "targetType": vendor,
        "connectionId": connection_id,
    }


def job_body(
    job: Job,
    *,
    masked: bool,
    publications: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The body of ``POST /v4/jobGroups`` (S3 LRunJobRequest, S4).

    Empty ``overrides`` / ``runParameters`` are left out: the minimal documented body is
    ``{"wrangledDataset": {"id": N}}``, and some editions refuse overrides altogether.
    """
    body: dict[str, Any] = {"wrangledDataset": {"id": job.wrangledDataset}}
    overrides: dict[str, Any] = plain(dict(job.overrides), masked=masked)
    if publications:
        existing = overrides.get("publications")
        merged = list(existing) if isinstance(existing, list) else []
        overrides["publications"] = merged + [dict(p) for p in publications]
    if overrides:
        body["overrides"] = overrides
    if job.runParameters:
        body["runParameters"] = run_parameters(job.runParameters, masked=masked)
    body["ranfrom"] = "api"
    return body


def publish_body(
    target: Target, connection_id: int | None, flow_node_id: int | None
) -> dict[str, Any]:
    """The body of ``PUT /v4/jobGroups/{id}/publish``, keys in the documented order (S1)."""
    return {
        "connection": {"id": connection_id},
        "path": list(target.path),
        "table": target.table,
        "action": target.action,
        "inputFormat": API_FORMATS.get(target.inputFormat, target.inputFormat),
        "flowNodeId": flow_node_id,
    }
