"""Job inputs as lazy frames, and their content hashes (streamed, cached per process)."""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from runner.platforms.local import avro_read
from runner.platforms.local.shape import known_sha256
from runner.result_types import is_text_logical
from runner.spec.inputs import INPUT_EXTENSIONS

__all__ = [
    "INPUT_EXTENSIONS",
    "csv_schema",
    "file_sha256",
    "inferring",
    "marked_columns",
    "scan_input",
]

_hash_lock = threading.Lock()
_hash_cache: dict[tuple[str, int, int], str] = {}
_csv_schemas: dict[tuple[str, int, int], pl.Schema] = {}
_csv_locks: dict[tuple[str, int, int], threading.Lock] = {}


def _file_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def file_sha256(path: Path) -> str:
    """The sha256 of a file's content, cached per (path, size, mtime_ns) in this process.

    An input the job's fingerprint hashed (:func:`~.shape.checked_sha256`) is not read again.
    """
    key = _file_key(path)
    with _hash_lock:
        cached = _hash_cache.get(key) or known_sha256(key)
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


def marked_columns(path: Path) -> dict[str, str]:
    """Columns of an input that frames carry as text but that have another logical type.

    Only Avro inputs have such columns (``json``, decimals wider than 38 digits).
    """
    if path.suffix.lower() != ".avro":
        return {}
    shape = avro_read.layout(path)
    return {c.name: c.logical for c in shape.columns if is_text_logical(c.logical)}


def csv_schema(path: Path) -> pl.Schema | None:
    """A CSV input's inferred schema, cached like :func:`file_sha256` (None: it cannot be).

    Inferring it (10,000 rows, dates tried) costs ~0.4 s per 1M-row file and a plan and
    apply ask for it about ten times. Callers at the same time wait for one inference.
    """
    key = _file_key(path)
    with _hash_lock:
        once = _csv_locks.setdefault(key, threading.Lock())
    with once:
        with _hash_lock:
            schema = _csv_schemas.get(key)
        if schema is None:
            inferring = pl.scan_csv(path, try_parse_dates=True, infer_schema_length=10_000)
            try:
                schema = inferring.collect_schema()
            except (pl.exceptions.PolarsError, pl.exceptions.PanicException):
                return None  # not cached: the error is raised where the file is scanned
            with _hash_lock:
                _csv_schemas[key] = schema
    return schema


@contextlib.contextmanager
def inferring(path: Path) -> Iterator[None]:
    """Infer a CSV input's schema (:func:`csv_schema`) in a worker thread meanwhile.

    The fingerprint hashes each input and a plan that runs the job asks for its schema
    next: both read the file, and polars infers without the GIL, so on two cores the
    inference costs no time of its own.
    """
    if path.suffix.lower() != ".csv":
        yield
        return
    worker = threading.Thread(target=_infer, args=(path,), name="csv-schema", daemon=True)
    worker.start()
    try:
        yield
    finally:
        worker.join()


def _infer(path: Path) -> None:
    with contextlib.suppress(Exception):  # raised again where the file is scanned
        csv_schema(path)


def _scan_csv(path: Path) -> pl.LazyFrame:
    """A lazy frame over a CSV input, scanned with the schema inferred once."""
    schema = csv_schema(path)
    if schema is None:
        return pl.scan_csv(path, try_parse_dates=True, infer_schema_length=10_000)
    frame = pl.scan_csv(path, schema=_dates_as_text(schema), try_parse_dates=True)
    return _parse_dates(frame, schema)


def _dates_as_text(schema: pl.Schema) -> pl.Schema:
    """The schema with its date and datetime columns read as text (parsed after the read)."""
    return pl.Schema(
        {k: pl.String() if isinstance(v, pl.Date | pl.Datetime) else v for k, v in schema.items()}
    )


def _parse_dates(frame: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
    """The date and datetime columns of ``schema`` parsed from the text read.

    Reading them as text and parsing each column with ``str.to_date``/``to_datetime``
    gives the same values (and refuses the same values) as the CSV reader parsing them
    itself with ``try_parse_dates``, which is about 3x slower: ~0.8 s of CPU for the two
    datetime columns of a 1M-row file.
    """
    parsed = [
        pl.col(k).str.to_date()
        if isinstance(v, pl.Date)
        else pl.col(k).str.to_datetime(time_unit=v.time_unit, time_zone=v.time_zone)
        for k, v in schema.items()
        if isinstance(v, pl.Date | pl.Datetime)
    ]
    return frame.with_columns(parsed) if parsed else frame


def scan_input(
    path: Path, *, schema_only: bool = False, staging: Path | None = None
) -> pl.LazyFrame:
    """A lazy frame over one input file, chosen by its extension.

    Avro (see :mod:`runner.platforms.local.avro_read`): with ``schema_only`` the
    columns come from the header alone; otherwise the rows are read block by block,
    into Arrow IPC parts under ``staging`` (scanned lazily: bounded memory), or into
    memory without it. A file that cannot be read raises :class:`AvroReadError`.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _scan_csv(path)
    if suffix in (".parquet", ".pqt"):
        return pl.scan_parquet(path)
    if suffix in (".jsonl", ".ndjson"):
        return pl.scan_ndjson(path, infer_schema_length=10_000)
    if suffix == ".json":
        if _is_json_array(path):
            return pl.read_json(path).lazy()
        return pl.scan_ndjson(path, infer_schema_length=10_000)
    if suffix == ".avro":
        if schema_only:
            return avro_read.empty_frame(path).lazy()
        if staging is None:
            return avro_read.read_avro(path).lazy()
        folder = Path(tempfile.mkdtemp(prefix="avro-", dir=staging))
        return pl.scan_ipc(avro_read.stage_ipc(path, folder))
    raise ValueError(
        f"cannot read {path.name}: the extension must be one of {', '.join(INPUT_EXTENSIONS)}"
    )
