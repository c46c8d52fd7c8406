"""A fake Spark Connect session backed by polars, for the spark platform's unit tests.

It offers exactly what the platform uses of a session (``read``, ``sql``, temporary views,
``DataFrame.schema`` and ``write``), records every call, and reports types in Spark's
``simpleString`` names. Errors it raises are pyspark's own, so the platform's handling
of them is what runs against a real server.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import polars as pl

from runner.platforms.local.inputs import scan_input

_TYPES: dict[type[pl.DataType], str] = {
    pl.Boolean: "boolean",
    pl.Int8: "tinyint",
    pl.Int16: "smallint",
    pl.Int32: "int",
    pl.Int64: "bigint",
    pl.UInt32: "bigint",
    pl.Float32: "float",
    pl.Float64: "double",
    pl.String: "string",
    pl.Binary: "binary",
    pl.Date: "date",
    pl.Null: "void",
}


def spark_type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Datetime):
        return "timestamp" if dtype.time_zone else "timestamp_ntz"
    if isinstance(dtype, pl.Decimal):
        return f"decimal({dtype.precision},{dtype.scale})"
    if isinstance(dtype, pl.List):
        return f"array<{spark_type(dtype.inner)}>"
    if isinstance(dtype, pl.Struct):
        return "struct<" + ",".join(f"{f.name}:{spark_type(f.dtype)}" for f in dtype.fields) + ">"
    for cls, name in _TYPES.items():
        if isinstance(dtype, cls):
            return name
    raise AssertionError(f"no spark type for {dtype}")


@dataclass(frozen=True)
class _Type:
    name: str

    def simpleString(self) -> str:
        return self.name


@dataclass(frozen=True)
class _Field:
    name: str
    dataType: _Type


@dataclass(frozen=True)
class _Schema:
    fields: list[_Field]


def _analysis_error(message: str) -> Exception:
    from pyspark.errors.exceptions.connect import AnalysisException

    return AnalysisException(message=message + "\n\nJVM stacktrace:\norg.apache.spark...")


def _local(uri: str, store: Path | None = None) -> Path:
    """The local file of a file:// URI; a bucket URI (s3a://bucket/key) under ``store``."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    assert store is not None, f"the fake cluster has no object store for {uri}"
    return store / parsed.netloc / unquote(parsed.path).lstrip("/")


class FakeWriter:
    def __init__(self, frame: FakeFrame) -> None:
        self.frame = frame
        self.modes: list[str] = []

    def mode(self, mode: str) -> FakeWriter:
        self.modes.append(mode)
        return self

    def parquet(self, uri: str) -> None:
        session = self.frame.session
        session.calls.append(("write", uri))
        if session.block_writes:
            session.writing.set()
            if session.interrupted.wait(10):
                raise _analysis_error("[OPERATION_CANCELED] Operation has been cancelled")
        folder = _local(uri, session.store)
        folder.mkdir(parents=True, exist_ok=True)
        data = self.frame.lazy.collect()
        data.write_parquet(folder / "part-00000-fake-c000.snappy.parquet")
        if data.height > 2:  # a second part, as a cluster writes one per partition
            data.slice(2).write_parquet(folder / "part-00001-fake-c000.snappy.parquet")
            data.head(2).write_parquet(folder / "part-00000-fake-c000.snappy.parquet")
        (folder / "_SUCCESS").write_text("")


@dataclass
class FakeFrame:
    session: FakeSession
    lazy: pl.LazyFrame

    @property
    def schema(self) -> _Schema:
        self.session.calls.append(("schema", ""))
        schema = self.lazy.collect_schema()
        return _Schema([_Field(n, _Type(spark_type(t))) for n, t in schema.items()])

    @property
    def write(self) -> FakeWriter:
        return FakeWriter(self)

    def createOrReplaceTempView(self, name: str) -> None:
        self.session.views[name] = self.lazy

    def collect(self) -> list[tuple[Any, ...]]:
        return list(self.lazy.collect().rows())


class FakeReader:
    def __init__(self, session: FakeSession) -> None:
        self.session = session
        self.source = ""
        self.options: dict[str, str] = {}

    def format(self, source: str) -> FakeReader:
        self.source = source
        return self

    def option(self, key: str, value: str) -> FakeReader:
        self.options[key] = value
        return self

    def load(self, location: str) -> FakeFrame:
        self.session.calls.append(("load", f"{self.source} {location}"))
        if self.source in self.session.missing_sources:
            raise _analysis_error(
                f"[DATA_SOURCE_NOT_FOUND] Failed to find data source: {self.source}. "
                f"Please find packages at https://spark.apache.org/third-party-projects.html"
            )
        return FakeFrame(self.session, scan_input(_local(location)))


@dataclass
class FakeSession:
    """One fake session; ``missing_sources`` are data sources the 'cluster' lacks."""

    missing_sources: frozenset[str] = frozenset({"avro"})
    block_writes: bool = False
    store: Path | None = None  # the "object store" bucket URIs are written to
    listings: dict[str, list[tuple[str, int, str]]] = field(default_factory=dict)
    views: dict[str, pl.LazyFrame] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    stopped: bool = False
    writing: threading.Event = field(default_factory=threading.Event)
    interrupted: threading.Event = field(default_factory=threading.Event)

    @property
    def read(self) -> FakeReader:
        return FakeReader(self)

    def sql(self, query: str, /) -> FakeFrame:
        self.calls.append(("sql", query))
        listing = re.match(r"select path, length, modificationTime from binaryFile\.`(.*)`$", query)
        if listing:
            rows = self.listings.get(listing[1], [])
            frame = pl.DataFrame(rows, schema=["path", "length", "modificationTime"], orient="row")
            return FakeFrame(self, frame.lazy())
        polars_sql = re.sub(r"`([^`]*)`", r'"\1"', query)
        try:
            lazy = pl.SQLContext(frames=self.views, eager=False).execute(polars_sql)
            lazy.collect_schema()
        except pl.exceptions.PolarsError as exc:
            raise _analysis_error(f"[UNRESOLVED_COLUMN] {exc}".split("\n", 1)[0]) from None
        return FakeFrame(self, lazy)

    def interruptAll(self) -> list[str]:
        self.interrupted.set()
        return ["op"]

    def stop(self) -> None:
        self.stopped = True


class FakeCluster:
    """Hands out fake sessions (the platform's connector) and remembers them."""

    def __init__(self, **session_args: Any) -> None:
        self.session_args = session_args
        self.sessions: list[FakeSession] = []
        self.urls: list[str] = []

    def __call__(self, url: Any, raw_url: str) -> FakeSession:
        self.urls.append(raw_url)
        session = FakeSession(**self.session_args)
        self.sessions.append(session)
        return session

    def opener(self, uri: str) -> tuple[Any, str]:
        """A pyarrow file system over the fake object store (the platform's ``opener``)."""
        from pyarrow import fs

        parsed = urlparse(uri)
        store = self.session_args["store"]
        store.mkdir(parents=True, exist_ok=True)
        filesystem = fs.SubTreeFileSystem(str(store), fs.LocalFileSystem())
        return filesystem, f"{parsed.netloc}{parsed.path}"

    @property
    def writes(self) -> list[str]:
        return [arg for s in self.sessions for kind, arg in s.calls if kind == "write"]
