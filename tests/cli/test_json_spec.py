"""A spec written in JSON (which is YAML) is a spec to apply, not a plan file to refuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import count, publish, write_spec

SPEC = {
    "version": 1,
    "name": "shop",
    "connections": {"wh": {"vendor": "sqlite", "database": "wh.db"}},
    "jobs": {"j": {"inputs": {"orders": "data/orders.csv"}}},
    "targets": {
        "t": {"job": "j", "connection": "wh", "table": "orders", "action": "createAndLoad"}
    },
}


def test_apply_takes_a_json_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path, json.dumps(SPEC, indent=2))
    result = publish(capsys, "apply", "--auto-approve", str(spec))
    assert result.code == 0, result.err
    assert count(tmp_path / "wh.db", "orders") == 4


def test_apply_takes_a_flow_style_yaml_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = json.dumps(SPEC).replace('"version": 1', "version: 1")  # YAML, not JSON
    spec = write_spec(tmp_path, flow)
    result = publish(capsys, "apply", "--auto-approve", str(spec))
    assert result.code == 0, result.err


def test_a_json_file_that_is_neither_is_still_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    result = publish(capsys, "apply", "--auto-approve", str(other))
    assert result.code == 1
    assert "a JSON file that is not a publish plan" in result.err
