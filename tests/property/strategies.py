"""Hypothesis strategies for the property test: specs with 1-3 local jobs and data edits."""

from __future__ import annotations

import datetime as dt
import decimal
import re
from typing import Any

from hypothesis import strategies as st

from tests.property.model import KINDS, Column, Data, Job, Recipe, Select, Target

#: column names people do write: spaces, quotes, unicode, reserved words, mixed case, long
ODD_NAMES = [
    "order",
    "select",
    "Group",
    "user",
    "from",
    "key",
    "end",
    "a b",
    " lead",
    'say "hi"',
    "it's",
    "naïve",
    "日本語",
    "MixedCase",
    "x" * 63,
    "y" * 70,
    "col-1",
    "1st",
    "Δx",
    "null",
    "a.b",
    "semi;colon",
    "per%cent",
    "back\\slash",
]
TABLE_NAMES = ["order", "select", "Table", "MixedCase", "t$1", "_x", "user", "z" * 63]
ACTIONS = ["create", "load", "createAndLoad", "truncateAndLoad", "dropAndLoad", "upsert"]
KEY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
SCHEMA_CHANGES = [None, "fail", "appendNewColumns", "syncAllColumns"]

plain_names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
column_names = st.one_of(plain_names, st.sampled_from(ODD_NAMES))
table_names = st.one_of(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_$]{0,20}", fullmatch=True), st.sampled_from(TABLE_NAMES)
)

_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=8
)
VALUES: dict[str, st.SearchStrategy[Any]] = {
    # a small pool repeats values (upsert keys), the full range tries the edges of int64
    "int": st.one_of(st.integers(0, 3), st.integers(-1000, 1000), st.integers(-(2**63), 2**63 - 1)),
    "str": st.one_of(
        _text, st.sampled_from(["", " ", "a\x00b", "NULL", "\\N", "line\nbreak", '"'])
    ),
    "float": st.one_of(st.floats(), st.sampled_from([0.0, -0.0, 1e308, float("nan")])),
    "bool": st.booleans(),
    "date": st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)),
    "decimal": st.decimals(
        min_value=decimal.Decimal("-9999999999.99"),
        max_value=decimal.Decimal("9999999999.99"),
        places=2,
        allow_nan=False,
        allow_infinity=False,
    ),
    "wide_decimal": st.decimals(
        min_value=decimal.Decimal("-" + "9" * 28), max_value=decimal.Decimal("9" * 28), places=10
    ),
    "datetime": st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31)),
    "datetime_tz": st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31)).map(
        lambda d: d.replace(tzinfo=dt.UTC)
    ),
    "time": st.times(),
}


def _value(kind: str) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), VALUES[kind]) if kind != "bool" else VALUES[kind] | st.none()


@st.composite
def columns(draw: st.DrawFn) -> list[Column]:
    names = draw(st.lists(column_names, min_size=1, max_size=4, unique=True))  # "a" and "A" too
    return [Column(n, draw(st.sampled_from(sorted(KINDS)))) for n in names]


@st.composite
def rows_for(draw: st.DrawFn, cols: list[Column], max_rows: int = 6) -> list[list[Any]]:
    row = st.tuples(*[_value(c.kind) for c in cols]).map(list)
    return draw(st.lists(row, min_size=0, max_size=max_rows))


@st.composite
def data(draw: st.DrawFn) -> Data:
    cols = draw(columns())
    return Data(cols, draw(rows_for(cols)))


