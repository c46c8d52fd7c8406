"""Issue 10, defects 1-5 and 8: what an untrusted spec is refused at validate (and render).

Each test here failed before its guard existed; docs/security.md names the line whose
removal makes it fail again.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

import pytest

from runner.errors import PlatformError, SpecError, TargetError
from runner.spec import load, sandbox
from runner.spec.api import load_spec
from runner.spec.load import parse_text
from runner.spec.params import DRIVER_PARAMS, allowed_params
from runner.spec.render import render
from runner.spec.schema import SCHEMA_FILE
from runner.spec.validate import LEDGER_TABLE
from runner.targets import _common
from runner.targets.base import LEDGER_TABLE as TARGETS_LEDGER


def _spec(folder: Path, body: str) -> Path:
    (folder / "data").mkdir(exist_ok=True)
    (folder / "data" / "orders.csv").write_text("id\n1\n")
    spec = folder / "publish.yaml"
    spec.write_text(textwrap.dedent(body))
    return spec


def _errors(spec: Path) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    return [str(i) for i in info.value.issues]


MYSQL = """\
version: 1
name: hostile
connections:
  db:
    vendor: mysql
    host: 127.0.0.1
    database: test
    username: root
    params: PARAMS
jobs:
  j: {inputs: {orders: data/orders.csv}}
targets:
  t:
    job: j
    connection: db
    path: [test]
    table: TABLE
