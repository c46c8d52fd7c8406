"""The quickstart's plans, text and markdown, after five edits: read them in tests/golden/.

Run ids, fingerprints, the lineage and the plan id change with every state, so they are
replaced by placeholders. ``PUBLISH_UPDATE_GOLDEN=1`` rewrites the files after a change
that is meant (review the diff).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.helpers import publish

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
CSV = "data/orders.csv"
YAML = "publish.yaml"


def _edit(folder: Path, name: str, change: Callable[[str], str]) -> None:
    path = folder / name
    path.write_text(change(path.read_text()))


EDITS: dict[str, Callable[[Path], None]] = {
    "value_changed": lambda f: _edit(
        f, CSV, lambda t: t.replace("1,alice,DE,120.50", "1,alice,DE,125.00")
    ),
    "row_added": lambda f: _edit(f, CSV, lambda t: t + "21,zoe,FR,42.00,2024-01-13 09:00:00\n"),
    "row_deleted": lambda f: _edit(f, CSV, lambda t: re.sub(r"(?m)^2,bob,.*\n", "", t)),
    "column_added": lambda f: _edit(
        f,
        YAML,
        lambda t: t.replace(
            "        ordered_at\n",
            "        ordered_at,\n        upper(country) as country_code\n",
            1,
        ),
    ),
    "column_retyped": lambda f: _edit(
        f,
        YAML,
        lambda t: t.replace(
            "cast(amount as double) as amount", "cast(amount as varchar) as amount", 1
        ),
    ),
}

_PLACEHOLDERS = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "LINEAGE"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "FINGERPRINT"),
    (re.compile(r"\b[0-9a-f]{12} -(&#62;|>) [0-9a-f]{12}\b"), r"OLD -\1 NEW"),
    (re.compile(r"\br[0-9a-f]{15}\b"), "RUN_ID"),
    (re.compile(r"\bplan [0-9a-f]{16}\b"), "plan PLAN_ID"),
]


def normalise(text: str) -> str:
    for pattern, placeholder in _PLACEHOLDERS:
        text = pattern.sub(placeholder, text)
    return text


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("golden") / "quickstart"
    shutil.copytree(
        ROOT / "publish_specs" / "quickstart",
        folder,
        ignore=shutil.ignore_patterns(".publish", "*.db"),
    )
    from runner.cli import run

    assert run(["apply", "--auto-approve", str(folder)]) == 0
    return folder


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_quickstart_plan_after_an_edit(
    applied: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    edit: str,
) -> None:
    capsys.readouterr()
    folder = tmp_path / "quickstart"
    shutil.copytree(applied, folder)
    EDITS[edit](folder)
    monkeypatch.chdir(tmp_path)
    for fmt, ext in (("text", "txt"), ("markdown", "md")):
        r = publish(capsys, "plan", "quickstart", "--format", fmt)
        got = normalise(r.out + r.err) + f"\n(exit {r.code})\n"
        golden = GOLDEN / f"quickstart_{edit}.{ext}"
        if os.environ.get("PUBLISH_UPDATE_GOLDEN"):
            golden.write_text(got)
        assert golden.exists(), f"{golden} missing: run with PUBLISH_UPDATE_GOLDEN=1"
        assert got == golden.read_text(), f"{golden} differs (PUBLISH_UPDATE_GOLDEN=1 rewrites it)"
