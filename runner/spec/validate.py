"""Validation of a rendered spec: the JSON Schema, then the references between sections.

Every problem is collected (schema errors, cross-references, missing files), each at the
source position of its JSON path, so a user fixes them all in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from runner.errors import SpecIssue
from runner.spec import paths
from runner.spec.headers import Header, HeaderError, read_header
from runner.spec.inputs import InputRefused, check_input, extension_problem, input_roots
from runner.spec.load import Document
from runner.spec.model import LOCAL_FORMATS, SPARK_FORMATS, VENDORS, Position
from runner.spec.params import DRIVER_PARAMS, allowed_params
from runner.spec.recipes import CheckRecipes, JobInput
from runner.spec.render import Rendered
from runner.spec.schema import IssueMaker, coerce, did_you_mean, schema_issues, type_at
from runner.spec.secrets import Secret
from runner.spec.urls import base_url_problem

#: an input the spark cluster reads from storage of its own (s3a://bucket/key, hdfs://...)
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def reveal_tree(value: Any) -> Any:
    """A copy of ``value`` with every Secret as its plain string (for checks only)."""
    if isinstance(value, dict):
        return {k: reveal_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal_tree(v) for v in value]
    if isinstance(value, Secret):
        return value.reveal()
    return value


def coerce_templated(rendered: Rendered) -> None:
    """Turn template results into the integer/number/boolean the schema wants there."""
    for parts in rendered.templated:
        kind = type_at(parts)
        if kind not in ("integer", "number", "boolean"):
            continue
        holder: Any = rendered.data
        for part in parts[:-1]:
            holder = holder[part]
        last = parts[-1]
        holder[last] = coerce(holder[last], kind)


def sort_issues(issues: Iterable[SpecIssue]) -> list[SpecIssue]:
    unique = {(i.file, i.line, i.column, i.path, i.message): i for i in issues}
    return sorted(
        unique.values(), key=lambda i: (i.file, i.line or 0, i.column or 0, i.path, i.message)
    )


#: table names publish uses itself (the ledger, staging/swap tables): never a target
RESERVED_PREFIXES = ("_pub_", "_publish_")
LEDGER_TABLE = "_publish_ledger"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
#: how many path entries each vendor has above a table, and what they are
PATH_LEVELS: dict[str, tuple[int, str]] = {
    "sqlite": (1, "the schema, main"),
    "postgres": (1, "the schema"),
    "redshift": (1, "the schema"),
    "mysql": (1, "the database"),
}


#: vendors whose unquoted and quoted names alike ignore case (one table either way)
CASE_BLIND = ("sqlite", "redshift")
#: the actions that only add rows: targets with these may share a table
APPENDING = frozenset({"load", "createAndLoad"})


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


class _Checker:
    def __init__(self, data: Mapping[str, Any], maker: IssueMaker, base_dir: Path) -> None:
        self.data = data
        self.maker = maker
        self.base_dir = base_dir
        self.issues: list[SpecIssue] = []
        platform = _mapping(data.get("platform"))
        kind = platform.get("type", "local")
        self.platform = kind if isinstance(kind, str) else "local"
        self.connections = _mapping(data.get("connections"))
        self.jobs = _mapping(data.get("jobs"))
        self.targets = _mapping(data.get("targets"))
        root = data.get("inputsRoot")
        self.input_roots = input_roots(base_dir, root if isinstance(root, str) else None)
        #: each local job's inputs whose header was read (a job with an unreadable one: None)
        self.readable: dict[str, list[JobInput] | None] = {}
        self._headers: dict[Path, Header | HeaderError] = {}

    def add(self, path: str, message: str, *, key: bool = False) -> None:
        self.issues.append(self.maker.at(path, message, key=key))

    def run(self) -> list[SpecIssue]:
        self.check_state()
        if len(self.input_roots) > 1 and not self.input_roots[1].is_dir():
            self.add("$.inputsRoot", f"'{self.data['inputsRoot']}' is not a folder")
        self.check_platform()
        for name, conn in self.connections.items():
            if isinstance(conn, dict):
                self.check_connection(paths.child("$.connections", name), conn)
        for name, job in self.jobs.items():
            if isinstance(job, dict):
                self.check_job(paths.child("$.jobs", name), name, job)
        for name, target in self.targets.items():
            if isinstance(target, dict):
                self.check_target(paths.child("$.targets", name), target)
        self.check_shared_tables()
        return self.issues

    def table_key(self, target: Mapping[str, Any]) -> tuple[str, str, str] | None:
        """The table a target publishes into, as its vendor names it (None when unknown)."""
        conn_name, table, path = target.get("connection"), target.get("table"), target.get("path")
        if not isinstance(conn_name, str) or not isinstance(table, str):
            return None
        conn = self.connections.get(conn_name)
        if not isinstance(conn, dict):
            return None
        vendor = conn.get("vendor")
        if isinstance(path, list) and path:
            schema = path[0]
        else:
            schema = {"sqlite": "main", "postgres": "public", "redshift": "public"}.get(
                str(vendor), conn.get("database")
            )
        if not isinstance(schema, str):
            return None
        if vendor in CASE_BLIND:
            schema, table = schema.lower(), table.lower()
        return conn_name, schema, table

    def check_shared_tables(self) -> None:
        """Targets replacing or merging into one table would overwrite each other."""
        sharing: dict[tuple[str, str, str], list[str]] = {}
        for name, target in self.targets.items():
            key = self.table_key(target) if isinstance(target, dict) else None
            if key is not None:
                sharing.setdefault(key, []).append(name)
        for key, names in sharing.items():
            actions = {_mapping(self.targets[n]).get("action") for n in names}
            if len(names) < 2 or actions <= APPENDING:
                continue
            listed = ", ".join(names[:-1]) + f" and {names[-1]}"
            self.add(
                paths.child(paths.child("$.targets", names[1]), "table"),
                f"targets {listed} all publish into {'.'.join(key)}; only appending actions "
                "(load, createAndLoad) can share a table: give each target its own table",
            )

    def check_platform(self) -> None:
        """The platform URL's rules, so validate catches what plan would refuse."""
        platform = _mapping(self.data.get("platform"))
        url = platform.get("url")
        if self.platform == "spark" and isinstance(url, str) and url.startswith("sc://"):
            from runner.platforms.spark.url import spark_url_problem

            problem = spark_url_problem(url)
            if problem:
                self.add("$.platform.url", problem)
            return
        if self.platform != "trifacta" or not isinstance(url, str) or not url.startswith("http://"):
            return
        problem = base_url_problem(
            url, allow_insecure_http=platform.get("allowInsecureHttp") is True
        )
        if problem:
            self.add("$.platform.url", problem.removeprefix("platform.url: "))

    def check_state(self) -> None:
        state = _mapping(self.data.get("state"))
        folder = state.get("path")
        if state.get("backend", "local") != "local" or not isinstance(folder, str):
            return
        where = "$.state.path"
        if Path(folder).is_absolute() or folder.startswith("~"):
            self.add(where, f"'{folder}' must be a folder relative to the spec's folder")
            return
        base = self.base_dir.resolve()
        resolved = (base / folder).resolve()
        if not resolved.is_relative_to(base):
            self.add(where, f"'{folder}' leaves the spec's folder; keep the state inside it")

    def check_connection(self, at: str, conn: Mapping[str, Any]) -> None:
        if self.platform != "trifacta" and "id" in conn:
            self.add(
                paths.child(at, "id"),
                "a connection adopted by id exists on the trifacta platform only; "
                f"on the {self.platform} platform give vendor and its settings",
            )
        vendor, params = conn.get("vendor"), conn.get("params")
        if self.platform == "trifacta" or not isinstance(params, dict) or vendor not in VENDORS:
            return
        allowed = DRIVER_PARAMS[vendor]
        for key in sorted(set(params) - allowed):
            if key in allowed_params(vendor):  # else the schema reported it
                self.add(
                    paths.child(paths.child(at, "params"), key),
                    f"'{key}' is a trifacta platform parameter; the {self.platform} platform's {vendor} "
                    f"driver takes: {', '.join(sorted(allowed)) or 'none'}",
                    key=True,
                )

    def check_job(self, at: str, name: str, job: Mapping[str, Any]) -> None:
        inputs = job.get("inputs")
        if self.platform == "trifacta":
            if "wrangledDataset" not in job:
                self.add(
                    at,
                    f"job '{name}' needs wrangledDataset on the trifacta platform "
                    "(the id of the recipe to run)",
                    key=True,
                )
            return
        if not isinstance(inputs, dict) or not inputs:
            if inputs is None:
                self.add(
                    at,
                    f"job '{name}' needs inputs on the {self.platform} platform (table name: file)",
                    key=True,
                )
            return
        if "recipe" not in job and len(inputs) != 1:
            self.add(
                at,
                f"job '{name}' needs a recipe (SQL over its inputs) unless it has exactly "
                "one input",
                key=True,
            )
        outputs = job.get("outputs")
        if isinstance(outputs, list):
            for i, fmt in enumerate(outputs):
                if self.platform == "spark" and isinstance(fmt, str) and fmt not in SPARK_FORMATS:
                    self.add(
                        paths.child(paths.child(at, "outputs"), i),
                        f"'{fmt}': spark jobs write parquet (a folder of part files); "
                        "use outputs: [parquet]",
                    )
                elif isinstance(fmt, str) and fmt not in LOCAL_FORMATS:
                    self.add(
                        paths.child(paths.child(at, "outputs"), i),
                        f"'{fmt}' exists on the trifacta platform only; local jobs write "
                        f"{', '.join(LOCAL_FORMATS)}",
                    )
        for table, file in inputs.items():
            if not isinstance(file, str) or not file:
                self.readable[name] = None
                continue
            if self.platform == "spark" and _URI.match(file):
                continue  # read by the cluster (s3a://, abfss://, hdfs://...): not checked here
            where = paths.child(paths.child(at, "inputs"), table)
            problem = extension_problem(file) if self.platform == "local" else None
            try:
                path = check_input(self.base_dir, self.input_roots, file)
            except InputRefused as exc:
                # one error per input: a missing .xlsx is first of all not readable
                self.add(where, problem if problem and exc.missing else str(exc))
                self.readable[name] = None
                continue
            if problem:
                self.add(where, problem)
                self.readable[name] = None
            elif self.platform == "local":
                self.check_header(where, name, JobInput(table, file, path, Header(())))

    def check_header(self, where: str, job: str, item: JobInput) -> None:
        """The start of a local job's input can be read (kept for the recipe's check)."""
        header = self._headers.get(item.path)
        if header is None:
            try:
                header = read_header(item.path, item.file)
            except HeaderError as exc:
                header = exc
            except OSError as exc:
                header = HeaderError(f"{item.file}: cannot be read: {exc.strerror or exc}")
            self._headers[item.path] = header
        if isinstance(header, HeaderError):
            self.add(where, f"cannot read {header}")
            self.readable[job] = None
            return
        found = self.readable.setdefault(job, [])
        if found is not None:
            found.append(JobInput(item.table, item.file, item.path, header))

    def check_target(self, at: str, target: Mapping[str, Any]) -> None:
        self.check_table(at, target)
        job = target.get("job")
        if isinstance(job, str) and job not in self.jobs:
            hint = did_you_mean(job, self.jobs) or "; no jobs are defined"
            self.add(paths.child(at, "job"), f"job '{job}' is not defined under jobs{hint}")
        conn = target.get("connection")
        if isinstance(conn, str) and conn not in self.connections:
            hint = did_you_mean(conn, self.connections) or "; no connections are defined"
            self.add(
                paths.child(at, "connection"),
                f"connection '{conn}' is not defined under connections{hint}",
            )
        default = "parquet" if self.platform == "spark" else "avro"
        fmt = target.get("inputFormat", default)
        job_def = self.jobs.get(job) if isinstance(job, str) else None
        if isinstance(job_def, dict) and isinstance(fmt, str):
            outputs = job_def.get("outputs", [default])
            if isinstance(outputs, list) and fmt not in outputs:
                shown = ", ".join(str(o) for o in outputs)
                where = paths.child(at, "inputFormat") if "inputFormat" in target else at
                self.add(
                    where,
                    f"job '{job}' does not output {fmt} (its outputs: {shown}); add {fmt} to "
                    f"jobs.{job}.outputs or publish one of those",
                    key="inputFormat" not in target,
                )

    def check_table(self, at: str, target: Mapping[str, Any]) -> None:
        """Names publish keeps for itself, and a path as deep as the vendor's levels."""
        table = target.get("table")
        if isinstance(table, str) and table.lower().startswith(RESERVED_PREFIXES):
            self.add(
                paths.child(at, "table"),
                f"'{table}' is reserved: names starting with "
                f"{' or '.join(RESERVED_PREFIXES)} are publish's own tables (the ledger "
                f"{LEDGER_TABLE}, staging and swap tables); choose another name",
            )
        name = target.get("connection")
        conn = self.connections.get(name) if isinstance(name, str) else None
        vendor = conn.get("vendor") if isinstance(conn, dict) else None
        path = target.get("path")
        if not isinstance(path, list) or vendor not in PATH_LEVELS:
            return
        if not all(isinstance(p, str) and _NAME.fullmatch(p) for p in path):
            return  # the schema (or a failed template) reports the entry
        levels, meaning = PATH_LEVELS[vendor]
        where = paths.child(at, "path")
        if len(path) > levels:
            self.add(
                where,
                f"{vendor} has {levels} level above a table ({meaning}) but the path has "
                f"{len(path)} entries; give at most {levels}",
            )
        elif vendor == "sqlite" and path and path != ["main"]:
            self.add(where, "a SQLite table lives in schema main: use path: [main] or leave it out")