"""


def _mysql(folder: Path, params: str = "{}", table: str = "orders") -> Path:
    return _spec(folder, MYSQL.replace("PARAMS", params).replace("TABLE", table))


# -- 1. connection params are an allow-list per vendor -----------------------------------


@pytest.mark.parametrize(
    "param",
    ["init_command: 'drop table x'", "sql_mode: ANSI", "read_default_file: /etc/my.cnf",
     "client_flag: 65536", "autocommit: false", "local_infile: true"],
)  # fmt: skip
def test_mysql_params_that_run_sql_are_refused(tmp_path: Path, param: str) -> None:
    errors = _errors(_mysql(tmp_path, "{" + param + "}"))
    key = param.split(":")[0]
    assert len(errors) == 1
    assert f"$.connections.db.params.{key}: '{key}' is not a MySQL driver parameter" in errors[0]
    assert errors[0].startswith(f"{tmp_path / 'publish.yaml'}:9:")


def test_allowed_params_validate(tmp_path: Path) -> None:
    spec = load_spec(_mysql(tmp_path, "{ssl_verify_cert: true, localInfile: false}"))
    assert dict(spec.connections["db"].params) == {
        "ssl_verify_cert": "true",
        "localInfile": "false",
    }


def test_trifacta_only_params_are_refused_on_the_local_platform(tmp_path: Path) -> None:
    (error,) = _errors(_mysql(tmp_path, "{connectStrOpts: 'x=1'}"))
    assert "'connectStrOpts' is a trifacta platform parameter" in error


@pytest.mark.parametrize("key", ["options", "service", "passfile", "dbname"])
def test_libpq_params_that_redirect_or_reconfigure_are_refused(tmp_path: Path, key: str) -> None:
    body = MYSQL.replace("vendor: mysql", "vendor: postgres").replace("PARAMS", f"{{{key}: x}}")
    (error,) = _errors(_spec(tmp_path, body.replace("TABLE", "t")))
    assert f"'{key}' is not a PostgreSQL driver parameter" in error


def test_schema_lists_match_the_code() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    rules = schema["$defs"]["connection"]["allOf"][0]["else"]["allOf"]
    listed = {
        r["if"]["properties"]["vendor"]["const"]: set(
            r["then"]["properties"]["params"]["propertyNames"]["enum"]
        )
        for r in rules
        if "params" in r.get("then", {}).get("properties", {})
    }
    assert listed == {v: set(allowed_params(v)) for v in DRIVER_PARAMS}


def test_targets_pass_only_allowed_params_to_the_driver() -> None:
    from runner.spec.model import Connection

    conn = Connection("db", vendor="mysql", host="h", params={"init_command": "drop table t"})
    with pytest.raises(TargetError, match=r"connection\.db: params\.init_command is not a driver"):
        _common.params_of(conn)
    ok = Connection("db", vendor="mysql", host="h", params={"ssl_ca": "ca.pem"})
    assert _common.params_of(ok) == {"ssl_ca": "ca.pem"}


# -- 2. names publish keeps for itself ----------------------------------------------------


@pytest.mark.parametrize("table", ["_publish_ledger", "_PUBLISH_LEDGER", "_pub_stg_orders",
                                   "_publish_stage_ab12"])  # fmt: skip
def test_reserved_table_names_are_refused(tmp_path: Path, table: str) -> None:
    (error,) = _errors(_mysql(tmp_path, table=table))
    assert f"$.targets.t.table: '{table}' is reserved" in error
    assert LEDGER_TABLE == TARGETS_LEDGER


# -- 3. identifiers match in full; a path no deeper than the vendor's levels -------------


@pytest.mark.parametrize("table", ['"orders\\n"', "|\n      orders"])
def test_identifier_with_a_trailing_newline_is_refused(tmp_path: Path, table: str) -> None:
    (error,) = _errors(_mysql(tmp_path, table=table))
    assert "$.targets.t.table: the string 'orders\\n' is not valid" in error


def test_spec_name_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    spec = _mysql(tmp_path)
    spec.write_text(spec.read_text().replace("name: hostile", 'name: "hostile\\n"'))
    (error,) = _errors(spec)
    assert "$.name: the string 'hostile\\n' is not valid" in error


def test_path_deeper_than_the_vendor_is_refused(tmp_path: Path) -> None:
    spec = _mysql(tmp_path)
    spec.write_text(spec.read_text().replace("path: [test]", "path: [test, extra]"))
    (error,) = _errors(spec)
    assert "$.targets.t.path: mysql has 1 level above a table (the database)" in error


def test_sqlite_path_is_main(tmp_path: Path) -> None:
    spec = _mysql(tmp_path)
    text = spec.read_text().replace("vendor: mysql", "vendor: sqlite").replace("params: {}", "")
    spec.write_text(text.replace("host: 127.0.0.1", "").replace("path: [test]", "path: [other]"))
    (error,) = _errors(spec)
    assert "a SQLite table lives in schema main" in error


# -- 4. template budgets --------------------------------------------------------------------

TEMPLATES = [
    ("{{ 'a'|center(2*10**9) }}", "center(2000000000) would make 2,000,000,000 characters"),
    ("{{ 'a'.ljust(2000000000) }}", "ljust(2000000000) would make"),
    ("{{ '1'.zfill(10**9) }}", "zfill(1000000000) would make"),
    ("{{ ('a\\n' * 400000)|indent(1000) }}", "indent would make 400,801,000 characters"),
    ("{{ lipsum(10**7) }}", "lipsum(10000000): at most 100 paragraphs"),
    ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
     "loop more than 1,000,000 times"),
    ("{% set ns = namespace(s='a') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
     "{% endfor %}{{ ns.s }}", "'~' would make 1,048,576 characters"),
    ("{% set ns = namespace(s='a') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
     "{% endfor %}{{ ns.s }}", "'+' would make 1,048,576 characters"),
    ("{{ 9 ** (9 ** 9) }}", "9 ** 387420489 would make"),
    ("{% set ns = namespace(n=99) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}"
     "{% endfor %}{{ ns.n }}", "an integer '*' would make 6,790 bits (at most 4,096)"),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "macros call each other more than 32"),
    ("{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(30) }}",
     "of CPU time"),
    ("{{ '%0999999999d' % 1 }}", "a % format width would make 999,999,999"),
    ("{{ '%999999999d'|format(1) }}", "a % format width would make 999,999,999"),
    ("{{ ('x' * 999999).join(['a'] * 999999) }}", "join would make"),
    ("{{ ('a' * 999999).replace('a', 'bbbbbbbbbb') }}", "replace would make"),
    ("{{ [1]|batch(10**9, 'x')|list|length }}", "batch(1000000000) would make"),
    ("{{ (1).to_bytes(10**9, 'big') }}", "to_bytes(1000000000) would make"),
]  # fmt: skip


@pytest.mark.parametrize(("template", "message"), TEMPLATES, ids=[m for _, m in TEMPLATES])
def test_template_budgets(template: str, message: str) -> None:
    text = "version: 1\nname: x\ndescription: " + json.dumps(template) + "\n"
    start = time.process_time()
    result = render(parse_text(text, "s.yaml"))
    assert time.process_time() - start < 1.5
    (issue,) = result.issues
    assert str(issue).startswith("s.yaml:3:14: $.description: template stopped")
    assert message in str(issue)


def test_budget_error_names_the_template_line() -> None:
    text = "version: 1\nname: x\ndescription: |\n  ok\n  {{ 'a'|center(10**8) }}\n"
    (issue,) = render(parse_text(text, "s.yaml")).issues
    assert str(issue).startswith("s.yaml:3:14: $.description: template stopped (line 2 of the")


def test_spec_wide_output_budget_counts_repeated_values() -> None:
    values = "\n".join("  - \"{{ 'x' * 900000 }}\"" for _ in range(20))
    text = f"version: 1\nname: x\nlist:\n{values}\n"
    result = render(parse_text(text, "s.yaml"))
    (issue,) = result.issues  # one error, not one per value
    assert "render to more than 16,000,000 characters" in str(issue)


def test_spec_cpu_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "SPEC_SECONDS", 0.2)
    slow = "{% for i in range(30000) %}{{ i }}{% endfor %}"
    values = "\n".join(f"  - {json.dumps(slow + str(n))}" for n in range(40))
    result = render(parse_text(f"version: 1\nname: x\nlist:\n{values}\n", "s.yaml"))
    assert any("templates used more than 0.2 s of CPU time" in str(i) for i in result.issues)


def test_template_source_budget() -> None:
    text = "version: 1\nname: x\ndescription: " + json.dumps("{{ 1 }}" * 20000) + "\n"
    (issue,) = render(parse_text(text, "s.yaml")).issues
    assert "the template is 140,000 characters long (at most 100,000 per value)" in str(issue)


def test_ordinary_templates_still_work() -> None:
    text = (
        "version: 1\nname: x\nvars: {n: 3}\n"
        "a: \"{% for i in range(vars.n) %}{{ i }}{% endfor %}-{{ 2 ** 10 }}-{{ 'ab' ~ 'c' }}\"\n"
        "b: \"{{ 'x'|center(5) }}|{{ '%05d'|format(42) }}|{{ lipsum(1, false)|length > 0 }}\"\n"
    )
    result = render(parse_text(text, "s.yaml"))
    assert result.issues == []
    assert result.data["a"] == "012-1024-abc"
    assert result.data["b"] == "  x  |00042|True"


# -- 5. YAML budgets in bytes and digits ----------------------------------------------------


def test_alias_budget_counts_bytes() -> None:
    blob = "x" * 400_000
    aliases = ", ".join(["*a"] * 50)
    text = f"version: 1\nname: x\nblob: &a {blob}\nmany: [{aliases}]\n"
    assert len(text) < 500_000
    with pytest.raises(SpecError, match="expands to more than 16 MB of text through YAML aliases"):
        parse_text(text, "s.yaml")


def test_huge_integer_is_a_clear_error() -> None:
    with pytest.raises(SpecError) as info:
        parse_text("version: 1\nname: x\nport: " + "9" * 5001 + "\n", "s.yaml")
    (issue,) = info.value.issues
    assert str(issue) == (
        "s.yaml:3:7: $.port: an integer of 5001 characters is too long (at most 100); "
        "quote it if it is meant as text"
    )


def test_huge_hex_integer_is_a_clear_error() -> None:
    with pytest.raises(SpecError, match="an integer of 20002 characters is too long"):
        parse_text("version: 1\nname: x\nport: 0x" + "f" * 20000 + "\n", "s.yaml")


def test_file_size_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "MAX_FILE_BYTES", 1000)
    spec = _spec(tmp_path, "version: 1\nname: x\ndescription: " + "y" * 2000 + "\n")
    (error,) = _errors(spec)
    assert error == f"{spec}: $: cannot read: is larger than 0 MB"


def test_many_templates_stop_at_the_cpu_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a budget small enough that 4,000 templates overrun it on any machine (rendering got
    # fast enough that 4,000 fit in the real 1 s on an idle one)
    monkeypatch.setattr(sandbox, "SPEC_SECONDS", 0.02)
    lines = "\n".join(f'  - "{{{{ {i} + 1 }}}}"' for i in range(4000))
    spec = _spec(tmp_path, f"version: 1\nname: x\nlist:\n{lines}\n")
    start = time.process_time()
    errors = _errors(spec)
    assert time.process_time() - start < 2.5
    assert any("templates used more than 0.02 s of CPU time" in e for e in errors)


# -- 8. inputs stay inside the spec's folder ------------------------------------------------

JOB = """\
version: 1
name: inputs
INPUTS_ROOT
connections:
  db: {vendor: sqlite, database: out.db}
