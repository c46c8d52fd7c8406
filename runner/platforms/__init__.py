"""Platforms: where jobs run and how their results reach a table (local, trifacta, spark)."""
