"""Relational targets: describe tables, and publish results into them atomically."""
