"""Plan words and counts (issue 11, defects 3 and 4): the summary counts the lines below it by
marker; an object removed from the spec is forgotten (never "deleted"); drift exits 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.helpers import BASIC, assert_valid_plan, publish, write_spec


def _markers(text: str) -> dict[str, int]:
    counts = {"+": 0, "~": 0, "-/+": 0, "-": 0, ">": 0}
    for line in text.splitlines():
        m = re.match(r"^\s*(-/\+|\+|~|-|>) (connection|job|target)\.", line)
        if m:
            counts[m.group(1)] += 1
    return counts


def test_the_summary_counts_the_lines_by_marker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC)
    r = publish(capsys, "plan", str(spec))
    counts = _markers(r.out)
    assert counts == {"+": 3, "~": 0, "-/+": 0, "-": 0, ">": 1}  # connection and two tables
    assert r.out.startswith(
        "Plan: 3 to create, 0 to update, 0 to replace, 0 to forget, 1 to run.\n"
    )


def test_a_removed_target_is_forgotten_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    spec.write_text(spec.read_text().split("  orders_copy:")[0])
    text = publish(capsys, "plan", str(spec)).out
    assert "  - target.orders_copy: forget\n" in text and "delete" not in text
    assert "0 to replace, 1 to forget, 0 to run" in text
    doc = assert_valid_plan(publish(capsys, "plan", "--format", "json", str(spec)).out)
    assert [(c["address"], c["action"]) for c in doc["changes"]] == [  # type: ignore[index]
        ("target.orders_copy", "forget")
    ]
    assert doc["summary"]["forget"] == 1 and "delete" not in doc["summary"]  # type: ignore[index]
    md = publish(capsys, "plan", "--format", "markdown", str(spec)).out
    assert "delete" not in md.lower().replace("deleted", "")
    assert "### Forgotten (1): removed from the spec, tables untouched" in md
    r = publish(capsys, "apply", "--auto-approve", str(spec))
    assert r.code == 0 and "forgotten" in r.out
    state = json.loads(next((tmp_path / ".publish").glob("*.state.json")).read_text())
    assert "orders_copy" not in state["publications"]
