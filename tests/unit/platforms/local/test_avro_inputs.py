"""Avro inputs: every valid corpus file reads exactly as fastavro reads it; invalid ones
give one error naming the block; the schema comes from the header alone."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from runner.platforms.local import avro_read
from runner.platforms.local.avro_blocks import AvroReadError
from runner.platforms.local.avro_schema import layout_of
from tests.corpus.avro.corpus import expected_rows, invalid_cases, valid_files
from tests.corpus.avro.make_corpus import write_big

VALID = valid_files()
INVALID = invalid_cases()


def same(got: Any, want: Any) -> bool:
    """Equal values of equal types; NaN equals NaN and -0.0 differs from 0.0."""
    if isinstance(want, float):
        if not isinstance(got, float):
            return False
        if math.isnan(want):
            return math.isnan(got)
        return got == want and math.copysign(1, got) == math.copysign(1, want)
    if isinstance(want, int) and not isinstance(want, bool) and isinstance(got, pl.Series):
        return False
    return type(got) is type(want) and got == want


def assert_reads_like_fastavro(path: Path, frame: pl.DataFrame) -> None:
    names, rows = expected_rows(path)
    assert frame.columns == names
    got = frame.rows()
    assert len(got) == len(rows)
    mismatches = [
        (i, names[j], g[j], w[j])
        for i, (g, w) in enumerate(zip(got, rows, strict=True))
        for j in range(len(names))
        if not same(g[j], w[j])
    ]
    assert mismatches == [], f"{path.name}: {mismatches[:3]}"


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_every_valid_file_reads_exactly_as_fastavro_reads_it(path: Path) -> None:
    assert_reads_like_fastavro(path, avro_read.read_avro(path))


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_the_schema_comes_from_the_header_and_matches_the_rows(path: Path) -> None:
    assert avro_read.empty_frame(path).schema == avro_read.read_avro(path).schema


def test_polars_and_fastavro_decode_the_same_files_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast = [p for p in VALID if avro_read.layout(p).polars_ok]
    assert len(fast) >= 6  # logical, flat defaults, many blocks (both writers)...
    monkeypatch.setattr(avro_read, "_polars_group", lambda header, group: None)
    for path in fast:
        assert_reads_like_fastavro(path, avro_read.read_avro(path))


def test_one_megabyte_strings_read_exactly(tmp_path: Path) -> None:
    path = write_big(tmp_path)
    frame = avro_read.read_avro(path)
    assert_reads_like_fastavro(path, frame)
    assert frame["text"].str.len_bytes().min() > 1 << 20  # type: ignore[operator]


def test_big_files_stream_in_groups_of_blocks() -> None:
    path = next(p for p in VALID if p.name == "many_blocks.fastavro.null.avro")
    frames = list(avro_read.iter_avro(path, batch_rows=500))
    assert len(frames) > 3
    assert all(f.height < 1500 for f in frames)
    assert pl.concat(frames)["i"].to_list() == list(range(3000))


@pytest.mark.parametrize(("path", "pattern"), INVALID, ids=[p.name for p, _ in INVALID])
def test_invalid_files_name_the_block_and_why(
    path: Path, pattern: str, capfd: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(AvroReadError) as err:
        avro_read.empty_frame(path)
        avro_read.read_avro(path)
    message = str(err.value)
    assert re.search(pattern, message), message
    assert "\n" not in message
    captured = capfd.readouterr()
    assert "panicked" not in captured.err and "backtrace" not in captured.err


def test_polars_panics_stay_off_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    """The corpus file that makes polars panic: the panic text must not reach fd 2."""
    path = next(p for p, _ in INVALID if p.name == "polars_panics.avro")
    with pytest.raises(pl.exceptions.PanicException), avro_read.quiet_stderr():
        pl.read_avro(path)
    assert capfd.readouterr().err == ""


def test_other_output_on_stderr_is_kept(capfd: pytest.CaptureFixture[str]) -> None:
    import os

    with avro_read.quiet_stderr():
        os.write(2, b"a warning\n")
    assert capfd.readouterr().err == "a warning\n"


@pytest.mark.parametrize(
    ("schema", "polars_ok", "types"),
    [
        (
            {"type": "record", "name": "r", "fields": [{"name": "a", "type": "long"}]},
            True,
            {"a": "int64"},
        ),
        (
            {
                "type": "record",
                "name": "r",
                "fields": [{"name": "a", "type": "long", "default": 1}],
            },
            True,  # polars reads it once the default is dropped
            {"a": "int64"},
        ),
        (
            {
                "type": "record",
                "name": "r",
                "fields": [
                    {"name": "m", "type": {"type": "map", "values": "int"}},
                    {"name": "u", "type": ["null", "int", "string"]},
                    {"name": "a", "type": {"type": "array", "items": "bytes"}},
                    {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X"]}},
                    {
                        "name": "d",
                        "type": {
                            "type": "bytes",
                            "logicalType": "decimal",
                            "precision": 39,
                            "scale": 3,
                        },
                    },
                    {
                        "name": "bad",
                        "type": {
                            "type": "bytes",
                            "logicalType": "decimal",
                            "precision": 2,
                            "scale": 3,
                        },
                    },
                ],
            },
            False,
            {
                "m": "json",
                "u": "json",
                "a": "json",
                "e": "string",
                "d": "decimal(39,3)",
                "bad": "binary",
            },
        ),
        ("long", False, {"value": "int64"}),
        ({"type": "array", "items": "long"}, False, {"value": "json"}),
    ],
)
def test_the_documented_mapping(schema: Any, polars_ok: bool, types: dict[str, str]) -> None:
    shape = layout_of(schema, "null")
    assert shape.polars_ok is polars_ok
    assert shape.logical == types


def test_polars_gets_a_schema_without_defaults_and_named_references() -> None:
    enum = {"type": "enum", "name": "E", "namespace": "n", "symbols": ["A"], "default": "A"}
    schema = {
        "type": "record",
        "name": "r",
        "namespace": "n",
        "fields": [
            {"name": "a", "type": ["null", "string"], "default": None},
            {"name": "e", "type": enum},
            {"name": "f", "type": "E"},
            {"name": "g", "type": "n.E", "default": "A"},
        ],
    }
    shape = layout_of(schema, "snappy")
    assert shape.polars_ok
    inline = {"type": "enum", "name": "E", "namespace": "n", "symbols": ["A"]}
    assert shape.polars_schema == {
        "type": "record",
        "name": "r",
        "namespace": "n",
        "fields": [
            {"name": "a", "type": ["null", "string"]},
            {"name": "e", "type": inline},
            {"name": "f", "type": inline},
            {"name": "g", "type": inline},
        ],
    }


def test_codecs_polars_does_not_know_use_fastavro() -> None:
    schema = {"type": "record", "name": "r", "fields": [{"name": "a", "type": "long"}]}
    assert layout_of(schema, "deflate").polars_ok
    assert not layout_of(schema, "zstandard").polars_ok
    assert not layout_of(schema, "bzip2").polars_ok


def test_the_generator_writes_the_committed_corpus(tmp_path: Path) -> None:
    from tests.corpus.avro import make_corpus

    assert make_corpus.main(["make_corpus", str(tmp_path)]) == 0
    here = Path(make_corpus.__file__).parent
    for folder in ("valid", "invalid"):
        made = sorted(p.name for p in (tmp_path / folder).iterdir())
        assert made == sorted(p.name for p in (here / folder).iterdir())
    expected = (here / "invalid" / "expected.json").read_text()
    assert (tmp_path / "invalid" / "expected.json").read_text() == expected


@pytest.mark.parametrize(
    ("recipe", "marks"),
    [
        ("select * from t", {"j": "json", "d": "decimal(76,2)"}),
        ("select j as k, x from t where x > 1", {"k": "json"}),
        ("select a.j, b.d from t a join t b on a.x = b.x", {"j": "json", "d": "decimal(76,2)"}),
        ("select distinct j from t order by j", {"j": "json"}),
        ("select j from t union all select j from t", {"j": "json"}),
        ("select upper(j) as j from t", {}),  # computed from JSON: plain text
        ("select cast(j as varchar) as j from t", {}),
    ],
)
def test_json_and_wide_decimals_keep_their_type_only_when_passed_through(
    recipe: str, marks: dict[str, str]
) -> None:
    from runner.platforms.local.logical import carried

    schema = pl.Schema({"j": pl.String, "x": pl.Int64, "d": pl.String})
    inputs = {"t": (schema, {"j": "json", "d": "decimal(76,2)"})}
    assert carried(recipe, inputs) == marks


def test_nested_values_holding_bytes_publish_as_json_with_base64(tmp_path: Path) -> None:
    from runner.results import iter_frames, write_results

    frame = pl.DataFrame(
        {"n": [{"b": b"\x00\xff", "f": 1.5}, None], "l": [[b"\x01"], []]},
    )
    written = write_results(frame, tmp_path, ["avro", "parquet"])
    for results in written.values():
        assert results.schema.to_json() == [["n", "json"], ["l", "json"]]
        rows = pl.concat(list(iter_frames(results))).rows()
        assert rows == [('{"b":"AP8=","f":1.5}', '["AQ=="]'), (None, "[]")]


def test_a_job_scans_avro_lazily_from_staged_arrow_parts(tmp_path: Path) -> None:
    from runner.platforms.local.inputs import scan_input

    path = next(p for p in VALID if p.name == "many_blocks.fastavro.zstandard.avro")
    lazy = scan_input(path, staging=tmp_path)
    assert "IPC" in lazy.explain() or "ipc" in lazy.explain().lower()
    parts = list(tmp_path.glob("avro-*/part-*.arrow"))
    assert parts
    assert lazy.collect().equals(avro_read.read_avro(path))
    empty = next(p for p in VALID if p.name.startswith("empty."))
    assert scan_input(empty, staging=tmp_path).collect().schema == avro_read.layout(empty).schema


def test_nested_values_keep_nan_infinities_and_exact_decimals_in_json(tmp_path: Path) -> None:
    import datetime as dt
    from decimal import Decimal

    from runner.results import iter_frames, write_results

    frame = pl.DataFrame(
        {
            "s": [{"f": float("nan"), "g": -0.0, "d": Decimal("1.10"), "t": dt.date(2020, 1, 2)}],
            "l": [[float("inf"), float("-inf"), 0.1]],
        },
        schema_overrides={
            "s": pl.Struct(
                {"f": pl.Float64, "g": pl.Float64, "d": pl.Decimal(10, 2), "t": pl.Date}
            ),
        },
    )
    written = write_results(frame, tmp_path, ["parquet"])["parquet"]
    assert pl.concat(list(iter_frames(written))).rows() == [
        ('{"f":"NaN","g":-0.0,"d":"1.10","t":"2020-01-02"}', '["Infinity","-Infinity",0.1]')
    ]


def test_reading_works_without_a_stderr(tmp_path: Path) -> None:
    """A daemon with fd 2 closed still reads Avro (nothing to keep clean there)."""
    import subprocess
    import sys

    path = next(p for p in VALID if p.name == "primitives.fastavro.snappy.avro")
    code = (
        "import os, sys; os.close(2); sys.stderr = None\n"
        "from pathlib import Path\n"
        "from runner.platforms.local.avro_read import read_avro\n"
        f"print(read_avro(Path({str(path)!r})).height)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "13", done.stdout


def test_polars_decodes_every_file_it_is_given() -> None:
    """polars_ok is not a guess: polars reads each of those files (no silent fallback)."""
    from runner.platforms.local.avro_blocks import iter_groups, read_header

    chosen = [p for p in VALID if avro_read.layout(p).polars_ok]
    assert any(p.name.startswith("flat_defaults.apache") for p in chosen)
    for path in chosen:
        shape = avro_read.layout(path)
        with path.open("rb") as fh:
            header = read_header(fh)
            schema = shape.polars_schema
            raw = header.raw if schema is None else header.with_schema(schema)
            for group in iter_groups(fh, header, 1000):
                assert avro_read._polars_group(raw, group) is not None, path.name
