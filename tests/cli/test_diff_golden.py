"""Text and markdown plans of the quickstart after five data edits (tests/golden/diff/).

Each case applies the quickstart, edits data/orders.csv, and compares the plan with its
golden file; run ids, lineage, plan ids and paths are replaced by placeholders.
Regenerate with ``PUBLISH_UPDATE_GOLDEN=1 pytest tests/cli/test_diff_golden.py``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import publish

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "publish_specs" / "quickstart"
GOLDEN = REPO / "tests" / "golden" / "diff"


def _replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text
        return text.replace(old, new)

    return edit


EDITS: dict[str, Callable[[str], str]] = {
    "one_value_changed": _replace("4,dave,US,230.10", "4,dave,US,231.10"),
    "row_added": lambda text: text + "21,kim,SE,45.00,2024-01-13 09:00:00\n",
    "row_removed": _replace("2,bob,FR,80.00,2024-01-03 11:02:00\n", ""),
    "customer_renamed": _replace("6,erin,GB,99.99", "6,erin-lee,GB,99.99"),
    "several_edits": lambda text: (
        _replace("9,grace,DE,42.00", "9,grace,DE,")(
            _replace("11,heidi,NL,64.30,2024-01-08", "11,heidi,NL,64.30,2024-02-08")(text)
        )
        + "22,liam,IE,19.99,2024-01-14 10:00:00\n"
    ),
}


def normalise(text: str) -> str:
    text = re.sub(r"Spec quickstart \([^)]*\)", "Spec quickstart (<spec>)", text)
    text = re.sub(r"\br[0-9a-f]{15}\b", "<run>", text)
    text = re.sub(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<lineage>", text
    )
    return re.sub(r"\bplan [0-9a-f]{16}\b", "plan <id>", text)


@pytest.mark.parametrize("edit", sorted(EDITS))
@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_plan_after_a_data_edit(
    edit: str, fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, folder, ignore=shutil.ignore_patterns(".publish", "*.db*"))
    assert publish(capsys, "apply", "--auto-approve", str(folder)).code == 0
    csv = folder / "data" / "orders.csv"
    csv.write_text(EDITS[edit](csv.read_text()))
    r = publish(capsys, "plan", "--format", fmt, str(folder))
    assert r.code == 0, r.err
    got = normalise(r.out)
    golden = GOLDEN / f"{edit}.{'txt' if fmt == 'text' else 'md'}"
    if os.environ.get("PUBLISH_UPDATE_GOLDEN") == "1":
        golden.write_text(got)
    assert got == golden.read_text()
