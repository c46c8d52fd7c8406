"""The spec corpus drives `publish validate`: good specs pass, bad ones give exact errors.

tests/corpus/bad/<case>.yaml holds a broken spec; <case>.expected the exact stderr of
`publish validate <case>.yaml` run from that folder (plus <case>.args: extra arguments,
one per line). Regenerate an .expected file only after reading the new messages.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.cli import run

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
GOOD = sorted((CORPUS / "good").glob("*.yaml"))
BAD = sorted((CORPUS / "bad").glob("*.yaml"))

SECRETS = {
    "CORPUS_PG_PASSWORD": "pg-pass{{w}}#@/%rd",
    "CORPUS_TOKEN": "token-value-{{x}}",
    "CORPUS_STATE_URL": "postgresql://u:p%40ss@db.example/state",
}


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    for name in ("PUBLISH_CORPUS_UNSET_VAR", "PUBLISH_CORPUS_UNSET_SECRET", "CORPUS_PG_HOST"):
        monkeypatch.delenv(name, raising=False)


def _args(spec: Path) -> list[str]:
    extra = spec.with_suffix(".args")
    return extra.read_text(encoding="utf-8").split() if extra.exists() else []


def test_corpus_is_not_empty() -> None:
    assert len(GOOD) >= 5
    assert len(BAD) >= 15


@pytest.mark.parametrize("spec", GOOD, ids=lambda p: p.stem)
def test_good_spec_is_valid(
    spec: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(spec.parent)
    assert run(["validate", spec.name]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{spec.name}: valid (")
    assert err == ""


@pytest.mark.parametrize("spec", BAD, ids=lambda p: p.stem)
def test_bad_spec_reports_exact_errors(
    spec: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(spec.parent)
    code = run(["validate", spec.name, *_args(spec)])
    out, err = capsys.readouterr()
    expected = spec.with_suffix(".expected").read_text(encoding="utf-8")
    assert code == 1
    assert out == ""
    assert err.splitlines() == expected.splitlines()
    assert "Traceback" not in err


@pytest.mark.parametrize("spec", BAD, ids=lambda p: p.stem)
def test_bad_spec_json_lists_the_same_errors(
    spec: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(spec.parent)
    code = run(["validate", spec.name, *_args(spec), "--format", "json"])
    out, _ = capsys.readouterr()
    report = json.loads(out)
    assert code == 1
    assert report["valid"] is False
    text = [
        line for line in spec.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    ][:-1]  # the last line is the count
    assert len(report["errors"]) == len(text)
    for error, line in zip(report["errors"], text, strict=True):
        assert set(error) == {"file", "line", "column", "path", "message"}
        where = error["file"]
        if error["line"] is not None:
            where += f":{error['line']}:{error['column']}"
        assert line == f"{where}: {error['path']}: {error['message']}"


def test_three_errors_on_three_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(CORPUS / "bad")
    assert run(["validate", "three_errors.yaml"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(":")[1] for line in lines[:3]] == ["12", "13", "17"]
    assert [line.split(": ")[1] for line in lines[:3]] == [
        "$.targets.orders.tabel",
        "$.targets.orders.action",
        "$.targets.other.table",
    ]
    assert lines[3] == "three_errors.yaml: 3 errors"


def test_python_tag_runs_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    spec = tmp_path / "tag.yaml"
    spec.write_text(f"version: 1\nname: !!python/object/apply:os.system ['touch {marker}']\n")
    assert run(["validate", str(spec)]) == 1
    assert not marker.exists()


def test_error_path_keeps_the_users_relative_path(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(CORPUS)
    assert run(["validate", "bad/duplicate_key.yaml"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bad/duplicate_key.yaml:5:1: $.connections: duplicate key")
