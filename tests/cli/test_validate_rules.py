"""validate catches what plan would refuse: plain http to a remote API, undeclared --var."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli.helpers import BASIC, publish, write_spec


def test_validate_refuses_plain_http_to_a_remote_api(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(__file__).resolve().parents[2]
    spec = tmp_path / "t.yaml"
    shutil.copy(root / "publish_specs" / "trifacta-redshift.yaml", spec)
    monkeypatch.setenv("TRIFACTA_TOKEN", "token-value")
    monkeypatch.setenv("TRIFACTA_URL", "http://example.com")
    r = publish(capsys, "validate", str(spec))
    assert r.code == 1
    assert "$.platform.url: refusing plain http:// to example.com" in r.err
    monkeypatch.setenv("TRIFACTA_URL", "http://127.0.0.1:8080")
    assert publish(capsys, "validate", str(spec)).code == 0


def test_an_undeclared_var_warns_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(
        tmp_path, BASIC.replace("connections:", "vars:\n  schema: main\nconnections:", 1)
    )
    r = publish(capsys, "validate", str(spec), "--var", "schena=x")
    assert r.code == 0
    assert "--var schena: the spec declares no such variable in vars; did you mean schema?" in r.err