def check_references(data: Mapping[str, Any], maker: IssueMaker, base_dir: Path) -> list[SpecIssue]:
    """Cross-section checks: names that must exist, platform rules, files, state path."""
    return _Checker(data, maker, base_dir).run()


def _recipe_issues(
    checker: _Checker, raw: Document, rendered: Rendered, check: CheckRecipes | None
) -> list[SpecIssue]:
    """Each local recipe over its inputs' headers (polars is imported only when one exists)."""
    jobs = {
        name: found
        for name, found in checker.readable.items()
        if found and isinstance(_mapping(checker.jobs[name]).get("recipe"), str)
    }
    todo: list[tuple[str, str, str, list[JobInput], Position | None]] = []
    for name, found in jobs.items():
        at = paths.child(paths.child("$.jobs", name), "recipe")
        if at in rendered.failed:
            continue
        written = _mapping(_mapping(raw.data.get("jobs")).get(name)).get("recipe")
        recipe = checker.jobs[name]["recipe"]
        where = rendered.positions.get(at) or raw.positions.get(at)
        todo.append((at, recipe, written if isinstance(written, str) else recipe, found, where))
    if not todo:
        return []
    from runner.spec.recipes import check_recipes, recipe_issue

    problems = (check or check_recipes)([(t[1], t[3]) for t in todo])
    return [
        recipe_issue(at, recipe, written, problem, where)
        for (at, recipe, written, _, where), problem in zip(todo, problems, strict=True)
        if problem is not None
    ]


def validate(
    raw: Document, rendered: Rendered, base_dir: Path, *, check_recipes: CheckRecipes | None = None
) -> list[SpecIssue]:
    """Every issue of a rendered spec, sorted by position (empty when it is valid).

    ``check_recipes`` checks the local recipes (default: in this process).
    """
    issues = list(rendered.issues)
    raw_maker = IssueMaker(raw.label, raw.positions, raw.key_positions)
    issues += schema_issues(raw.data, raw_maker, loose_environments=True)
    coerce_templated(rendered)
    plain = reveal_tree(rendered.data) if rendered.secrets else rendered.data
    maker = IssueMaker(raw.label, rendered.positions, rendered.key_positions)
    schema_found = schema_issues(plain, maker, skip=rendered.failed)
    issues += schema_found
    checker = _Checker(plain, maker, base_dir)
    issues += checker.run()
    issues += _recipe_issues(checker, raw, rendered, check_recipes)
    return sort_issues(issues)
