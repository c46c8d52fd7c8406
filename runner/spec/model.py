"""The validated, rendered spec as immutable data.

These are built by :func:`runner.spec.load_spec` after rendering and validation, so
every field here is already checked: names match their patterns, references resolve,
enums hold. String fields that came from ``secret()`` are :class:`Secret` objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from runner.spec.secrets import Secret

Vendor = Literal["sqlite", "postgres", "redshift", "mysql"]
Action = Literal["create", "load", "createAndLoad", "truncateAndLoad", "dropAndLoad", "upsert"]
Format = Literal["avro", "csv", "json", "parquet", "pqt", "hyper"]

ACTIONS: tuple[str, ...] = (
    "create",
    "load",
    "createAndLoad",
    "truncateAndLoad",
    "dropAndLoad",
    "upsert",
)
#: actions that remove or replace rows a table already holds
REPLACING_ACTIONS: frozenset[str] = frozenset({"truncateAndLoad", "dropAndLoad"})
VENDORS: tuple[str, ...] = ("sqlite", "postgres", "redshift", "mysql")
LOCAL_FORMATS: tuple[str, ...] = ("avro", "csv", "json", "parquet")
SPARK_FORMATS: tuple[str, ...] = ("parquet", "pqt")

Value = str | Secret


@dataclass(frozen=True)
class Position:
    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class PlatformConfig:
    """Where jobs run: the `platform` block of a spec (the Platform protocol is in runner.platforms)."""

    type: Literal["local", "trifacta", "spark"] = "local"
    url: str | None = None  # trifacta: the API; spark: sc://HOST:PORT/;params (secrets masked)
    token: Secret | None = None
    #: trifacta only: allow plain http:// to a host that is not loopback
    allow_insecure_http: bool = False
    #: trifacta only: seconds to wait for a job group or a publish job
    job_timeout: float = 3600.0
    #: trifacta only: seconds between status polls (first poll; backs off from there)
    poll_interval: float = 2.0
    #: trifacta only: "cloud" or an on-prem release number ("6.4"): which endpoints exist
    release: str = "cloud"
    #: spark only: the folder results are written to (cluster) and read from (publish)
    results_path: str | None = None

    @property
    def default_format(self) -> str:
        """The result format jobs write and targets publish unless the spec says: spark
        writes Parquet, the other platforms Avro."""
        return "parquet" if self.type == "spark" else "avro"


@dataclass(frozen=True)
class StateConfig:
    backend: Literal["local", "postgres"] = "local"
    path: str = ".publish/"
    url: Value | None = None


@dataclass(frozen=True)
class Connection:
    name: str
    vendor: Vendor | None = None  # None only for an adopted connection (id alone)
    id: int | None = None  # trifacta: adopt a connection made in the application
    host: str | None = None
    port: int | None = None
    database: str | None = None  # sqlite: a file path, relative to the spec's folder
    username: str | None = None
    password: Secret | str | None = None
    params: Mapping[str, Value] = field(default_factory=dict)
    description: str | None = None
    #: postgres/redshift/mysql: create a missing target schema (database) before the first
    #: table; False: plan refuses a target whose schema does not exist
    create_schemas: bool = True

    @property
    def address(self) -> str:
        return f"connection.{self.name}"

    @property
    def adopted(self) -> bool:
        return self.id is not None


@dataclass(frozen=True)
class Checks:
    """Checks that gate publishing (``checks:`` on a job or a target).

    ``unique`` holds column groups: ``unique: [id, [a, b]]`` is id unique on its own and
    the pair (a, b) unique together. ``maxRowChange`` is a fraction (``20%`` is 0.2).
    """

    rows_min: int | None = None
    rows_max: int | None = None
    max_row_change: float | None = None
    not_null: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    accepted_values: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    expression: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The declared checks, by their key under ``checks:``, in a fixed order."""
        declared = {
            "rows": self.rows_min is not None or self.rows_max is not None,
            "maxRowChange": self.max_row_change is not None,
            "notNull": bool(self.not_null),
            "unique": bool(self.unique),
            "acceptedValues": bool(self.accepted_values),
            "expression": bool(self.expression),
        }
        return tuple(name for name, on in declared.items() if on)


@dataclass(frozen=True)
class Job:
    name: str
    inputs: Mapping[str, str] = field(default_factory=dict)  # local: table name -> file
    recipe: str | None = None  # local: SQL over the inputs
    outputs: tuple[str, ...] = ("avro",)
    wrangled_dataset: int | None = None  # trifacta: the recipe to run
    overrides: Mapping[str, Any] = field(default_factory=dict)
    run_parameters: Mapping[str, Any] = field(default_factory=dict)
    #: local platform: run the recipe at plan time to show exact rows (``preview: false``
    #: keeps jobs too costly to run twice out of it)
    preview: bool = True
    checks: Checks = field(default_factory=Checks)
    execution: str | None = None  # trifacta: the running environment (photon, spark, ...)
    force_cache_update: bool | None = None  # trifacta: passed to POST /v4/jobGroups as is
    ignore_recipe_errors: bool | None = None  # trifacta: passed to POST /v4/jobGroups as is

    @property
    def address(self) -> str:
        return f"job.{self.name}"


@dataclass(frozen=True)
class Target:
    name: str
    job: str
    connection: str
    table: str
    path: tuple[str, ...] = ()
    action: Action = "create"
    input_format: str = "avro"
    key: tuple[str, ...] = ()
    protect: bool = False
    #: what a publish into an existing table does when the columns differ (dbt's words)
    on_schema_change: Literal["fail", "appendNewColumns", "syncAllColumns"] = "fail"
    checks: Checks = field(default_factory=Checks)
    #: trifacta: a publication of the recipe's output object, or PUT .../publish after the run
    via: Literal["outputObject", "publish"] = "outputObject"

    @property
    def address(self) -> str:
        return f"target.{self.name}"


@dataclass(frozen=True)
class Spec:
    name: str
    file: Path  # the spec file, absolute
    environment: str  # the --env name, or "default"
    version: int = 1
    platform: PlatformConfig = field(default_factory=PlatformConfig)
    state: StateConfig = field(default_factory=StateConfig)
    vars: Mapping[str, Any] = field(default_factory=dict)
    connections: Mapping[str, Connection] = field(default_factory=dict)
    jobs: Mapping[str, Job] = field(default_factory=dict)
    targets: Mapping[str, Target] = field(default_factory=dict)
    #: sha256 of the spec file's bytes
    sha256: str = ""
    #: sha256 of the rendered spec, secrets replaced by their fingerprints
    rendered_sha256: str = ""
    #: where each JSON path of the spec was written (for errors found after validation)
    positions: Mapping[str, Position] = field(default_factory=dict)
    #: a folder local jobs may read inputs from besides the spec's own (None: only that)
    inputs_root: str | None = None

    @property
    def base_dir(self) -> Path:
        return self.file.parent

    def override_targets(self, job: str) -> tuple[Target, ...]:
        """The targets of ``job`` published by its run (trifacta ``via: outputObject``).

        They are publications of the recipe's output object: the platform sets them up
        before the run, and the job group publishes them.
        """
        if self.platform.type != "trifacta":
            return ()
        return tuple(t for t in self.targets.values() if t.job == job and t.via == "outputObject")

    def position_of(self, json_path: str) -> str:
        """``FILE:LINE:COL`` of a JSON path such as ``$.targets.x.table``, or the file."""
        pos = self.positions.get(json_path)
        return str(pos) if pos else str(self.file)
