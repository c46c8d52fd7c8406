"""Local recipes checked at validate: SQL syntax and the names a recipe uses.

Each job's inputs become empty frames with the columns of their headers (CSV columns as
text, JSON columns from the first records, Parquet and Avro from their schemas: no data
is read), and the recipe is resolved over them lazily with polars SQL. polars' messages
carry no position (syntax errors only carry one inside the recipe), so the offending token
is found in the recipe here, and its place mapped to the spec file's line and column inside
the recipe's block (:mod:`runner.spec.recipe_places`). Only errors about syntax and names
are reported: the types of CSV columns are known at plan only, which reports the rest.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runner.errors import SpecIssue
from runner.spec.headers import Header
from runner.spec.model import Position
from runner.spec.recipe_places import place
from runner.spec.secrets import redact

if TYPE_CHECKING:
    import polars as pl

#: inputs whose frames at validate are a guess: CSV (text columns), JSON (first records)
_GUESSED = (".csv", ".json", ".jsonl", ".ndjson")
#: "sql parser error: Expected: ..., found: x at Line: 2, Column: 5"
_AT = re.compile(r"\s+at Line: (\d+), Column: (\d+)$")
_COLUMN = re.compile(r'unable to find column "([^"]+)"|no column named \'([^\']+)\'')
_RELATION = re.compile(r"relation '([^']+)' was not found")
_FUNCTION = re.compile(r"unsupported function '([^']+)'")
#: SQL text a name is searched in: strings and comments are skipped, quoted names kept
_TOKEN = re.compile(
    r"'(?:[^']|'')*'?|--[^\n]*|/\*.*?(?:\*/|$)|\"((?:[^\"]|\"\")*)\"?|([A-Za-z_][A-Za-z0-9_$]*)|(;)",
    re.S,
)


@dataclass(frozen=True)
class RecipeProblem:
    """An error in a recipe: the message, and its offset in the rendered recipe (if known)."""

    message: str
    offset: int | None
    syntax: bool = False


@dataclass(frozen=True)
class JobInput:
    """One input of a job: its table name, file as written, path, and header."""

    table: str
    file: str
    path: Path
    header: Header


def _frame(item: JobInput) -> pl.LazyFrame:
    import polars as pl

    suffix = item.path.suffix.lower()
    if suffix == ".csv":
        return pl.LazyFrame(schema=dict.fromkeys(item.header.columns, pl.String))
    if suffix in (".parquet", ".pqt"):
        return pl.scan_parquet(item.path)
    if suffix == ".avro":
        from runner.platforms.local.avro_read import empty_frame

        return empty_frame(item.path).lazy()
    return pl.LazyFrame(schema=dict.fromkeys(item.header.columns, pl.String))


def _inputs_listed(columns: Mapping[str, list[str]]) -> str:
    return "; ".join(
        f"{table} ({', '.join(cols) or 'no columns'})" for table, cols in columns.items()
    )


def _resolve(
    recipe: str, frames: dict[str, pl.LazyFrame]
) -> tuple[str | None, dict[str, list[str]]]:
    """polars' first message about ``recipe`` over ``frames`` (None: it resolves)."""
    import polars as pl

    columns: dict[str, list[str]] = {}
    try:
        for table, frame in frames.items():
            columns[table] = frame.collect_schema().names()
        pl.SQLContext(frames=frames, eager=False).execute(recipe).collect_schema()
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        return str(exc).strip().split("\n\n", 1)[0].strip(), columns
    return None, columns


def check_recipe(recipe: str, inputs: list[JobInput]) -> RecipeProblem | None:
    """The first syntax or name error of ``recipe`` over ``inputs`` (None when it resolves).

    CSV columns are typed as text and JSON columns come from the first records only, so a
    name error over such inputs is confirmed with the frames plan reads (their real types
    and the rows polars samples) before it is reported: validate never refuses what plan
    accepts, and reads data only when it is about to report an error.
    """
    try:
        frames = {i.table: _frame(i) for i in inputs}
    except (OSError, ValueError):  # an Avro header whose schema is not valid Avro
        return None  # plan names the input it cannot read
    text, columns = _resolve(recipe, frames)
    problem = None if text is None else describe(recipe, text, columns)
    if (
        problem is None
        or problem.syntax
        or not any(i.path.suffix.lower() in _GUESSED for i in inputs)
    ):
        return problem
    import polars as pl

    from runner.platforms.local.inputs import scan_input

    try:  # a JSON array is read whole here
        real = {i.table: scan_input(i.path, schema_only=True) for i in inputs}
    except (OSError, ValueError, pl.exceptions.PolarsError, pl.exceptions.PanicException):
        return problem  # plan names what cannot be read
    text, columns = _resolve(recipe, real)
    return None if text is None else describe(recipe, text, columns)


