"""Plan-time checks of the names and keys a publish would create in a database.

A name the database would cut short, fold onto another or refuse fails later plans or
loads in confusing ways (PostgreSQL truncates a 64-byte name and every later plan sees a
column it did not ask for), so the planner refuses them up front, naming the column and
the limit. A column name holding a secret's value would be stored in the table, the plan
and the state: it is refused too, without printing it.
"""

from __future__ import annotations

from collections.abc import Sequence

from runner.results import ResultSchema
from runner.spec.secrets import redact
from runner.targets.dialect import Dialect


def _shown(name: str) -> str:
    return repr(redact(name))


def name_problems(
    dialect: Dialect | None,
    table: str,
    schema: ResultSchema | None,
    key: Sequence[str] = (),
    *,
    creates_key: bool = False,
) -> list[str]:
    """What stops ``table`` and the result columns from being created as named.

    ``dialect`` None (an adopted connection of unknown vendor) checks secrets only;
    ``creates_key``: the publish creates the table with ``key`` as its primary key.
    """
    problems: list[str] = []
    columns = list(schema.columns) if schema is not None else []
    if schema is not None and not columns:
        problems.append(
            "the results have no columns, and a table needs at least one (an empty JSON "
            "array names none: give the input its columns, such as a CSV header)"
        )
    for index, col in enumerate(columns, 1):
        if redact(col.name) != col.name:
            problems.append(
                f"result column {index} has a secret's value in its name; a column name is "
                "stored in the table, the plan and the state: rename it in the recipe"
            )
    if dialect is None:
        return problems
    problem = dialect.name_problem(table)
    if problem:
        problems.append(f"table name {_shown(table)} {problem}")
    for col in columns:
        problem = dialect.name_problem(col.name)
        if problem:
            problems.append(f"result column {_shown(col.name)} {problem}; rename it in the recipe")
    if dialect.fold_case:
        seen: dict[str, str] = {}
        for col in columns:
            other = seen.setdefault(col.name.lower(), col.name)
            if other != col.name:
                problems.append(
                    f"result columns {_shown(other)} and {_shown(col.name)} differ only in "
                    f"case, and {dialect.title or dialect.vendor} takes them for one name: "
                    "rename one in the recipe"
                )
    if creates_key and schema is not None:
        typed = [(k, c.type) for k in key if (c := schema.get(k)) is not None]
        problem = dialect.key_problem(typed)
        if problem:
            problems.append(problem)
    return problems
