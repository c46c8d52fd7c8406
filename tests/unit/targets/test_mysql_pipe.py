"""The named pipe LOAD DATA LOCAL reads the rows from (no database: a reader thread
stands in for PyMySQL, which opens the path and reads it)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import BinaryIO

import polars as pl
import pytest

from runner.targets.mysql.pipe import RowPipe


def csv(frame: pl.DataFrame, out: BinaryIO) -> None:
    frame.write_csv(out, include_header=False)


def frames(n: int, size: int = 50_000) -> Iterator[pl.DataFrame]:
    for start in range(0, n, size):
        yield pl.DataFrame({"id": pl.int_range(start, min(start + size, n), eager=True)})


def test_rows_arrive_in_order_and_the_pipe_goes() -> None:
    with RowPipe(frames(120_000), csv, keys=("id",)) as pipe:
        with open(pipe.path, "rb") as reader:  # as PyMySQL does
            got = reader.read()
        pipe.finish()
    assert got == b"".join(f"{i}\n".encode() for i in range(120_000))
    assert pipe.rows == 120_000 and pipe.keys_unique()
    assert not os.path.exists(pipe.path)


def test_a_repeated_key_across_batches_is_seen() -> None:
    data = [pl.DataFrame({"id": [1, 2]}), pl.DataFrame({"id": [3, 2]})]
    with RowPipe(iter(data), csv, keys=("id",)) as pipe:
        with open(pipe.path, "rb") as reader:
            reader.read()
        pipe.finish()
    assert not pipe.keys_unique()


def test_a_pipe_never_opened_does_not_hang() -> None:
    """The server refused the statement before asking for the file."""
    started = time.monotonic()
    with RowPipe(frames(10), csv) as pipe:
        pass
    assert time.monotonic() - started < 5
    pipe.finish()


def test_a_reader_that_stops_does_not_hang_the_writer() -> None:
    """The connection was lost mid-load: PyMySQL closes the file; no error of ours."""
    with RowPipe(frames(5_000_000), csv) as pipe:
        with open(pipe.path, "rb") as reader:
            reader.read(100_000)
        started = time.monotonic()
        pipe.finish()
    assert time.monotonic() - started < 10


def test_an_error_reading_the_results_reaches_the_caller_and_ends_the_file() -> None:
    def broken() -> Iterator[pl.DataFrame]:
        yield pl.DataFrame({"id": [1, 2]})
        raise ValueError("cannot read part 2")

    with RowPipe(broken(), csv) as pipe:
        with open(pipe.path, "rb") as reader:
            assert reader.read() == b"1\n2\n"  # the server sees the end of the file, then
        with pytest.raises(ValueError, match="cannot read part 2"):
            pipe.finish()  # the load fails with the cause


@pytest.mark.parametrize("step", [1, 2, 3, 1 << 20])
def test_repeated_keys_are_seen_at_every_place_of_the_sorted_hashes(
    step: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sorted hashes are compared a slice at a time: a repeat is seen wherever it
    falls, at a slice's edge too, and no repeat is reported where there is none."""
    from runner.targets.mysql import pipe as pipe_module

    monkeypatch.setattr(pipe_module, "COMPARE_ROWS", step)
    for n in range(1, 9):
        for repeat in [None, *range(n)]:
            ids = list(range(n)) + ([repeat] if repeat is not None else [])
            data = [pl.DataFrame({"id": ids[:3]}), pl.DataFrame({"id": ids[3:]})]
            with RowPipe(iter(data), csv, keys=("id",)) as pipe:
                with open(pipe.path, "rb") as reader:
                    reader.read()
                pipe.finish()
            assert pipe.keys_unique() is (repeat is None), (n, repeat)
