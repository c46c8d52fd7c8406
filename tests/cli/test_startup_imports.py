"""Start-up stays lean (issue 16): `--help` and `validate` never import the heavy modules.

Each case runs the CLI in a fresh interpreter and lists the modules it imported: polars,
pyarrow, SQLAlchemy and the database drivers cost ~0.3 s of imports and are needed only
to plan, apply or read data. jsonschema is imported only to explain an invalid spec.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("polars", "pyarrow", "sqlalchemy", "psycopg", "pymysql", "rich", "fastavro", "jsonschema")
DRIVERS = ("sqlalchemy", "psycopg", "pymysql", "rich")

NO_RECIPE = """\
version: 1
name: lean
connections:
  lite: {vendor: sqlite, database: w.db}
  pg: {vendor: postgres, host: 127.0.0.1, database: test, username: postgres}
  maria: {vendor: mysql, host: 127.0.0.1, database: test, username: root}
"""

_PROBE = textwrap.dedent(
    """\
    import json, sys
    from runner.cli import run
    code = run(sys.argv[1:])
    sys.stdout.flush()
    names = sorted({m.split(".")[0] for m in sys.modules})
    print("\\nMODULES " + json.dumps({"code": code, "modules": names}))
    """
)


def imported(*args: str) -> tuple[int, set[str]]:
    """The exit code of `publish ARGS` and the top-level modules it imported."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    line = done.stdout.rsplit("MODULES ", 1)[-1]
    found = json.loads(line)
    return found["code"], set(found["modules"])


@pytest.mark.parametrize(
    "args",
    [("--help",), ("validate", "--help"), ("plan", "--help"), ("apply", "--help"), ("--version",)],
)
def test_help_imports_nothing_heavy(args: tuple[str, ...]) -> None:
    code, modules = imported(*args)
    assert code == 0
    assert modules.isdisjoint(HEAVY), sorted(modules & set(HEAVY))


def test_validate_without_a_local_recipe_imports_nothing_heavy(tmp_path: Path) -> None:
    (tmp_path / "publish.yaml").write_text(NO_RECIPE)
    code, modules = imported("validate", str(tmp_path))
    assert code == 0
    assert modules.isdisjoint(HEAVY), sorted(modules & set(HEAVY))


def test_validate_of_a_trifacta_spec_imports_nothing_heavy() -> None:
    code, modules = imported("validate", "publish_specs/trifacta-redshift.yaml")
    assert code == 0
    assert modules.isdisjoint(HEAVY), sorted(modules & set(HEAVY))


def test_validate_of_the_quickstart_imports_no_driver() -> None:
    """A local recipe may need polars to be checked; never SQLAlchemy or a driver."""
    code, modules = imported("validate", "publish_specs/quickstart")
    assert code == 0
    assert modules.isdisjoint(DRIVERS), sorted(modules & set(DRIVERS))


def test_an_invalid_spec_is_still_explained(tmp_path: Path) -> None:
    """The fast check says only yes/no: an error still gets jsonschema's full explanation."""
    (tmp_path / "publish.yaml").write_text(NO_RECIPE.replace("vendor: sqlite", "vendor: sqlit"))
    done = subprocess.run(
        [sys.executable, "-m", "runner.cli", "validate", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "'sqlit' is not one of" in done.stderr
    assert "did you mean 'sqlite'" in done.stderr
