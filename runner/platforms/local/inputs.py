"""Job inputs as lazy frames, and their content hashes (streamed, cached per process)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import polars as pl

#: file extensions a local job can read
INPUT_EXTENSIONS = (".csv", ".json", ".jsonl", ".ndjson", ".parquet", ".pqt", ".avro")

_hash_lock = threading.Lock()
_hash_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """The sha256 of a file's content, cached per (path, size, mtime_ns) in this process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _hash_lock:
        cached = _hash_cache.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    value = digest.hexdigest()
    with _hash_lock:
        _hash_cache[key] = value
    return value


def _is_json_array(path: Path) -> bool:
    with path.open("rb") as fh:
        while chunk := fh.read(4096):
            stripped = chunk.lstrip()
            if stripped:
                return stripped.startswith(b"[")
    return False


def scan_input(path: Path, *, schema_only: bool = False) -> pl.LazyFrame:
    """A lazy frame over one input file, chosen by its extension.

    Avro has no lazy scan in polars: with ``schema_only`` only the first rows are
    read (enough for the schema); otherwise the file is read whole.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pl.scan_csv(path, try_parse_dates=True, infer_schema_length=10_000)
    if suffix in (".parquet", ".pqt"):
        return pl.scan_parquet(path)
    if suffix in (".jsonl", ".ndjson"):
        return pl.scan_ndjson(path, infer_schema_length=10_000)
    if suffix == ".json":
        if _is_json_array(path):
            return pl.read_json(path).lazy()
        return pl.scan_ndjson(path, infer_schema_length=10_000)
    if suffix == ".avro":
        return pl.read_avro(path, n_rows=1 if schema_only else None).lazy()
    raise ValueError(
        f"cannot read {path.name}: the extension must be one of {', '.join(INPUT_EXTENSIONS)}"
    )