@st.composite
def edited(draw: st.DrawFn, before: Data) -> Data:
    """``before`` with one edit: values, rows, columns or types changed."""
    cols = [Column(c.name, c.kind) for c in before.columns]
    rows = [list(r) for r in before.rows]
    edit = draw(
        st.sampled_from(
            ["values", "add_rows", "delete_rows", "empty", "add_column", "drop_column", "retype"]
        )
    )
    if edit == "values" and rows:
        i = draw(st.integers(0, len(rows) - 1))
        rows[i] = draw(rows_for(cols, 1).filter(bool))[0]
    elif edit == "add_rows":
        rows += draw(rows_for(cols, 4))
    elif edit == "delete_rows" and rows:
        keep = draw(st.lists(st.booleans(), min_size=len(rows), max_size=len(rows)))
        rows = [r for r, k in zip(rows, keep, strict=True) if k]
    elif edit == "empty":
        rows = []
    elif edit == "add_column":
        name = draw(column_names.filter(lambda n: n.lower() not in {c.name.lower() for c in cols}))
        kind = draw(st.sampled_from(sorted(KINDS)))
        cols.append(Column(name, kind))
        rows = [[*r, draw(_value(kind))] for r in rows]
    elif edit == "drop_column" and len(cols) > 1:
        i = draw(st.integers(0, len(cols) - 1))
        del cols[i]
        rows = [r[:i] + r[i + 1 :] for r in rows]
    elif edit == "retype":
        i = draw(st.integers(0, len(cols) - 1))
        kind = draw(st.sampled_from(sorted(set(KINDS) - {cols[i].kind})))
        cols[i] = Column(cols[i].name, kind)
        for r in rows:
            r[i] = draw(_value(kind))
    return Data(cols, rows)


@st.composite
def recipes(draw: st.DrawFn, cols: list[Column]) -> Recipe:
    shape = draw(st.sampled_from(["omitted", "star", "project"]))
    where = draw(
        st.sampled_from([None, None, "false", "not_null"]),
    )
    if where == "not_null":
        where = f'"{draw(st.sampled_from(cols)).name.replace(chr(34), chr(34) * 2)}" is not null'
    if shape == "omitted":
        return Recipe(None, omitted=True)
    if shape == "star":
        return Recipe(None, where)
    chosen = draw(st.lists(st.sampled_from(cols), min_size=1, unique_by=lambda c: c.name))
    items: list[Select] = []
    outputs: set[str] = set()
    for col in chosen:
        alias = draw(st.one_of(st.none(), column_names))
        cast = draw(st.sampled_from([None, None, "varchar", "bigint", "double"]))
        if cast == "bigint" and col.kind not in ("int", "bool"):
            cast = None  # casting text to a number is a recipe error at apply and at plan
        item = Select(col.name, alias, cast)
        if item.output.lower() in outputs:
            continue
        outputs.add(item.output.lower())
        items.append(item)
    return Recipe(items, where)


def _outputs(recipe: Recipe, cols: list[Column]) -> list[str]:
    if recipe.items is None:
        return [c.name for c in cols]
    return [i.output for i in recipe.items]


@st.composite
def targets(draw: st.DrawFn, job: str, outputs: list[str], used: set[str]) -> list[Target]:
    made: list[Target] = []
    for n in range(draw(st.integers(1, 2))):
        table = draw(table_names.filter(lambda t: t.lower() not in used))
        used.add(table.lower())
        action = draw(st.sampled_from(ACTIONS))
        then = draw(st.sampled_from([None, *ACTIONS]))
        if action == "load":  # into a table made by the first run (load alone fails: no table)
            action, then = draw(st.sampled_from(ACTIONS[:-1]).filter(lambda a: a != "load")), "load"
        elif action == "create" and then in (None, "create"):  # create once, then load
            then = "load"
        keyable = [o for o in outputs if KEY_NAME.fullmatch(o)]  # validate's rule for key
        if "upsert" in (action, then) and not keyable:
            action, then = "createAndLoad", None
        key = (
            draw(st.lists(st.sampled_from(keyable), min_size=1, max_size=2, unique=True))
            if "upsert" in (action, then)
            else []
        )
        made.append(
            Target(
                name=f"{job}_{n}",
                table=table,
                action=action,
                key=key,
                on_schema_change=draw(st.sampled_from(SCHEMA_CHANGES)),
                input_format=draw(st.sampled_from(["avro", "avro", "csv", "parquet", "json"])),
                then=then,
            )
        )
    return made


@st.composite
def jobs(draw: st.DrawFn) -> list[Job]:
    made: list[Job] = []
    used: set[str] = set()
    for n in range(draw(st.integers(1, 3))):
        first = draw(data())
        recipe = draw(recipes(first.columns))
        name = f"j{n}"
        job = Job(
            name=name,
            fmt=draw(st.sampled_from(["csv", "json", "parquet"])),
            data=first,
            recipe=recipe,
            targets=draw(targets(name, _outputs(recipe, first.columns), used)),
        )
        latest = first
        for _ in range(draw(st.integers(1, 2))):
            latest = draw(edited(latest))
            job.edits.append(latest)
        made.append(job)
    return made
