"""Build the frozen model (:mod:`runner.spec.model`) from validated, rendered data."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.spec.model import (
    Checks,
    Connection,
    Job,
    PlatformConfig,
    Position,
    Spec,
    StateConfig,
    Target,
    Value,
)
from runner.spec.secrets import Secret


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Secret):
        return value.reveal()  # registered: still masked in any output
    return str(value)


def _value(value: Any) -> Value:
    if isinstance(value, Secret):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _secret(value: Any) -> Secret | None:
    if value is None:
        return None
    return value if isinstance(value, Secret) else Secret(str(value))


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def build_platform(data: Mapping[str, Any]) -> PlatformConfig:
    return PlatformConfig(
        type=data.get("type", "local"),
        url=_text(data.get("url")),
        token=_secret(data.get("token")),
        allow_insecure_http=bool(data.get("allowInsecureHttp", False)),
        job_timeout=float(data.get("jobTimeout", 3600.0)),
        poll_interval=float(data.get("pollInterval", 2.0)),
        release=str(data.get("release", "cloud")),
        results_path=_text(data.get("resultsPath")),
    )


def build_state(data: Mapping[str, Any]) -> StateConfig:
    url = data.get("url")
    return StateConfig(
        backend=data.get("backend", "local"),
        path=str(data.get("path", ".publish/")),
        url=None if url is None else _value(url),
    )


def build_connection(name: str, data: Mapping[str, Any]) -> Connection:
    password = data.get("password")
    port = data.get("port")
    cid = data.get("id")
    return Connection(
        name=name,
        vendor=data.get("vendor"),
        id=None if cid is None else int(cid),
        host=_text(data.get("host")),
        port=None if port is None else int(port),
        database=_text(data.get("database")),
        username=_text(data.get("username")),
        password=password if isinstance(password, Secret) else _text(password),
        params={str(k): _value(v) for k, v in _map(data.get("params")).items()},
        description=_text(data.get("description")),
        create_schemas=data.get("createSchemas", True) is not False,
    )


def _percent(value: Any) -> float | None:
    if value is None:
        return None
    return float(str(value).strip().rstrip("%")) / 100


def build_checks(data: Any) -> Checks:
    """The checks of a job or a target (``checks:``), already validated by the schema."""
    if not isinstance(data, dict):
        return Checks()
    rows = _map(data.get("rows"))
    unique = data.get("unique", ())
    expression = data.get("expression", ())
    return Checks(
        rows_min=None if rows.get("min") is None else int(rows["min"]),
        rows_max=None if rows.get("max") is None else int(rows["max"]),
        max_row_change=_percent(data.get("maxRowChange")),
        not_null=tuple(str(c) for c in data.get("notNull", ())),
        unique=tuple(
            tuple(str(c) for c in u) if isinstance(u, list) else (str(u),) for u in unique
        ),
        accepted_values={str(k): tuple(v) for k, v in _map(data.get("acceptedValues")).items()},
        expression=(str(expression),)
        if isinstance(expression, str)
        else tuple(str(e) for e in expression),
    )


def build_job(name: str, data: Mapping[str, Any], default_format: str = "avro") -> Job:
    dataset = data.get("wrangledDataset")
    return Job(
        name=name,
        inputs={str(k): str(_text(v)) for k, v in _map(data.get("inputs")).items()},
        recipe=_text(data.get("recipe")),
        outputs=tuple(str(o) for o in data.get("outputs", [default_format])),
        wrangled_dataset=None if dataset is None else int(dataset),
        overrides=dict(_map(data.get("overrides"))),
        run_parameters=dict(_map(data.get("runParameters"))),
        preview=bool(data.get("preview", True)),
        checks=build_checks(data.get("checks")),
        execution=_text(data.get("execution")),
        force_cache_update=_flag(data.get("forceCacheUpdate")),
        ignore_recipe_errors=_flag(data.get("ignoreRecipeErrors")),
    )


def build_target(name: str, data: Mapping[str, Any], default_format: str = "avro") -> Target:
    return Target(
        name=name,
        job=str(data["job"]),
        connection=str(data["connection"]),
        table=str(_text(data["table"])),
        path=tuple(str(_text(p)) for p in data.get("path", ())),
        action=data.get("action", "create"),
        input_format=str(data.get("inputFormat", default_format)),
        key=tuple(str(_text(k)) for k in data.get("key", ())),
        protect=bool(data.get("protect", False)),
        on_schema_change=data.get("onSchemaChange", "fail"),
        checks=build_checks(data.get("checks")),
        via=data.get("via", "outputObject"),
    )


def canonical_sha256(data: Any) -> str:
    """sha256 of canonical JSON of ``data``, every Secret replaced by its fingerprint."""
    prints: dict[str, str] = {}

    def default(obj: object) -> object:
        if isinstance(obj, Secret):
            value = obj.reveal()
            if value not in prints:
                prints[value] = obj.fingerprint
            return {"secret": prints[value]}
        raise TypeError(f"cannot hash a {type(obj).__name__}")

    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=default)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_spec(
    data: Mapping[str, Any],
    *,
    file: Path,
    environment: str,
    sha256: str,
    positions: Mapping[str, Position],
) -> Spec:
    """The frozen Spec of validated data (with Secret objects in place)."""
    platform = build_platform(_map(data.get("platform")))
    fmt = platform.default_format
    return Spec(
        name=str(data["name"]),
        file=file,
        environment=environment,
        version=int(data.get("version", 1)),
        platform=platform,
        state=build_state(_map(data.get("state"))),
        vars=dict(_map(data.get("vars"))),
        connections={n: build_connection(n, c) for n, c in _map(data.get("connections")).items()},
        jobs={n: build_job(n, j, fmt) for n, j in _map(data.get("jobs")).items()},
        targets={n: build_target(n, t, fmt) for n, t in _map(data.get("targets")).items()},
        sha256=sha256,
        rendered_sha256=canonical_sha256(data),
        positions=dict(positions),
        inputs_root=_text(data.get("inputsRoot")),
    )
