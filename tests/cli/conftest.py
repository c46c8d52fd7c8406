"""Fixtures of the CLI tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli.hostile import Zygote


@pytest.fixture(scope="session")
def zygote() -> Iterator[Zygote]:
    """One process with publish imported that forks a child per command (see hostile.py)."""
    z = Zygote()
    yield z
    z.close()