def describe(recipe: str, text: str, columns: Mapping[str, list[str]]) -> RecipeProblem | None:
    """The problem polars' message ``text`` names, placed in ``recipe`` (None: not ours)."""
    listed = _inputs_listed(columns)
    if text.startswith("sql parser error: "):
        message = text.removeprefix("sql parser error: ").replace("found: EOF", "found: the end")
        found = _AT.search(message)
        if found is None:
            return RecipeProblem(f"SQL syntax: {message}", len(recipe.rstrip()), syntax=True)
        offset = _offset(recipe, *map(int, found.groups()))
        return RecipeProblem(f"SQL syntax: {message[: found.start()]}", offset, syntax=True)
    if (match := _COLUMN.search(text)) is not None:
        name = match.group(1) or match.group(2)
        hint = _close(name, [c for cols in columns.values() for c in cols])
        return RecipeProblem(
            f"unknown column '{name}'{hint}; the inputs: {listed}", find_name(recipe, name)
        )
    if (match := _RELATION.search(text)) is not None:
        name = match.group(1)
        hint = _close(name, list(columns))
        return RecipeProblem(
            f"unknown table '{name}'{hint}; the inputs: {listed}", find_name(recipe, name)
        )
    if (match := _FUNCTION.search(text)) is not None:
        name = match.group(1)
        return RecipeProblem(
            f"unknown function '{name}' (polars SQL has no such function)",
            find_name(recipe, name),
        )
    if text.startswith("one (and only one) statement"):
        return RecipeProblem("a recipe is one SQL statement (a select)", _second_statement(recipe))
    return None


def _close(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, sorted(set(options)), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _offset(text: str, line: int, column: int) -> int:
    """The offset of 1-based ``line`` and ``column`` (in characters) in ``text``."""
    lines = text.split("\n")
    line = min(max(line, 1), len(lines))
    return sum(len(x) + 1 for x in lines[: line - 1]) + max(column - 1, 0)


def find_name(recipe: str, name: str) -> int | None:
    """Where identifier ``name`` is used in ``recipe``, or None.

    A use is preferred to an alias being defined (``... as name``), then the exact case to
    another case; the first such token wins.
    """
    best: tuple[int, int] | None = None
    after_as = False
    for token in _TOKEN.finditer(recipe):
        quoted, word = token.group(1), token.group(2)
        found = quoted if quoted is not None else word
        if found is not None and found.lower() == name.lower():
            rank = (2 if after_as else 0) + (0 if found == name else 1)
            if best is None or rank < best[0]:
                best = (rank, token.start())
        after_as = word is not None and word.lower() == "as"
    return best[1] if best else None


def _second_statement(recipe: str) -> int | None:
    for token in _TOKEN.finditer(recipe):
        if token.group(3) and recipe[token.end() :].strip(" \t\r\n;"):
            return token.start()
    return None


#: recipes checked at once: each rendered recipe with its inputs
Requests = Sequence[tuple[str, list[JobInput]]]
#: checks each request, in order (:func:`check_recipes` here, or in a helper process)
CheckRecipes = Callable[[Requests], list[RecipeProblem | None]]


def check_recipes(requests: Requests) -> list[RecipeProblem | None]:
    """:func:`check_recipe` of each request, in this process."""
    from runner.quiet import quiet_stderr

    with quiet_stderr():  # a panic inside polars' SQL planner prints on fd 2
        return [check_recipe(recipe, inputs) for recipe, inputs in requests]


def recipe_issue(
    at: str, recipe: str, written: str, problem: RecipeProblem, start: Position | None
) -> SpecIssue:
    """The issue of ``problem`` in the recipe at JSON path ``at`` (``written``: before
    templates), placed in the spec file."""
    if start is None:
        return SpecIssue("", None, None, at, problem.message)
    found = place(start, written, recipe, problem.offset)
    return SpecIssue(found.file, found.line, found.column, at, redact(problem.message))
