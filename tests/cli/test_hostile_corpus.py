"""The hostile corpus: every attack on `publish` fails cleanly, cheaply and touches nothing.

tests/corpus/hostile/<case>.yaml is one attack. Its header says what it is and what to
expect::

    # attack: what the spec tries
    # expect: a piece of the message the refusal must hold
    # exit: validate=1 render=1 plan=1     (the commands run, and each one's exit code)
    # setup: link PATH TARGET | fifo PATH | deep-state PATH   (what git cannot hold)

Each command runs in a child process under an address-space limit and must: exit as
listed (1 with the expected message; ``render`` exits 0 for attacks on what only
validate/plan look at, such as inputs or connection params, which render neither reads nor
opens), print no traceback, use under 2 s of CPU and under 300 MB of memory, and leave
every file outside the spec's folder as it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.hostile import (
    CORPUS,
    MAX_RSS_MB,
    MAX_SECONDS,
    Outcome,
    Zygote,
    commands,
    header,
    prepare,
    run_limited,
    snapshot,
)

CASES = sorted(CORPUS.glob("*.yaml"))


PARAMS = [(case, cmd, code) for case in CASES for cmd, code in commands(case)]


def _args(command: str) -> list[str]:
    return {"apply": ["apply", ".", "--auto-approve"]}.get(command, [command, "."])


def test_corpus_covers_every_attack() -> None:
    names = {c.stem.split("_")[0] for c in CASES}
    assert {"params", "reserved", "identifier", "path", "template", "yaml", "state",
            "results", "inputs"} <= names  # fmt: skip
    assert len(CASES) >= 30


def _check(case: Path, outcome: Outcome, code: int) -> None:
    shown = f"{case.stem}: exit {outcome.code}\n{outcome.err[-2000:]}"
    assert outcome.code == code, shown
    assert "Traceback" not in outcome.err + outcome.out, shown
    assert "Internal error" not in outcome.err, shown
    if code == 1:
        assert header(case)["expect"] in outcome.err + outcome.out, shown
        assert outcome.err.count("\n") <= 10, shown  # a clear message, not a flood
    assert outcome.cpu < MAX_SECONDS, f"{case.stem}: {outcome.cpu:.2f} s of CPU"
    assert outcome.rss_mb < MAX_RSS_MB, f"{case.stem}: {outcome.rss_mb:.0f} MB"


@pytest.mark.parametrize(
    ("case", "command", "code"), PARAMS, ids=[f"{c.stem}-{cmd}" for c, cmd, _ in PARAMS]
)
def test_hostile_case_fails_cleanly(
    case: Path, command: str, code: int, tmp_path: Path, zygote: Zygote
) -> None:
    spec, outside = prepare(case, tmp_path)
    before = snapshot(outside)
    outcome = zygote.run(_args(command), spec)
    _check(case, outcome, code)
    assert snapshot(outside) == before, f"{case.stem}: a file outside the spec folder changed"
    assert "root:x:0:0" not in outcome.out + outcome.err
    assert not (spec / "pwned").exists()


REAL = ["template_center", "yaml_alias_bytes", "inputs_symlink", "state_lock_symlink"]


@pytest.mark.parametrize("name", REAL)
def test_real_executable_on_hostile_cases(name: str, tmp_path: Path) -> None:
    """The whole path, interpreter start included, for a few cases (the rest fork)."""
    case = CORPUS / f"{name}.yaml"
    command, code = commands(case)[-1]
    spec, outside = prepare(case, tmp_path)
    before = snapshot(outside)
    outcome = run_limited(_args(command), spec)
    _check(case, outcome, code)
    assert snapshot(outside) == before
