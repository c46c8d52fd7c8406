"""A secret's value never appears in output, plan files, state or logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import publish, write_spec
from tests.conftest import PG_HOST, PG_PORT

SECRET = "p{{a}}#b@c/d%e?f"  # template braces, URL and comment characters

SPEC = """\
version: 1
name: leaky
connections:
  pg:
    vendor: postgres
    host: {host}
    port: {port}
    database: test
    username: postgres
    password: "{{{{ secret('PUBLISH_TEST_SECRET') }}}}"
    params:
      application_name: "publish-{{{{ secret('PUBLISH_TEST_SECRET') }}}}"
jobs:
  orders_clean:
    inputs:
      orders: data/orders.csv
    outputs: [avro]
targets:
  orders_out:
    job: orders_clean
    connection: pg
    path: [{schema}]
    table: orders
    action: truncateAndLoad
    inputFormat: avro
"""


def all_text(folder: Path) -> str:
    out = []
    for f in folder.rglob("*"):
        if f.is_file() and f.suffix in {".json", ".md", ".log", ".txt", ".yaml", ""}:
            out.append(f.read_text(errors="replace"))
    return "\n".join(out)


def test_secret_absent_everywhere(
    tmp_path: Path,
    pg_schema: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PUBLISH_TEST_SECRET", SECRET)
    log = tmp_path / "publish.log"
    monkeypatch.setenv("PUBLISH_LOG_FILE", str(log))
    monkeypatch.setenv("PUBLISH_LOG_DIR", str(tmp_path))
    spec = write_spec(tmp_path, SPEC.format(host=PG_HOST, port=PG_PORT, schema=pg_schema))
    outputs = []
    for args in (
        ["validate", str(spec)],
        ["render", str(spec)],
        ["plan", str(spec), "--out", str(tmp_path / "plan.json")],
        ["plan", str(spec), "--format", "json"],
        ["plan", str(spec), "--format", "markdown"],
        ["show", str(tmp_path / "plan.json"), "--format", "json"],
        ["apply", "--auto-approve", str(spec)],
        ["state", "show", str(spec)],
        ["-vv", "plan", str(spec)],
    ):
        r = publish(capsys, *args)
        assert r.code == 0, (args, r.err, r.out)
        outputs += [r.out, r.err]
    text = "\n".join(outputs) + all_text(tmp_path)
    assert "***" in publish(capsys, "render", str(spec)).out
    for variant in (SECRET, "p{{a}}#b@c", "p%7B%7Ba%7D%7D%23b%40c%2Fd%25e%3Ff"):
        assert variant not in text
