"""Random damage to a spec, or random text, gives SpecError (with positions); never a crash."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.errors import SpecError
from runner.spec.api import load_spec
from runner.spec.load import parse_text
from runner.spec.render import render
from runner.spec.validate import validate

REPO = Path(__file__).resolve().parents[3]
BASE = yaml.safe_load((REPO / "publish_specs" / "quickstart" / "publish.yaml").read_text())
WEIRD: list[Any] = [
    None,
    True,
    0,
    -1,
    1.5,
    "",
    "x",
    "{{ vars.schema }}",
    "{{ nope }}",
    "../../etc/passwd",
    [],
    ["a", 1],
    {},
    {"a": {"b": []}},
    "a`b;",
    "é" * 70,
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


def _damaged(rng: random.Random) -> Any:
    doc = yaml.safe_load(yaml.safe_dump(BASE))
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(_paths(doc)[1:])
        holder = doc
        for part in path[:-1]:
            holder = holder[part]
        if rng.random() < 0.2 and isinstance(holder, dict):
            del holder[path[-1]]
        else:
            holder[path[-1]] = rng.choice(WEIRD)
    return doc


@pytest.mark.parametrize("seed", range(60))
def test_damaged_spec_fails_cleanly(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text("id\n1\n")
    spec = tmp_path / "publish.yaml"
    doc = _damaged(rng)
    spec.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    try:
        loaded = load_spec(spec, environment="prod" if seed % 2 else None)
    except SpecError as exc:
        assert exc.issues
        for issue in exc.issues:
            assert issue.file == str(spec)
            assert issue.path.startswith("$")
            assert issue.message
    else:  # the damage left a valid spec: it holds exactly what the file says
        assert loaded.name == doc["name"]
        for section in ("connections", "jobs", "targets"):
            assert set(getattr(loaded, section)) == set(doc.get(section) or {}), section


YAMLISH = "abc:-[]{},&*!|>'\"#%@`\n 01.{}~<=?\\\t\u00e9"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=YAMLISH, max_size=120))
def test_any_text_loads_or_fails_with_spec_issues(text: str) -> None:
    try:
        doc = parse_text("version: 1\nname: fuzz\n" + text, "f.yaml")
        rendered = render(doc)
    except SpecError as exc:
        assert exc.issues
        issues = list(exc.issues)
    else:
        issues = validate(doc, rendered, REPO)
        if not issues:  # valid: the name it was given survived whatever the text added
            assert rendered.data["name"] == "fuzz"
    for issue in issues:
        assert issue.file == "f.yaml"
        assert issue.path.startswith("$") and issue.message
        assert issue.line is None or issue.line >= 1
