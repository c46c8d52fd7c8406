"""The fast shape check of a CSV: quotes, chunk boundaries, blank lines (issue 11.6)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from runner.platforms.local import inputs
from runner.platforms.local.shape import _CsvShape, checked_sha256

GOOD = b'id,name,note\n1,"a, b","x\n""y"", z"\n\n2,,\r\n3,"",last'


def _feed(data: bytes, size: int) -> bool:
    shape = _CsvShape()
    for at in range(0, len(data), size):
        shape.feed(data[at : at + size])
    return shape.finish()


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64])
def test_quoted_commas_and_newlines_keep_a_good_csv_on_the_fast_path(size: int) -> None:
    """Without the quote handling each row would look ragged (and be read again in Python)."""
    assert _feed(GOOD, size)


@pytest.mark.parametrize("size", [1, 4, 64])
def test_a_ragged_row_or_an_open_quote_fails_the_fast_path(size: int) -> None:
    assert not _feed(GOOD + b"\n4,a,b,c\n", size)
    assert not _feed(GOOD + b"\n4,a\n", size)
    assert not _feed(GOOD + b'\n4,"a,b\n', size)


def test_an_input_the_fingerprint_hashed_is_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan's input hashes (file_sha256) reuse the fingerprint's pass over the file."""
    path = tmp_path / "orders.csv"
    path.write_text("id,name\n1,a\n", encoding="utf-8")
    sha = checked_sha256(path, "orders.csv")
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()

    def no_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("read again")

    monkeypatch.setattr(inputs.hashlib, "sha256", no_read)
    assert inputs.file_sha256(path) == sha
