"""Request bodies of the Trifacta API v4 (see openapi.json beside this module).

Every builder that may carry a secret takes ``masked``: with it, secrets become ``***``
(for plans), without it they are revealed (for the request itself). Nothing here talks
to the network.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
OUTPUT_OBJECTS = "/v4/outputObjects"
WRITE_SETTINGS = "/v4/writeSettings"
PUBLICATIONS = "/v4/publications"
#: the API spells Parquet ``pqt`` (S1, S3 externalFileFormats)
API_FORMATS: dict[str, str] = {"parquet": "pqt"}
#: engines an output object may name (enum of the output object's ``execution``)
OUTPUT_OBJECT_ENGINES: frozenset[str] = frozenset({"photon", "amp", "xml-amp", "emrSpark"})
#: the engine of an output object the runner creates when the job names none
DEFAULT_ENGINE = "photon"
_EXTENSION = re.compile(r"\.(csv|json|avro|pqt|parquet|hyper)(\.(gz|bz2))?$", re.IGNORECASE)


def api_format(fmt: str) -> str:
    return API_FORMATS.get(fmt, fmt)


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


def job_body(job: Job, *, masked: bool, test_mode: bool = False) -> dict[str, Any]:
    """The body of ``POST /v4/jobGroups`` (LRunJobRequest).

    Empty ``overrides`` / ``runParameters`` are left out: the minimal documented body is
    ``{"wrangledDataset": {"id": N}}``, and some editions refuse overrides altogether.
    ``execution`` goes where the documented example puts it, ``overrides.execution``.
    """
    body: dict[str, Any] = {"wrangledDataset": {"id": job.wrangled_dataset}}
    overrides: dict[str, Any] = plain(dict(job.overrides), masked=masked)
    if job.execution is not None:
        overrides["execution"] = job.execution
    if overrides:
        body["overrides"] = overrides
    if job.run_parameters:
        body["runParameters"] = run_parameters(job.run_parameters, masked=masked)
    if job.force_cache_update is not None:
        body["forceCacheUpdate"] = job.force_cache_update
    if job.ignore_recipe_errors is not None:
        body["ignoreRecipeErrors"] = job.ignore_recipe_errors
    if test_mode:
        body["testMode"] = True
    body["ranfrom"] = "api"
    return body


def override_write_settings(job: Job) -> list[Mapping[str, Any]] | None:
    """The run's ``writesettings`` override (either documented spelling), or None."""
    for key in ("writesettings", "writeSettings"):
        value = job.overrides.get(key)
        if isinstance(value, list):
            return [w for w in value if isinstance(w, Mapping)]
    return None


def publication_body(
    target: Target, target_type: str, connection_id: Any, output_object_id: Any
) -> dict[str, Any]:
    """The body of ``POST /v4/publications`` for ``target`` (PublicationCreateRequest)."""
    body: dict[str, Any] = {
        "path": list(target.path),
        "tableName": target.table,
        "targetType": target_type,
        "action": target.action,
        "connectionId": connection_id if isinstance(connection_id, str) else str(connection_id),
    }
    if output_object_id is not None:
        body["outputObjectId"] = output_object_id
    return body


def sibling_path(path: str, fmt: str) -> str:
    """``path`` of another file output with its extension changed to ``fmt``."""
    ext = api_format(fmt)
    if _EXTENSION.search(path):
        return _EXTENSION.sub(f".{ext}", path)
    return f"{path.rstrip('/')}.{ext}"


def write_setting_body(path: str, fmt: str, output_object_id: Any) -> dict[str, Any]:
    """The body of ``POST /v4/writeSettings``: a new file output in ``fmt``."""
    body: dict[str, Any] = {"path": path, "action": "create", "format": api_format(fmt)}
    if output_object_id is not None:
        body["outputObjectId"] = output_object_id
    return body


def output_object_engine(job: Job) -> str:
    engine = job.execution or job.overrides.get("execution")
    return str(engine) if engine in OUTPUT_OBJECT_ENGINES else DEFAULT_ENGINE


def publish_body(
    target: Target, connection_id: int | None, flow_node_id: int | None
) -> dict[str, Any]:
    """The body of ``PUT /v4/jobGroups/{id}/publish``, keys in the documented order (S1)."""
    return {
        "connection": {"id": connection_id},
        "path": list(target.path),
        "table": target.table,
        "action": target.action,
        "inputFormat": api_format(target.input_format),
        "flowNodeId": flow_node_id,
    }
