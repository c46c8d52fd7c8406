"""Every valid corpus Avro file publishes into SQLite through the CLI (input -> ``select *``
-> target); every invalid one is one clear error naming the file, with no traceback and
no panic text, also when run as a separate process."""

from __future__ import annotations

import math
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from runner.platforms.local.avro_read import layout
from tests.cli.helpers import publish
from tests.corpus.avro.corpus import expected_rows, invalid_cases, valid_files

PUBLISH = [sys.executable, "-m", "runner.cli"]


def has_nan(path: Path) -> bool:
    _, rows = expected_rows(path)
    return any(isinstance(v, float) and math.isnan(v) for row in rows for v in row)


def table_name(path: Path) -> str:
    return re.sub(r"\W", "_", path.name.removesuffix(".avro"))


def spec_for(folder: Path, files: list[Path]) -> Path:
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    lines = [
        "version: 1",
        "name: avro",
        "connections:",
        "  db:",
        "    vendor: sqlite",
        "    database: out.db",
        "jobs:",
    ]
    for path in files:
        shutil.copy(path, data / path.name)
        name = table_name(path)
        lines += [
            f"  {name}:",
            "    inputs:",
            f"      t: data/{path.name}",
            "    recipe: select * from t",
            "    outputs: [avro]",
        ]
    lines.append("targets:")
    for path in files:
        name = table_name(path)
        lines += [
            f"  {name}:",
            f"    job: {name}",
            "    connection: db",
            f"    table: {name}",
            "    action: truncateAndLoad",
            "    inputFormat: avro",
        ]
    spec = folder / "publish.yaml"
    spec.write_text("\n".join(lines) + "\n")
    return spec


def test_every_valid_file_publishes_into_sqlite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = valid_files(tmp_path / "big")
    spec = spec_for(tmp_path / "project", files)
    r = publish(capsys, "apply", "--auto-approve", str(spec))
    # SQLite stores NaN as NULL, so a file holding NaN is the documented refusal
    # (docs/types.md), naming the column and row, at plan; every other file publishes
    refused = [p for p in files if has_nan(p)]
    assert r.code == (1 if refused else 0), r.err + r.out
    assert "Traceback" not in r.err
    for path in refused:
        assert re.search(rf"target\.{table_name(path)}: .* is NaN at row \d+", r.err), path
    if refused:
        left_out = [f"--exclude=target.{table_name(p)}" for p in refused]
        r = publish(capsys, "apply", "--auto-approve", *left_out, str(spec))
        assert r.code == 0, r.err + r.out
    state = tmp_path / "project" / ".publish"
    assert list(state.glob("results/*/.inputs-*")) == []  # the staged Arrow parts are gone
    with sqlite3.connect(tmp_path / "project" / "out.db") as db:
        for path in (p for p in files if p not in refused):
            names, rows = expected_rows(path)
            table = table_name(path)
            assert db.execute(f'select count(*) from "{table}"').fetchone()[0] == len(rows)
            text = [c.name for c in layout(path).columns if c.logical in ("json", "string")]
            for column in text:
                got = [v for (v,) in db.execute(f'select "{column}" from "{table}" order by rowid')]
                want = [row[names.index(column)] for row in rows]
                assert got == want, f"{path.name}: {column}"


def test_json_columns_are_json_in_the_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [p for p in valid_files() if p.name.startswith("maps.apache")]
    spec = spec_for(tmp_path, files)
    r = publish(capsys, "plan", "--format", "json", str(spec))
    assert r.code == 0, r.err
    assert '"json"' in r.out


INVALID = invalid_cases()


@pytest.mark.parametrize(("path", "pattern"), INVALID, ids=[p.name for p, _ in INVALID])
def test_an_invalid_file_is_one_error_naming_it(
    path: Path, pattern: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = spec_for(tmp_path, [path])
    r = publish(capsys, "apply", "--auto-approve", str(spec))
    assert r.code == 1
    lines = [line for line in (r.err + r.out).splitlines() if f"data/{path.name}" in line]
    # one error (the progress line and the closing summary both show it)
    errors = {re.sub(r" \([\d.]+s\)$", "", line[line.index("cannot read") :]) for line in lines}
    assert len(errors) == 1, r.err + r.out
    (error,) = errors
    assert re.search(pattern, error), error
    assert len(error) < 300
    assert "Traceback" not in r.err + r.out


def test_no_panic_text_reaches_the_terminal(tmp_path: Path) -> None:
    """In a separate process, stderr is what a user sees: no Rust panic, no traceback."""
    for path, pattern in INVALID:
        if path.name not in ("polars_panics.avro", "corrupt_deflate.avro", "bad_utf8.avro"):
            continue
        spec = spec_for(tmp_path / path.stem, [path])
        done = subprocess.run(
            [*PUBLISH, "apply", "--auto-approve", str(spec)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 1, done.stdout + done.stderr
        for text in (done.stderr, done.stdout):
            assert "panicked" not in text and "backtrace" not in text
            assert "Traceback" not in text
        assert re.search(pattern, done.stderr + done.stdout)
        assert f"data/{path.name}" in done.stderr + done.stdout
