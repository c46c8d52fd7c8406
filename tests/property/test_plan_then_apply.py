"""Property (issue 11): a plan that passes is an apply that works, on SQLite and PostgreSQL.

For random specs (1-3 local jobs over CSV/JSON/Parquet inputs with odd column names, recipes
that project, rename, cast and filter, targets with every action and onSchemaChange) and
random data edits between runs, each step runs ``plan --detailed-exitcode --out``:

- exit 0 or 2: ``apply`` of that saved plan (or of the spec, drawn) must exit 0, and the
  plan made right after must exit 0 (nothing left to do);
- exit 1: the error must name its place (the spec's FILE:LINE:COL, a target or job
  address, or the input file);
- never exit 3 (a bug).

Bounded for CI: 25 SQLite + 15 PostgreSQL examples, derandomized (the same examples on
every run). Set ``PUBLISH_PROPERTY_EXAMPLES=N`` to run N random examples per database
instead (e.g. 500 overnight): a failure prints the example and a ``@reproduce_failure``.
``PUBLISH_PROPERTY_SHRINK=0`` reports failures as found, without shrinking them (faster).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from runner.cli import run
from tests.conftest import PG_HOST, PG_PORT, require_service
from tests.property.model import Job, spec_text, write_input
from tests.property.strategies import jobs

_MORE = int(os.environ.get("PUBLISH_PROPERTY_EXAMPLES", "0"))
_PHASES = tuple(
    p for p in Phase if p is not Phase.shrink or os.environ.get("PUBLISH_PROPERTY_SHRINK") != "0"
)


def _settings(ci_examples: int) -> settings:
    return settings(
        max_examples=_MORE or ci_examples,
        derandomize=not _MORE,
        phases=_PHASES,
        deadline=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


#: a plan error names its place: FILE:LINE:COL, an address, or an input file
PLACE = re.compile(r"publish\.yaml:\d+:\d+|\b(target|job)\.\w+|data/j\d\.\w+")


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = run(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


def _steps(made: list[Job]) -> int:
    return 1 + max(len(j.edits) for j in made)


def check(
    capsys: pytest.CaptureFixture[str], made: list[Job], connection: str, schema: str, saved: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spec = folder / "publish.yaml"
        plan_file = folder / "plan.json"
        for step in range(_steps(made)):
            spec.write_text(spec_text(made, connection, schema, step), encoding="utf-8")
            for job in made:
                versions = [job.data, *job.edits]
                write_input(folder, job, versions[min(step, len(versions) - 1)])
            code, out = _run(
                capsys, "plan", "--detailed-exitcode", "--out", str(plan_file), str(spec)
            )
            assert code in (0, 1, 2), f"step {step}: plan exit {code}\n{out}"
            event(f"plan exit {code}")
            if code == 1:
                assert PLACE.search(out), f"step {step}: plan error without a place\n{out}"
                continue
            applied = str(plan_file) if saved else str(spec)
            code, applied_out = _run(capsys, "apply", "--auto-approve", applied)
            assert code == 0, f"step {step}: plan passed, apply exit {code}\n{out}\n{applied_out}"
            code, again = _run(capsys, "plan", "--detailed-exitcode", str(spec))
            assert code == 0, f"step {step}: plan after apply exit {code}\n{again}"


@_settings(25)
@given(made=jobs(), saved=st.booleans())
def test_sqlite(capsys: pytest.CaptureFixture[str], made: list[Job], saved: bool) -> None:
    connection = json.dumps({"vendor": "sqlite", "database": "wh.db"})
    check(capsys, made, connection, "main", saved)


@pytest.fixture(scope="module")
def pg_up() -> Iterator[None]:
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    yield


@pytest.mark.postgres
@_settings(15)
@given(made=jobs(), saved=st.booleans())
def test_postgres(
    pg_up: None, capsys: pytest.CaptureFixture[str], made: list[Job], saved: bool
) -> None:
    import psycopg

    schema = f"Odd_{uuid.uuid4().hex[:8]}"
    connection = json.dumps(
        {
            "vendor": "postgres",
            "host": PG_HOST,
            "port": PG_PORT,
            "database": "test",
            "username": "postgres",
        }
    )
    params = {"host": PG_HOST, "port": PG_PORT, "user": "postgres", "dbname": "test"}
    with psycopg.connect(**params, autocommit=True) as c:  # type: ignore[arg-type]
        c.execute(f'create schema "{schema}"')
    try:
        check(capsys, made, connection, schema, saved)
    finally:
        with psycopg.connect(**params, autocommit=True) as c:  # type: ignore[arg-type]
            c.execute(f'drop schema if exists "{schema}" cascade')
