"""`publish validate` and `publish render` end to end (in-process), secrets never shown."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from runner.cli import run

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "publish_specs" / "quickstart"

#: a secret with every character that has tripped maskers and URL parsers
NASTY = "s3cr{{ 7*7 }}t#frag@host/p%41th?x=1"

SPEC = """\
version: 1
name: secrets
platform:
  type: trifacta
  url: https://example.com
  token: "{{ secret('CLI_TEST_TOKEN') }}"
state:
  backend: postgres
  url: "postgresql://user:{{ secret('CLI_TEST_TOKEN') }}@db/state"
connections:
  rs: {id: 2}
  pg:
    vendor: postgres
    host: db
    database: test
    password: "{{ secret('CLI_TEST_TOKEN') }}"
jobs:
  j: {wrangledDataset: 5}
targets:
  t: {job: j, connection: rs, table: t}
"""


@pytest.fixture
def secret_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLI_TEST_TOKEN", NASTY)
    spec = tmp_path / "publish.yaml"
    spec.write_text(SPEC)
    return spec


def _assert_no_secret(text: str) -> None:
    for form in (NASTY, "s3cr{{", "#frag@host", "s3cr%7B", "p%41th"):
        assert form not in text


def test_validate_quickstart(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", str(QUICKSTART)]) == 0
    assert capsys.readouterr().out == f"{QUICKSTART}: valid (1 connection, 2 jobs, 4 targets)\n"


def test_validate_json_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", str(QUICKSTART), "--format", "json", "--env", "prod"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "valid": True,
        "errors": [],
        "secrets": [],
        "missingSecrets": [],
    }


def test_render_quickstart_prod(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["render", str(QUICKSTART), "--env", "prod", "--var", "schema=main"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"# {QUICKSTART / 'publish.yaml'} rendered for environment prod")
    assert "min_amount: 10" in out
    assert "cast(amount as double) >= 10\n" in out
    assert "environments" not in out
    assert out.count("protect: true") == 4


def test_render_var_file_and_var(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    varfile = tmp_path / "vars.yaml"
    varfile.write_text("min_amount: 50\nschema: from_file\n")
    args = ["render", str(QUICKSTART), "--var-file", str(varfile), "--var", "schema=cli"]
    assert run(args) == 0
    out = capsys.readouterr().out
    assert ">= 50" in out
    assert "- cli\n" in out


def test_render_masks_secrets(secret_spec: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert run(["render", str(secret_spec)]) == 0
    out, err = capfd.readouterr()
    assert "token: '***'" in out
    assert "password: '***'" in out
    assert "url: '***'" in out
    _assert_no_secret(out + err)


def test_validate_never_shows_a_secret(
    secret_spec: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert run(["validate", str(secret_spec)]) == 0
    assert run(["validate", str(secret_spec), "--format", "json"]) == 0
    out, err = capfd.readouterr()
    _assert_no_secret(out + err)


def test_errors_about_a_secret_value_never_show_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("CLI_TEST_TOKEN", NASTY)
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        SPEC.replace("table: t}", "table: \"{{ secret('CLI_TEST_TOKEN') }}\"}").replace(
            "wrangledDataset: 5", "wrangledDataset: \"{{ secret('CLI_TEST_TOKEN') }}\""
        )
    )
    caplog.set_level(logging.DEBUG)
    assert run(["validate", str(spec)]) == 1
    assert run(["validate", str(spec), "--format", "json"]) == 1
    assert run(["-vv", "render", str(spec)]) == 0
    out, err = capfd.readouterr()
    assert "$.targets.t.table: the string '***' is not valid" in err
    assert "$.jobs.j.wrangledDataset: expected an integer, got the string '***'" in err
    _assert_no_secret(out + err + caplog.text)


def test_template_errors_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "t.yaml"
    spec.write_text("version: 1\nname: '{{ undefined_var }}'\n")
    assert run(["render", str(spec)]) == 1
    err = capsys.readouterr().err
    assert f"{spec}:2:7: $.name: template error: 'undefined_var' is undefined" in err
    assert "Traceback" not in err


def test_unknown_environment_through_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", str(QUICKSTART), "--env", "staging"]) == 1
    err = capsys.readouterr().err
    assert "unknown environment 'staging'; known: prod" in err


def test_help_reads_well(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--env", "--var", "--var-file", "--format"):
        assert flag in out


EXAMPLES = sorted((REPO / "publish_specs").rglob("*.yaml"))


CASES = [(spec, None) for spec in EXAMPLES] + [
    (spec, "prod") for spec in EXAMPLES if "\n  prod:" in spec.read_text()
]


@pytest.mark.parametrize(
    ("spec", "environment"),
    CASES,
    ids=lambda v: str(v.relative_to(REPO)) if isinstance(v, Path) else str(v),
)
def test_every_example_validates(
    spec: Path,
    environment: str | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("TRIFACTA_TOKEN", "PG_PASSWORD"):
        monkeypatch.setenv(name, NASTY)
    args = ["validate", str(spec)] + (["--env", environment] if environment else [])
    assert run(args) == 0, capsys.readouterr().err
