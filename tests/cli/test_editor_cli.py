"""Editors and CI: --version, publish schema [--path], shell completion, init's $schema line,
--log-format json."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from runner import __version__
from tests.cli.helpers import BASIC, publish, write_spec

ROOT = Path(__file__).resolve().parents[2]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    r = publish(capsys, "--version")
    assert r.code == 0
    assert r.out.strip() == f"publish, version {__version__}"


def test_schema_prints_the_installed_schema_and_its_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    r = publish(capsys, "schema", "--path")
    path = Path(r.out.strip())
    assert r.code == 0 and path.is_file() and path.name == "publish-spec.schema.json"
    r = publish(capsys, "schema")
    assert json.loads(r.out) == json.loads(path.read_text())
    r = publish(capsys, "schema", "--plan", "--path")
    assert Path(r.out.strip()).name == "plan.schema.json"


def test_init_schema_line_resolves_to_the_installed_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "deep" / "starter"
    assert publish(capsys, "init", str(folder)).code == 0
    first = (folder / "publish.yaml").read_text().splitlines()[0]
    m = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert m, first
    ref = Path(m.group(1))
    assert not ref.is_absolute()  # a committed spec names no machine's absolute path
    resolved = (folder / ref).resolve()
    assert resolved == Path(publish(capsys, "schema", "--path").out.strip()).resolve()
    assert json.loads(resolved.read_text())["title"] == "publish spec"


def test_completion_script_and_completions(capsys: pytest.CaptureFixture[str]) -> None:
    r = publish(capsys, "completion", "bash")
    assert r.code == 0 and "_PUBLISH_COMPLETE=bash_complete" in r.out
    env = {
        **os.environ,
        "_PUBLISH_COMPLETE": "bash_complete",
        "COMP_WORDS": "publish pl",
        "COMP_CWORD": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "runner.cli"], env=env, capture_output=True, text=True, timeout=60
    )
    assert "plain,plan" in done.stdout.splitlines()
    env.update(COMP_WORDS="publish plan --for", COMP_CWORD="2")
    done = subprocess.run(
        [sys.executable, "-m", "runner.cli"], env=env, capture_output=True, text=True, timeout=60
    )
    assert "plain,--format" in done.stdout.splitlines()


def test_log_format_json_writes_one_object_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC)
    r = publish(capsys, "--log-format", "json", "validate", str(spec), "--var", "nosuch=1")
    assert r.code == 0, r.err
    lines = [json.loads(line) for line in r.err.splitlines() if line.strip()]
    assert lines, r.err
    warning = lines[0]
    assert warning["level"] == "warning" and warning["logger"].startswith("runner")
    assert "nosuch" in warning["message"]
    assert {"time", "level", "logger", "message"} <= set(warning)
    r = publish(capsys, "validate", str(spec), "--var", "nosuch=1")
    assert r.err.startswith("WARNING runner")  # text stays the default


def test_log_format_json_errors_are_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC)
    r = publish(capsys, "--log-format", "json", "plan", str(spec), "--select", "target.nope")
    assert r.code == 1
    (line,) = [json.loads(x) for x in r.err.splitlines() if x.strip()]
    assert line["level"] == "error" and line["event"] == "error"
    assert "target.nope" in line["message"] and line["error"].endswith("Error")
    r = publish(capsys, "plan", str(spec), "--select", "target.nope")
    assert r.err.startswith("Error: ")
