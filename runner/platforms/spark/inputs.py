"""A spark job's inputs: where the cluster reads each one, how, and what it fingerprints as.

A path with a scheme (``s3a://bucket/key.csv``, ``abfss://...``, ``hdfs://...``) is read by
the cluster from its own storage; any other path is a file relative to the spec's folder,
handed to the cluster as a ``file://`` URI (a local server, or a folder every node mounts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.platforms.local.inputs import INPUT_EXTENSIONS

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

#: how the cluster reads each kind of input: Spark data source and its options
_CSV = {"header": "true", "inferSchema": "true", "mode": "FAILFAST"}
_JSON_LINES = {"mode": "FAILFAST"}
_JSON_ARRAY = {"mode": "FAILFAST", "multiLine": "true"}


def is_uri(path: str) -> bool:
    """Whether an input names storage the cluster reads itself (a scheme://...)."""
    return bool(_URI.match(path))


@dataclass(frozen=True)
class SparkInput:
    table: str  # the temporary view's name
    location: str  # what the cluster reads: file:///abs/path or scheme://...
    source: str  # the Spark data source: csv, json, parquet, avro
    options: tuple[tuple[str, str], ...] = ()
    local: Path | None = None  # the file on this machine, when it is one


def source_of(path: str) -> str | None:
    """The Spark data source for a file by its extension, or None when there is none."""
    suffix = path.lower().rsplit(".", 1)[-1] if "." in path else ""
    return {
        "csv": "csv",
        "json": "json",
        "jsonl": "json",
        "ndjson": "json",
        "parquet": "parquet",
        "pqt": "parquet",
        "avro": "avro",
    }.get(suffix)


def _starts_with_array(path: Path) -> bool:
    with path.open("rb") as fh:
        while chunk := fh.read(4096):
            stripped = chunk.lstrip()
            if stripped:
                return stripped.startswith(b"[")
    return False


def spark_input(table: str, file: str, local: Path | None) -> SparkInput:
    """How the cluster reads one input (``local`` is the resolved file for a local path)."""
    source = source_of(file)
    if source is None:
        raise ValueError(
            f"cannot read {file}; the extension must be one of {', '.join(INPUT_EXTENSIONS)}"
        )
    options: dict[str, str] = {}
    if source == "csv":
        options = _CSV
    elif source == "json":
        # a .json file holding one array is read whole; JSON Lines line by line
        whole = local is not None and file.lower().endswith(".json") and _starts_with_array(local)
        options = _JSON_ARRAY if whole else _JSON_LINES
    location = local.resolve().as_uri() if local is not None else file
    return SparkInput(table, location, source, tuple(sorted(options.items())), local)


def register(session: Any, item: SparkInput) -> None:
    """Make the input a temporary view of the session, named by its table."""
    reader = session.read.format(item.source)
    for key, value in item.options:
        reader = reader.option(key, value)
    reader.load(item.location).createOrReplaceTempView(item.table)


def remote_stamp(session: Any, location: str) -> list[list[Any]]:
    """Path, length and modification time of each file at a remote location (read by the
    cluster's file listing; the content is not read)."""
    escaped = location.replace("`", "``")
    frame = session.sql(f"select path, length, modificationTime from binaryFile.`{escaped}`")
    return sorted([str(r[0]), int(r[1]), str(r[2])] for r in frame.collect())