jobs:
  j: {inputs: {orders: FILE}}
targets:
  t: {job: j, connection: db, table: orders}
"""


def _inputs(folder: Path, file: str, root: str | None = None) -> Path:
    text = JOB.replace("FILE", json.dumps(file))
    return _spec(folder, text.replace("INPUTS_ROOT", f"inputsRoot: {root}" if root else ""))


@pytest.mark.parametrize("file", ["../outside.csv", "{abs}", "data/../../outside.csv"])
def test_inputs_outside_the_spec_folder_are_refused(tmp_path: Path, file: str) -> None:
    (tmp_path / "outside.csv").write_text("secret\n1\n")
    folder = tmp_path / "spec"
    folder.mkdir()
    spec = _inputs(folder, file.replace("{abs}", str(tmp_path / "outside.csv")))
    (error,) = _errors(spec)
    assert "$.jobs.j.inputs.orders: input file" in error
    assert "leads outside the spec's folder; inputs stay inside" in error


def test_symlink_out_of_the_spec_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside.csv").write_text("secret\n1\n")
    folder = tmp_path / "spec"
    folder.mkdir()
    (folder / "link.csv").symlink_to(tmp_path / "outside.csv")
    (error,) = _errors(_inputs(folder, "link.csv"))
    assert "input file 'link.csv' leads through a symbolic link outside the spec's folder" in error


def test_inputs_root_allows_a_named_folder(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "orders.csv").write_text("id\n1\n")
    folder = tmp_path / "spec"
    folder.mkdir()
    spec = load_spec(_inputs(folder, "../shared/orders.csv", root="../shared"))
    assert spec.inputs_root == "../shared"
    (error,) = _errors(_inputs(folder, "../elsewhere.csv", root="../shared"))
    assert "leads outside the spec's folder or inputsRoot" in error


def test_fifo_is_refused_saying_what_it_is(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.csv")
    (error,) = _errors(_inputs(tmp_path, "pipe.csv"))
    assert "input file 'pipe.csv' is a FIFO (named pipe), not a regular file" in error


def test_device_is_refused_saying_what_it_is(tmp_path: Path) -> None:
    (tmp_path / "zero.csv").symlink_to("/dev/zero")
    (error,) = _errors(_inputs(tmp_path, "zero.csv", root="/"))
    assert "input file 'zero.csv' is in /dev (a kernel interface), not a data file" in error


def test_proc_is_refused_saying_what_it_is(tmp_path: Path) -> None:
    (error,) = _errors(_inputs(tmp_path, "/proc/self/environ", root="/"))
    assert "input file '/proc/self/environ' is in /proc (a kernel interface)" in error


def test_folder_is_refused_saying_what_it_is(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()
    (error,) = _errors(_inputs(tmp_path, "dir.csv"))
    assert "input file 'dir.csv' is a folder, not a regular file" in error


def test_platform_refuses_what_validate_refuses(tmp_path: Path) -> None:
    from runner.platforms.local import LocalPlatform
    from runner.spec.model import Job, Spec

    (tmp_path / "outside.csv").write_text("id\n1\n")
    folder = tmp_path / "spec"
    folder.mkdir()
    spec = Spec(name="t", file=folder / "spec.yaml", environment="default")
    platform = LocalPlatform(spec, folder / ".publish")
    job = Job("j", inputs={"orders": "../outside.csv"})
    with pytest.raises(PlatformError, match="leads outside the spec's folder"):
        platform.job_fingerprint(job)


def test_spec_file_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "publish.yaml")
    with pytest.raises(SpecError, match="is a FIFO \\(named pipe\\), not a regular file"):
        load_spec(tmp_path / "publish.yaml")
