"""The fast shape check of a CSV: quotes, chunk boundaries, blank lines (issue 11.6)."""

from __future__ import annotations

import pytest

from runner.platforms.local.shape import _CsvShape

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
