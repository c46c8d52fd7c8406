"""Result files: every logical type through every format, bounded streaming, hashes."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from runner import results as results_module
from runner.results import (
    ResultsCancelled,
    ResultSet,
    _encode_expr,
    iter_frames,
    polars_dtype,
    write_results,
)

FORMATS = ("avro", "csv", "json", "parquet")


def every_type() -> pl.DataFrame:
    berlin = pl.Series(
        [dt.datetime(2020, 1, 1, 1, 2, 3, 123456), None, dt.datetime(2000, 6, 1, 12)]
    ).dt.replace_time_zone("Europe/Berlin")
    return pl.DataFrame(
        {
            "b": [True, None, False],
            "i8": pl.Series([1, None, -128], dtype=pl.Int8),
            "i16": pl.Series([1, None, -300], dtype=pl.Int16),
            "i32": pl.Series([1, None, 2_000_000_000], dtype=pl.Int32),
            "i64": [1, None, 9_000_000_000_000],
            "f32": pl.Series([1.5, None, -2.25], dtype=pl.Float32),
            "f64": [0.1, None, 1e300],
            "dec": pl.Series([Decimal("1.25"), None, Decimal("-3.10")], dtype=pl.Decimal(12, 2)),
            "s": ['x,"y\nz', None, "long " * 2000],
            "bin": [b"ab\x00\xff", None, b"\x01"],
            "d": [dt.date(2020, 1, 1), None, dt.date(1900, 12, 31)],
            "t": [dt.time(1, 2, 3, 456789), None, dt.time(0, 0)],
            "ts": [dt.datetime(2020, 1, 1, 1, 2, 3, 123456), None, dt.datetime(1960, 1, 1)],
            "tz": berlin,
            "u8": pl.Series([1, None, 255], dtype=pl.UInt8),
            "nested": [[1, 2], None, []],
        }
    )


EXPECTED_TYPES = [
    ["b", "boolean"],
    ["i8", "int8"],
    ["i16", "int16"],
    ["i32", "int32"],
    ["i64", "int64"],
    ["f32", "float32"],
    ["f64", "float64"],
    ["dec", "decimal(12,2)"],
    ["s", "string"],
    ["bin", "binary"],
    ["d", "date"],
    ["t", "time"],
    ["ts", "timestamp"],
    ["tz", "timestamptz"],
    ["u8", "int16"],
    ["nested", "json"],
]


def read_all(results: ResultSet, batch_rows: int = 250_000) -> pl.DataFrame:
    frames = list(iter_frames(results, batch_rows))
    assert frames, "no frames"
    return pl.concat(frames)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ResultSet]:
    return write_results(every_type(), tmp_path_factory.mktemp("run"), FORMATS, slice_rows=2)


def test_schema_records_logical_types(written: dict[str, ResultSet]) -> None:
    for results in written.values():
        assert results.schema.to_json() == EXPECTED_TYPES
        assert results.rows == 3


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_type_round_trips(written: dict[str, ResultSet], fmt: str) -> None:
    got = read_all(written[fmt])
    assert [str(t) for t in got.dtypes] == [str(polars_dtype(t)) for _, t in EXPECTED_TYPES], (
        "dtypes come from the recorded schema"
    )
    first, nulls, last = got.rows()
    assert nulls == (None,) * len(EXPECTED_TYPES)
    assert first[0] is True and last[0] is False
    assert (first[1], last[1], last[2], last[3], last[4]) == (
        1,
        -128,
        -300,
        2_000_000_000,
        9 * 10**12,
    )
    assert (first[5], last[5], first[6], last[6]) == (1.5, -2.25, 0.1, 1e300)
    assert (first[7], last[7]) == (Decimal("1.25"), Decimal("-3.10"))
    assert (first[8], last[8]) == ('x,"y\nz', "long " * 2000)
    assert (first[9], last[9]) == (b"ab\x00\xff", b"\x01")
    assert (first[10], last[10]) == (dt.date(2020, 1, 1), dt.date(1900, 12, 31))
    assert (first[11], last[11]) == (dt.time(1, 2, 3, 456789), dt.time(0, 0))
    assert first[12] == dt.datetime(2020, 1, 1, 1, 2, 3, 123456)
    # Europe/Berlin wall time 01:02:03 (UTC+1) is stored and read back as UTC
    assert first[13] == dt.datetime(2020, 1, 1, 0, 2, 3, 123456, tzinfo=dt.UTC)
    assert last[13] == dt.datetime(2000, 6, 1, 10, 0, tzinfo=dt.UTC)
    assert got.schema["tz"] == pl.Datetime("us", "UTC")
    assert (first[14], last[14]) == (1, 255)
    assert (first[15], last[15]) == ("[1,2]", "[]")


def test_formats_read_back_identical(written: dict[str, ResultSet]) -> None:
    avro = read_all(written["avro"])
    for fmt in ("csv", "json", "parquet"):
        assert read_all(written[fmt]).equals(avro), fmt


def test_layout_and_parts(written: dict[str, ResultSet], tmp_path: Path) -> None:
    avro = written["avro"]
    assert [p.name for p in avro.files] == ["part-00000.avro", "part-00001.avro"]
    assert written["json"].files[0].name == "part-00000.jsonl"
    assert written["csv"].files[0].parent.name == "csv"
    assert written["parquet"].files[0].name == "part-00000.parquet"


def test_csv_uses_recorded_schema_not_inference(tmp_path: Path) -> None:
    frame = pl.DataFrame({"code": ["007", "010"], "day": ["2020-01-01", "x"]})
    results = write_results(frame, tmp_path, ["csv"])["csv"]
    got = read_all(results)
    assert got.to_dict(as_series=False) == {"code": ["007", "010"], "day": ["2020-01-01", "x"]}


def test_streams_in_bounded_batches(tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": range(10_000), "s": [str(i) for i in range(10_000)]})
    written = write_results(frame, tmp_path, FORMATS, slice_rows=3_000)
    assert len(written["avro"].files) == 4
    for fmt, results in written.items():
        heights = [f.height for f in iter_frames(results, 1_000)]
        assert max(heights) <= 1_000, fmt
        assert sum(heights) == 10_000, fmt
        ids = pl.concat(iter_frames(results, 1_000))["id"].to_list()
        assert ids == list(range(10_000)), fmt


def test_parquet_stage_removed_when_not_asked(tmp_path: Path) -> None:
    write_results(pl.DataFrame({"a": [1]}), tmp_path, ["csv", "avro"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["avro", "csv"]


def test_pqt_is_parquet(tmp_path: Path) -> None:
    written = write_results(pl.DataFrame({"a": [1]}), tmp_path, ["pqt"])
    assert list(written) == ["parquet"] and written["parquet"].format == "parquet"


def test_empty_results_keep_their_schema(tmp_path: Path) -> None:
    frame = pl.DataFrame({"a": [1], "tz": [dt.datetime(2020, 1, 1)]}).with_columns(
        pl.col("tz").dt.replace_time_zone("UTC")
    )
    written = write_results(frame.lazy().filter(pl.col("a") > 5), tmp_path, FORMATS)
    for fmt, results in written.items():
        assert results.rows == 0, fmt
        assert results.schema.to_json() == [["a", "int64"], ["tz", "timestamptz"]]
        assert list(iter_frames(results)) == [], fmt
        assert results.files and all(f.exists() for f in results.files)


def test_sha256_follows_content(tmp_path: Path) -> None:
    one = write_results(pl.DataFrame({"a": [1, 2]}), tmp_path / "1", ["csv"])["csv"]
    same = write_results(pl.DataFrame({"a": [1, 2]}), tmp_path / "2", ["csv"])["csv"]
    other = write_results(pl.DataFrame({"a": [1, 3]}), tmp_path / "3", ["csv"])["csv"]
    assert one.sha256 == same.sha256 != other.sha256
    assert len(one.sha256) == 64


def test_result_set_json_round_trip(written: dict[str, ResultSet]) -> None:
    avro = written["avro"]
    base = avro.files[0].parents[2]
    again = ResultSet.from_json(avro.to_json(base), base)
    assert again == avro


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="hyper"):
        write_results(pl.DataFrame({"a": [1]}), tmp_path, ["hyper"])


def test_cancel_stops_between_steps(tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ResultsCancelled):
        write_results(pl.DataFrame({"a": [1]}), tmp_path, ["avro"], cancel=cancel)


def test_avro_parts_written_two_at_a_time_are_those_written_one_by_one(tmp_path: Path) -> None:
    """Each part's bytes are its slice written alone, in order (the parallel writer's)."""
    frame = pl.concat([every_type()] * 7).drop("nested")
    written = write_results(frame, tmp_path / "run", ["avro", "parquet"], slice_rows=2)["avro"]
    assert [f.name for f in written.files] == [f"part-{i:05d}.avro" for i in range(11)]
    encode = [_encode_expr(c, "avro") for c in written.schema.columns]
    stage = pl.read_parquet(tmp_path / "run" / "parquet" / "part-00000.parquet")
    for index, part in enumerate(written.files):
        alone = tmp_path / f"alone-{index}.avro"
        stage.slice(index * 2, 2).select(encode).write_avro(alone, compression="uncompressed")
        assert part.read_bytes() == alone.read_bytes(), part.name
    assert read_all(written).equals(read_all(write_results(frame, tmp_path / "b", ["csv"])["csv"]))


def test_avro_parts_are_the_same_when_the_parquet_file_is_read_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """on_parquet returning True (a reader started) makes one avro writer, same bytes."""
    pools: list[int] = []
    real_pool = results_module.ThreadPoolExecutor

    def pool(max_workers: int, thread_name_prefix: str) -> object:
        pools.append(max_workers)
        return real_pool(max_workers=max_workers, thread_name_prefix=thread_name_prefix)

    monkeypatch.setattr(results_module, "ThreadPoolExecutor", pool)
    frame = pl.concat([every_type()] * 7).drop("nested")
    seen: list[int] = []

    def reading(parquet: ResultSet) -> bool:
        seen.append(parquet.rows)
        return True

    one = write_results(frame, tmp_path / "a", ["avro"], slice_rows=2, on_parquet=reading)
    two = write_results(frame, tmp_path / "b", ["avro"], slice_rows=2)
    assert seen == [frame.height] and pools == [1, 2]
    assert one["avro"].sha256 == two["avro"].sha256
    assert len(one["avro"].files) == 11


def test_a_failing_avro_part_fails_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error in the part-writing thread is raised by write_results, not lost."""
    real = results_module._write_avro_part
    calls: list[Path] = []

    def failing(frame: pl.DataFrame, encode: list[pl.Expr], path: Path) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real(frame, encode, path)

    monkeypatch.setattr(results_module, "_write_avro_part", failing)
    frame = pl.DataFrame({"id": range(20)})
    with pytest.raises(OSError, match="No space left"):
        write_results(frame, tmp_path, ["avro"], slice_rows=2)
    assert len(calls) < 10  # stopped at the failure, not after every slice


def _codec(path: Path) -> str:
    import pyarrow.parquet as pq

    return str(pq.ParquetFile(path).metadata.row_group(0).column(0).compression)


def test_a_declared_parquet_output_is_written_as_before_and_a_preview_one_with_lz4(
    tmp_path: Path,
) -> None:
    """Declared: polars' default (zstd), the bytes users had; only read by publish: lz4."""
    frame = pl.DataFrame({"id": range(1000), "s": [str(i) for i in range(1000)]})
    declared = write_results(frame, tmp_path / "a", ["parquet"])["parquet"]
    assert _codec(declared.files[0]) == "ZSTD"
    polars_default = tmp_path / "default.parquet"
    frame.lazy().sink_parquet(polars_default, row_group_size=50_000)
    assert declared.files[0].read_bytes() == polars_default.read_bytes()
    internal = write_results(frame, tmp_path / "b", ["avro", "parquet"], internal_parquet=True)
    assert _codec(internal["parquet"].files[0]).startswith("LZ4")
    assert read_all(internal["parquet"]).equals(read_all(declared))
