"""`publish apply SPEC` stages SQLite rows while it plans (issue 16): the same result files,
state and table rows as a saved plan's apply, which stages them at publish."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from runner.targets import sqlite_ahead, sqlite_stage
from tests.cli.helpers import BASIC, publish, write_spec


def _rows(db: Path, table: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as c:
        return c.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()


def _results(folder: Path) -> dict[str, bytes]:
    root = folder / ".publish" / "results"
    return {
        str(p.relative_to(root).parts[2:]): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _state(folder: Path) -> dict[str, object]:
    state = json.loads(next((folder / ".publish").glob("*.state.json")).read_text())
    jobs = state["jobs"]["orders_clean"]
    return {"results": jobs["results"], "fingerprint": jobs["fingerprint"]}


@pytest.mark.skipif(not sqlite_stage.available(), reason="adbc-driver-sqlite is not installed")
def test_apply_spec_publishes_the_rows_staged_while_it_planned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[object] = []
    real = sqlite_ahead.take

    def take(*args: object) -> sqlite_stage.Staged | None:
        found = real(*args)  # type: ignore[arg-type]
        taken.append(found)
        return found

    monkeypatch.setattr(sqlite_ahead, "take", take)
    ahead = write_spec(tmp_path / "ahead", BASIC)
    assert publish(capsys, "apply", "--auto-approve", str(ahead)).code == 0
    assert len(taken) == 2 and all(t is not None for t in taken)  # both targets

    saved = write_spec(tmp_path / "saved", BASIC)
    plan = tmp_path / "saved" / "plan.json"
    assert publish(capsys, "plan", "--out", str(plan), str(saved)).code == 0
    taken.clear()
    assert publish(capsys, "apply", str(plan)).code == 0
    assert taken == [None, None]  # a saved plan's apply stages at publish

    for folder in (ahead.parent, saved.parent):
        assert not list(folder.glob(".*publish-stage*")), "staging files left"
    assert _results(ahead.parent) == _results(saved.parent)  # byte for byte
    assert _state(ahead.parent) == _state(saved.parent)
    for table in ("orders", "orders_copy"):
        got = _rows(ahead.parent / "warehouse.db", table)
        assert got == _rows(saved.parent / "warehouse.db", table) and len(got) == 3


@pytest.mark.parametrize(("outputs", "codec"), [("[avro, csv]", "LZ4"), ("[parquet]", "ZSTD")])
def test_a_previews_parquet_is_lz4_unless_it_is_a_declared_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], outputs: str, codec: str
) -> None:
    import pyarrow.parquet as pq

    body = BASIC.replace("outputs: [avro, csv]", f"outputs: {outputs}")
    body = body.replace("inputFormat: csv", "inputFormat: avro")
    if outputs == "[parquet]":
        body = body.replace("inputFormat: avro", "inputFormat: parquet")
    spec = write_spec(tmp_path, body)
    assert publish(capsys, "plan", str(spec)).code == 0
    (part,) = (tmp_path / ".publish" / "previews").rglob("parquet/*.parquet")
    compression = pq.ParquetFile(part).metadata.row_group(0).column(0).compression
    assert str(compression).startswith(codec)
