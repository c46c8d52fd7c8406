"""Plan errors name the spec position of what they are about: ``FILE:LINE:COL: target.x: ...``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import BASIC, publish, write_spec


def _line_of(spec: Path, text: str) -> int:
    return next(i for i, line in enumerate(spec.read_text().splitlines(), 1) if text in line)


def test_upsert_key_error_points_at_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = BASIC.replace("action: truncateAndLoad\n", "action: upsert\n    key: [order_id]\n", 1)
    spec = write_spec(tmp_path, body)
    r = publish(capsys, "plan", str(spec))
    assert r.code == 1
    line = _line_of(spec, "key: [order_id]")
    assert re.search(
        rf"- {re.escape(str(spec))}:{line}:\d+: target\.orders_out: upsert key order_id", r.err
    ), r.err


def test_shared_table_error_points_at_a_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC.replace("table: orders_copy", "table: orders"))
    r = publish(capsys, "plan", str(spec))
    assert r.code == 1
    lines = spec.read_text().splitlines()
    line = [i for i, text in enumerate(lines, 1) if text == "    table: orders"][1]  # validate
    assert (
        f"{spec}:{line}:12: $.targets.orders_copy.table: targets orders_out and orders_copy all "
        "publish into warehouse.main.orders"
    ) in r.err


def test_flag_errors_have_no_spec_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC)
    r = publish(capsys, "plan", str(spec), "--select", "target.nope")
    assert r.code == 1
    assert "  - --select target.nope: no such object in the spec" in r.err
