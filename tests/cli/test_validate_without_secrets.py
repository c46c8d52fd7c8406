"""Issue 15.1: `validate` needs no secret values (a pull request from a fork has none).

An unset secret() is an opaque placeholder: structure, references and templates are
checked, the secrets plan and apply will need are listed, and the exit code is 0.
``--require-secrets`` restores the check that every secret is set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.cli.helpers import publish

SPEC = """\
version: 1
name: forked
state:
  backend: postgres
  url: "{{ secret('FORK_STATE_URL') }}"
connections:
  pg:
    vendor: postgres
    host: db.example.com
    port: 5432
    database: sales
    username: publisher
    password: "{{ secret('FORK_PG_PASSWORD') }}"
    params: {sslpassword: "{{ secret('FORK_PG_PASSWORD') }}"}
jobs:
  orders: {inputs: {orders: orders.csv}}
targets:
  orders_out: {job: orders, connection: pg, path: [public], table: orders}
"""
NAMES = ("FORK_STATE_URL", "FORK_PG_PASSWORD")


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "orders.csv").write_text("id\n1\n")
    path = tmp_path / "publish.yaml"
    path.write_text(SPEC)
    return path


def test_spec_using_secrets_validates_with_no_environment(spec: Path) -> None:
    """The whole CLI in a process whose environment holds no variable at all."""
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        [sys.executable, "-m", "runner.cli", "validate", str(spec)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{spec}: valid (1 connection, 1 job, 1 target)",
        "plan and apply need the secrets: FORK_PG_PASSWORD (not set here), "
        "FORK_STATE_URL (not set here)",
    ]
    assert done.stderr == ""


def test_json_lists_the_secrets(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.environ["FORK_PG_PASSWORD"] = "pa55-w0rd"
    try:
        result = publish(capsys, "validate", str(spec), "--format", "json")
    finally:
        del os.environ["FORK_PG_PASSWORD"]
    assert result.code == 0
    assert json.loads(result.out) == {
        "valid": True,
        "errors": [],
        "secrets": ["FORK_PG_PASSWORD", "FORK_STATE_URL"],
        "missingSecrets": ["FORK_STATE_URL"],
    }
    assert "pa55-w0rd" not in result.out + result.err


def test_require_secrets_restores_the_check(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = publish(capsys, "validate", str(spec), "--require-secrets")
    assert result.code == 1
    assert (
        f"{spec}:5:8: $.state.url: secret('FORK_STATE_URL'): environment variable "
        "FORK_STATE_URL is not set"
    ) in result.err


def test_structure_and_references_are_still_checked(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec.write_text(spec.read_text().replace("connection: pg", "connection: pgg"))
    result = publish(capsys, "validate", str(spec))
    assert result.code == 1
    assert "connection 'pgg' is not defined under connections; did you mean 'pg'?" in result.err


def test_templates_around_a_secret_are_still_checked(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = spec.read_text().replace(
        "password: \"{{ secret('FORK_PG_PASSWORD') }}\"",
        "password: \"{{ secret('FORK_PG_PASSWORD') ~ vars.nope }}\"",
    )
    spec.write_text(text)
    result = publish(capsys, "validate", str(spec))
    assert result.code == 1
    assert "$.connections.pg.password: template error: 'dict object' has no attribute" in (
        result.err
    )


def test_plan_still_needs_the_secrets(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = publish(capsys, "plan", str(spec))
    assert result.code == 1
    assert "environment variable FORK_STATE_URL is not set" in result.err


def test_a_secret_placeholder_skips_only_its_own_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORK_PORT", raising=False)
    (tmp_path / "orders.csv").write_text("id\n1\n")
    spec = tmp_path / "publish.yaml"
    spec.write_text(textwrap.dedent(SPEC).replace("port: 5432", "port: \"{{ secret('FORK_PORT') }}\"")
                    .replace("table: orders", "table: _publish_ledger"))  # fmt: skip
    result = publish(capsys, "validate", str(spec))
    assert result.code == 1
    assert result.err.splitlines()[0].endswith("'_publish_ledger' is reserved: names starting "
                                               "with _pub_ or _publish_ are publish's own tables "
                                               "(the ledger _publish_ledger, staging and swap "
                                               "tables); choose another name")  # fmt: skip
    assert "port" not in result.err
