"""The record of what was published: models and backends (local JSON file, postgres)."""
