"""publish init writes a starter that validates, plans and applies on a fresh machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import publish


def test_init_then_apply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "starter"
    r = publish(capsys, "init", str(folder))
    assert r.code == 0, r.err
    assert publish(capsys, "validate", str(folder)).code == 0
    r = publish(capsys, "apply", "--auto-approve", str(folder))
    assert r.code == 0, r.err + r.out
    assert publish(capsys, "plan", "--detailed-exitcode", str(folder)).code == 0
    r = publish(capsys, "init", str(folder))
    assert r.code == 1
    assert "already exists" in r.err
