"""Orders-like benchmark data: N rows x 10 typed columns with some nulls (seeded, vectorised).

Columns: id int64, customer string, country string, amount decimal(12,2),
quantity int32, price float64, ordered_at timestamp, shipped boolean,
note long-ish string, created_at timestamptz (UTC).
"""

from __future__ import annotations

import polars as pl

COUNTRIES = ["DE", "FR", "US", "GB", "ES", "IT", "NL", "PL", "SE", "JP"]
WORDS = ["fragile", "gift wrap", "leave at door", "express", "call first", "bulk order"]


def orders(rows: int, *, seed: int = 7) -> pl.DataFrame:
    """``rows`` orders; about 5% of amount, note and shipped are null."""
    base = pl.int_range(0, rows, dtype=pl.Int64, eager=True).alias("id")
    frame = pl.DataFrame({"id": base})
    h = (pl.col("id") * 2654435761 + seed) % 1_000_003  # cheap deterministic scatter
    start = pl.datetime(2024, 1, 1, time_unit="us")
    return frame.select(
        pl.col("id") + 1,
        pl.format("customer-{}", h % 50_000).alias("customer"),
        pl.lit(pl.Series(COUNTRIES)).gather(h % len(COUNTRIES)).alias("country"),
        pl.when(h % 20 == 0)
        .then(None)
        .otherwise((h % 100_000).cast(pl.Float64) / 100)
        .cast(pl.Decimal(12, 2))
        .alias("amount"),
        (h % 50 + 1).cast(pl.Int32).alias("quantity"),
        ((h % 9_999) / 7.0).alias("price"),
        (start + pl.duration(seconds=h * 31)).alias("ordered_at"),
        pl.when(h % 19 == 0).then(None).otherwise(h % 2 == 0).alias("shipped"),
        pl.when(h % 21 == 0)
        .then(None)
        .otherwise(
            pl.format(
                "{} - order note number {} with some words to make it longer",
                pl.lit(pl.Series(WORDS)).gather(h % len(WORDS)),
                h,
            )
        )
        .alias("note"),
        (start + pl.duration(seconds=h * 17)).dt.replace_time_zone("UTC").alias("created_at"),
    )
