"""Plan errors for what the Trifacta docs forbid (each names the address and the fix).

Rules and their sources (see shared/reference/trifacta-api.md):

- Redshift connections cannot be created through the API (S1/S2 "Create via API: N").
- Only relational JDBC vendors of the platform can be created here; sqlite is not one.
- A target publishes one of the formats its job writes (``inputFormat`` in ``outputs``).
- Redshift needs Avro results (S2: required output format for Redshift = Avro).
- The running environment must write the format: Photon and Spark write CSV, JSON, Avro
  and Parquet only ("Running Environment Options", docs.trifacta.com r050/r071). So
  ``hyper`` cannot come from a run whose ``overrides.execution`` is photon or spark.
- ``upsert`` needs a key, and ``PUT /v4/jobGroups/{id}/publish`` has no key field (S1).
- ``via: publish`` calls ``PUT /v4/jobGroups/{id}/publish``: only on releases whose pages
  document it (``platform.release``), and only to the targets they name (Hive, Redshift).
- ``overrides.publications`` has no documented shape: refused (targets are publications
  of the output object instead).

Whether a connection can be written is not in the connection model the API documents,
so it is not checked here: a publish to a read-only connection fails with the service's
message.

"Publishing the same results to the same target twice" (S2) is the planner's rule,
enforced from state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from runner.platforms.trifacta.api import CREATABLE_VENDORS, KNOWN_PARAMS
from runner.platforms.trifacta.releases import PUBLISH, PUBLISH_VENDORS, documents
from runner.platforms.trifacta.releases import where as releases_of
from runner.spec.model import Connection, Job, Spec, Target

Describe = Callable[[int], Mapping[str, Any] | None]

#: formats each running environment writes ("Running Environment Options", r050/r071)
ENGINE_FORMATS: Mapping[str, frozenset[str]] = {
    "photon": frozenset({"csv", "json", "avro", "parquet", "pqt"}),
    "spark": frozenset({"csv", "json", "avro", "parquet", "pqt"}),
}


def redshift_message(name: str) -> str:
    return (
        f"connection.{name}: Redshift connections cannot be created through the API; "
        "create it in the application and adopt it with `id: N`"
    )


def check_connection_spec(connection: Connection) -> list[str]:
    if connection.adopted:
        return []
    where = connection.address
    if connection.vendor == "redshift":
        return [redshift_message(connection.name)]
    if connection.vendor not in CREATABLE_VENDORS:
        return [
            f"{where}: vendor {connection.vendor} is not a Trifacta connection type; use "
            f"one of {', '.join(sorted(CREATABLE_VENDORS))}, or adopt a connection made in "
            "the application with `id: N`"
        ]
    problems = []
    missing = [
        key
        for key in ("host", "port", "database", "username", "password")
        if getattr(connection, key) in (None, "")
    ]
    if missing:
        problems.append(
            f"{where}: {', '.join(missing)} needed to create it through the API "
            "(or adopt an existing connection with `id: N`)"
        )
    for key in sorted(set(connection.params) - KNOWN_PARAMS):
        problems.append(
            f"{where}: params.{key} is not supported on the trifacta platform; put driver "
            "options in params.connectStrOpts"
        )
    return problems


def _vendor(
    connection: Connection, describe: Describe | None, problems: list[str], seen: set[int]
) -> str | None:
    if not connection.adopted:
        return connection.vendor
    if describe is None or connection.id is None:
        return connection.vendor
    info = describe(connection.id)
    if info is None:
        if connection.id not in seen:
            problems.append(
                f"{connection.address}: connection {connection.id} does not exist "
                f"(GET /v4/connections/{connection.id} answered 404); check the id"
            )
        seen.add(connection.id)
        return connection.vendor
    seen.add(connection.id)
    vendor = info.get("vendor")
    return str(vendor) if vendor else connection.vendor


def check_target(spec: Spec, target: Target, vendor: str | None) -> list[str]:
    where = target.address
    problems = []
    job = spec.jobs.get(target.job)
    if job is not None:
        if target.input_format not in job.outputs:
            problems.append(
                f"{where}: inputFormat {target.input_format} is not written by job.{job.name} "
                f"(outputs: {', '.join(job.outputs)}); add it to the job's outputs or "
                "publish one of those"
            )
        engine = job.execution or job.overrides.get("execution")
        formats = ENGINE_FORMATS.get(str(engine)) if engine is not None else None
        if formats is not None and target.input_format not in formats:
            problems.append(
                f"{where}: the {engine} running environment does not write "
                f"{target.input_format} results (it writes {', '.join(sorted(formats))}); "
                f"change job.{job.name}.overrides.execution or the inputFormat"
            )
    if vendor == "redshift" and target.input_format != "avro":
        problems.append(
            f"{where}: publishing to Redshift needs Avro results; set inputFormat: avro "
            "(and avro in the job's outputs)"
        )
    if target.via == "publish":
        problems += _publish_path(spec, target, vendor)
    return problems


def _publish_path(spec: Spec, target: Target, vendor: str | None) -> list[str]:
    at = target.address
    if not documents(spec.platform.release, PUBLISH):
        return [
            f"{at}: via: publish calls {PUBLISH}, documented for {releases_of(PUBLISH)} (this spec "
            f"says platform.release: {spec.platform.release}); use via: outputObject, or set "
            "platform.release to the on-prem release of the service"
        ]
    problems = []
    if vendor is not None and vendor not in PUBLISH_VENDORS:
        problems.append(
            f"{at}: {PUBLISH} publishes to {' and '.join(sorted(PUBLISH_VENDORS))} only (the "
            f"release pages), not {vendor}; use via: outputObject"
        )
    if target.action == "upsert":
        problems.append(
            f"{at}: action upsert needs a key, which {PUBLISH} cannot carry; use another "
            "action, or via: outputObject"
        )
    return problems


def check_job(job: Job) -> list[str]:
    problems = []
    if job.wrangled_dataset is None:
        problems.append(
            f"{job.address}: wrangledDataset (the recipe id to run) is required on the "
            "trifacta platform"
        )
    given = job.overrides.get("execution")
    if job.execution is not None and given is not None and given != job.execution:
        problems.append(
            f"{job.address}: execution is {job.execution} and overrides.execution is {given}; "
            "give the running environment once"
        )
    if "publications" in job.overrides:
        problems.append(
            f"{job.address}: overrides.publications has no documented shape and is not sent; "
            "declare each table as a target (via: outputObject makes it a publication of "
            "the recipe's output object)"
        )
    return problems


def check_spec(spec: Spec, describe: Describe | None = None) -> list[str]:
    """Every plan error this platform knows about; ``describe`` reads adopted connections."""
    problems: list[str] = []
    if not spec.platform.url:
        problems.append("platform.url: required for platform type trifacta")
    if spec.platform.token is None:
        problems.append("platform.token: required for platform type trifacta: secret('NAME')")
    for connection in spec.connections.values():
        problems += check_connection_spec(connection)
    for job in spec.jobs.values():
        problems += check_job(job)
    seen: set[int] = set()
    vendors: dict[str, str | None] = {}
    for target in spec.targets.values():
        used = spec.connections.get(target.connection)
        if used is None:
            continue
        if used.name not in vendors:
            vendors[used.name] = _vendor(used, describe, problems, seen)
        problems += check_target(spec, target, vendors[used.name])
    return problems
