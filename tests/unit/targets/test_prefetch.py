"""Prefetch: items prepared ahead in a worker thread, errors and clean-up kept."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from runner.targets._prefetch import Prefetch


def test_items_arrive_in_order_and_an_error_reaches_the_consumer() -> None:
    def items() -> Iterator[int]:
        yield from range(5)
        raise ValueError("bad row 6")

    got = []
    with Prefetch(items(), 2) as ahead, pytest.raises(ValueError, match="bad row 6"):
        for item in ahead:
            got.append(item)
    assert got == [0, 1, 2, 3, 4]


def test_two_stages_stopped_early_both_stop_and_clean_up() -> None:
    """The consumer stops after one item: the outer stage closes the generator it was
    running, whose own Prefetch (the inner stage) then stops its thread too."""
    cleaned = threading.Event()

    def source() -> Iterator[int]:
        try:
            yield from range(1_000_000)
        finally:
            cleaned.set()

    def stage() -> Iterator[int]:
        with Prefetch(source(), 2, name="inner") as inner:
            for item in inner:
                yield item * 2

    with Prefetch(stage(), 2, name="outer") as outer:
        assert next(outer) == 0
    assert cleaned.wait(5)
    assert not [t for t in threading.enumerate() if t.name in ("inner", "outer")]
