"""Counted words: ``1 row``, ``2 rows``; never ``1 connections`` (no imports: cheap anywhere)."""

from __future__ import annotations


def plural(n: int, word: str, words: str | None = None) -> str:
    """``n`` with ``word`` or its plural (``words``, by default ``word + "s"``)."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def rate(rows: int, seconds: float) -> str:
    """``12,345 rows/s``; with the digits that keep it above zero when it is under 1."""
    per_second = rows / seconds
    if per_second >= 10:
        return f"{per_second:,.0f} rows/s"
    return f"{per_second:.2g} rows/s"
