"""The model the property test draws: inputs (columns + rows), jobs, targets, data edits.

Plain data classes, so a failing example prints as something a person can rebuild by hand;
:func:`spec_text` and :func:`write_input` turn them into the files the CLI reads.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

#: the logical kinds of the generated columns and their polars types
KINDS: dict[str, Any] = {
    "int": pl.Int64,
    "str": pl.String,
    "float": pl.Float64,
    "bool": pl.Boolean,
    "date": pl.Date,
    "decimal": pl.Decimal(12, 2),
    "wide_decimal": pl.Decimal(38, 10),
    "datetime": pl.Datetime("us"),
    "datetime_tz": pl.Datetime("us", "UTC"),
    "time": pl.Time,
}


@dataclass
class Column:
    name: str
    kind: str


@dataclass
class Data:
    """One input file's content: columns and rows (a row is one value per column)."""

    columns: list[Column]
    rows: list[list[Any]]

    def frame(self) -> pl.DataFrame:
        schema = {c.name: KINDS[c.kind] for c in self.columns}
        return pl.DataFrame(self.rows, schema=schema, orient="row")


@dataclass
class Select:
    """One item of a recipe's select list: a source column, maybe cast, maybe renamed."""

    source: str
    alias: str | None = None
    cast: str | None = None  # a polars SQL type: varchar, bigint, double

    def sql(self) -> str:
        expr = quote(self.source)
        if self.cast:
            expr = f"cast({expr} as {self.cast})"
        if self.alias is not None:
            return f"{expr} as {quote(self.alias)}"
        return expr if not self.cast else f"{expr} as {quote(self.source)}"

    @property
    def output(self) -> str:
        return self.alias if self.alias is not None else self.source


@dataclass
class Recipe:
    """None items: ``select *``; ``star_free``: no recipe key at all (one input)."""

    items: list[Select] | None
    where: str | None = None  # a condition over a source column, or 'false'
    omitted: bool = False

    def sql(self, table: str) -> str | None:
        if self.omitted:
            return None
        listed = "*" if self.items is None else ", ".join(i.sql() for i in self.items)
        text = f"select {listed} from {table}"
        return f"{text} where {self.where}" if self.where else text


@dataclass
class Target:
    name: str
    table: str
    action: str  # the first run's action
    key: list[str] = field(default_factory=list)
    on_schema_change: str | None = None
    input_format: str = "avro"
    then: str | None = None  # the action of the runs after the first (the spec edited)


@dataclass
class Job:
    name: str
    fmt: str  # csv, json, parquet
    data: Data
    recipe: Recipe
    targets: list[Target]
    edits: list[Data] = field(default_factory=list)

    @property
    def file(self) -> str:
        return f"data/{self.name}.{self.fmt}"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def write_input(folder: Path, job: Job, data: Data) -> None:
    path = folder / job.file
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = data.frame()
    if job.fmt == "csv":
        frame.write_csv(path)
    elif job.fmt == "parquet":
        frame.write_parquet(path)
    else:  # an array of objects, as people write JSON by hand
        records = [
            {c.name: _plain(v) for c, v in zip(data.columns, row, strict=True)} for row in data.rows
        ]
        path.write_text(json.dumps(records, ensure_ascii=False))


def spec_text(jobs: list[Job], connection: str, schema: str, step: int = 0) -> str:
    """The spec at ``step`` as YAML (JSON is YAML: every odd name is quoted exactly)."""
    spec: dict[str, Any] = {"version": 1, "name": "prop", "connections": {"wh": {}}}
    spec["connections"]["wh"] = json.loads(connection)
    spec["jobs"] = {}
    spec["targets"] = {}
    for job in jobs:
        formats = sorted({t.input_format for t in job.targets})
        body: dict[str, Any] = {"inputs": {"t": job.file}, "outputs": formats}
        recipe = job.recipe.sql("t")
        if recipe is not None:
            body["recipe"] = recipe
        spec["jobs"][job.name] = body
        for target in job.targets:
            entry: dict[str, Any] = {
                "job": job.name,
                "connection": "wh",
                "path": [schema],
                "table": target.table,
                "action": target.then if step and target.then else target.action,
                "inputFormat": target.input_format,
            }
            if target.key:
                entry["key"] = target.key
            if target.on_schema_change:
                entry["onSchemaChange"] = target.on_schema_change
            spec["targets"][target.name] = entry
    return json.dumps(spec, indent=2, ensure_ascii=False) + "\n"
