"""Help texts (issue 11, defect 8): every flag explained, nothing hidden, SPEC defaults to ``.``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import BASIC, publish, write_spec


def test_apply_help_shows_select_exclude_replace(capsys: pytest.CaptureFixture[str]) -> None:
    out = publish(capsys, "apply", "--help").out
    for flag in ("--select ADDR", "--exclude ADDR", "--replace ADDR"):
        assert flag in out


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        ("plan", "--format"),
        ("show", "--format"),
        ("validate", "--format"),
        ("apply", "--parallelism"),
        ("apply", "--lock-timeout"),
        ("state", "--lock-timeout"),
    ],
)
def test_every_option_has_help(capsys: pytest.CaptureFixture[str], command: str, flag: str) -> None:
    out = publish(capsys, command, "--help").out
    line = next(line for line in out.splitlines() if line.strip().startswith(flag))
    described = re.sub(r"\[default: [^\]]*\]", "", line.strip().removeprefix(flag))
    # "--format [text|json]  text: one error ..." : words follow the metavar
    assert re.search(r"(^|\s)[a-z]{3,}", described), f"{command} {flag} has no help: {line!r}"


def test_command_list_is_not_truncated(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = publish(capsys, "--help").out
    commands = out.split("Commands:")[1]
    assert "..." not in commands
    assert "and apply after 'yes'" in " ".join(out.split())


@pytest.mark.parametrize("command", ["validate", "plan", "render"])
def test_spec_defaults_to_the_current_folder(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    write_spec(tmp_path, BASIC)
    monkeypatch.chdir(tmp_path)
    r = publish(capsys, command)
    assert r.code == 0, r.err
    assert "publish" in publish(capsys, command, "--help").out  # usage still names SPEC
    assert "[SPEC]" in publish(capsys, command, "--help").out
