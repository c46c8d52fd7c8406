"""Rows into SQLite without one Python object per value: a staging file written from Arrow.

Binding rows through the sqlite3 module costs a Python tuple per row and a conversion per
value (about 2 s of CPU for 1M rows x 10 columns). The ADBC SQLite driver binds Arrow
columns in C: :func:`stage` writes the bindable result frames into a scratch database
file beside the target database (its own file: journal and sync off are safe there, the
user's database keeps its settings), before the target's write lock is taken. The target
then ATTACHes it and copies the rows with one ``INSERT ... SELECT`` inside the publish's
transaction, so atomicity and the ledger row are as before. The staging file is unlinked
as soon as it is attached (its open handle keeps it readable), and one left by a killed
process is removed by the next stage in that folder.

Values reach the table as the sqlite3 module would bind them: integers, doubles, text and
blobs from the same bindable frames, and the table's column affinity applies to the
copy as it does to bound values. Without the driver, or for an Arrow type outside
:data:`_ARROW_TYPES`, :func:`stage` returns None and the caller binds rows itself.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from runner.results import ResultSchema
from runner.targets.sqlite_types import LATE_TEXT, TIME_TEXT

#: the schema name the staging file is attached as, and its table
SCHEMA = "publish_stage"
TABLE = "rows"
#: Arrow types the driver binds exactly as the sqlite3 module binds the same values
_ARROW_TYPES = re.compile(
    r"^(null|u?int(8|16|32)|int64|float|double|(large_)?(string|utf8|binary)|string_view"
    r"|binary_view)$"
)
_NAME = re.compile(r"^\.(?P<db>.+)\.publish-stage-(?P<pid>\d+)-[0-9a-f]{32}\.db$")


@dataclass(frozen=True)
class Staged:
    """A staging file holding ``rows`` rows in table :data:`TABLE`."""

    path: Path
    rows: int
    #: the table was made with the ``create`` statement given to :func:`stage`
    typed: bool = False

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()


def _driver() -> Any | None:
    """The driver's low-level API (its DB-API module imports pyarrow.dataset and pandas:
    ~0.3 s at the start of the first publish)."""
    try:
        import adbc_driver_manager
        import adbc_driver_sqlite
    except ImportError:
        return None
    return adbc_driver_sqlite, adbc_driver_manager


def available() -> bool:
    """Whether the ADBC SQLite driver is installed (without it rows are bound one by one)."""
    return _driver() is not None


def bindable_by_driver(frame: pl.DataFrame | Any) -> bool:
    """Whether every column of ``frame`` (or Arrow table) has a type of :data:`_ARROW_TYPES`."""
    schema = frame.head(0).to_arrow().schema if isinstance(frame, pl.DataFrame) else frame.schema
    return all(_ARROW_TYPES.match(str(field.type)) for field in schema)


def to_arrow(frames: Iterable[pl.DataFrame], schema: ResultSchema | None = None) -> Iterator[Any]:
    """The frames as the Arrow tables the driver binds, converted where this is iterated:
    in the Prefetch worker that makes the frames, not in the thread writing the staging
    file (~0.25 s of CPU per 1M rows of 10 columns off that thread).

    With ``schema``, its columns of ``LATE_TEXT`` (left temporal by ``bindable(...,
    dates=False)``) become the text of ``TIME_TEXT``: see :func:`_late_text`.
    """
    for frame in frames:
        table = frame.to_arrow()
        yield table if schema is None else _late_text(table, schema)


#: Arrow's cast to text gives the text of ``TIME_TEXT`` for values of years 1 to 9999:
#: (Arrow type, smallest and largest such value as an integer, suffix)
_ARROW_TEXT = {
    "date": ("date32[day]", -719_162, 2_932_896, ""),
    "timestamp": ("timestamp[us]", -62_135_596_800_000_000, 253_402_300_799_999_999, ""),
    "timestamptz": ("timestamp[us]", -62_135_596_800_000_000, 253_402_300_799_999_999, "+00:00"),
}


def _late_text(table: Any, schema: ResultSchema) -> Any:
    """Dates and timestamps as bindable()'s text: by Arrow's cast (~2x less CPU than polars'
    to_string for 1M timestamps), or by polars for years outside 1-9999 (where the two
    differ, e.g. "+10000")."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for column in schema.columns:
        if column.type not in LATE_TEXT:
            continue
        index = table.schema.get_field_index(column.name)
        values = table.column(index)
        arrow_type, low, high, suffix = _ARROW_TEXT[column.type]
        if str(values.type) == arrow_type and _within(values, low, high):
            text = pc.cast(values, pa.string())
            if suffix:
                text = pc.binary_replace_slice(
                    text, start=1 << 40, stop=1 << 40, replacement=suffix
                )
        else:
            text = pl.Series(values).dt.to_string(TIME_TEXT[column.type]).to_arrow()
        table = table.set_column(index, column.name, text)
    return table


def _within(values: Any, low: int, high: int) -> bool:
    """Whether every value of a date32 or timestamp column lies in [low, high] as integers."""
    import pyarrow as pa
    import pyarrow.compute as pc

    as_int = pa.int32() if pa.types.is_date32(values.type) else pa.int64()
    bounds = pc.min_max(values.cast(as_int))
    smallest, largest = bounds["min"].as_py(), bounds["max"].as_py()
    return smallest is None or (smallest >= low and largest <= high)


def _sweep(folder: Path, database: str) -> None:
    """Remove staging files of ``database`` whose process is gone (killed mid-stage)."""
    for path in folder.glob(f".{glob.escape(database)}.publish-stage-*.db"):
        match = _NAME.match(path.name)
        if match is None or match["db"] != database or int(match["pid"]) == os.getpid():
            continue
        try:
            os.kill(int(match["pid"]), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                path.unlink()
        except PermissionError:  # alive, another user's
            continue


class StageError(Exception):
    """The driver could not write the staging file (disk full, unwritable folder)."""


def stage(
    database: Path,
    frames: Iterator[Any],
    progress: Callable[[int], None] | None,
    create: str | None = None,
) -> Staged | None:
    """Write ``frames`` (polars frames, or Arrow tables from :func:`to_arrow`) into a new
    staging file beside ``database``; None: bind rows instead.

    ``create``: the CREATE TABLE statement of :data:`TABLE` (typed like a new target
    table), run before the rows are written; otherwise the driver makes the table from
    the frames' Arrow types. None when the driver is missing, there are no rows, or the first frame has a column
    the driver does not bind like the sqlite3 module (the frames are then not consumed
    beyond that first one, and the caller reads the results again).
    """
    driver = _driver()
    if driver is None:
        return None
    first = next(frames, None)
    if first is None or not bindable_by_driver(first):
        return None
    _sweep(database.parent, database.name)
    path = database.parent / f".{database.name}.publish-stage-{os.getpid()}-{uuid.uuid4().hex}.db"
    staged = Staged(path, 0)
    try:
        rows = _ingest(driver, path, _chain(first, frames), progress, create)
    except driver[1].Error as exc:
        staged.discard()
        raise StageError(
            str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        ) from None
    except BaseException:
        staged.discard()
        raise
    return Staged(path, rows, typed=create is not None)


def _ingest(
    driver: tuple[Any, Any],
    path: Path,
    frames: Iterator[Any],
    progress: Callable[[int], None] | None,
    create: str | None,
) -> int:
    sqlite, manager = driver
    with contextlib.ExitStack() as stack:
        database = stack.enter_context(sqlite.connect(str(path)))
        conn = stack.enter_context(manager.AdbcConnection(database))

        def run(sql: str) -> None:
            with manager.AdbcStatement(conn) as statement:
                statement.set_sql_query(sql)
                statement.execute_update()

        run("PRAGMA page_size=65536")  # ~15 % less CPU to write the rows, and to copy them
        run("PRAGMA journal_mode=OFF")  # a scratch file: nothing to recover
        run("PRAGMA synchronous=OFF")
        run("BEGIN")
        if create is not None:
            run(create)
        rows, append = 0, manager.INGEST_OPTION_MODE_APPEND
        mode = manager.INGEST_OPTION_MODE_CREATE if create is None else append
        ingest = stack.enter_context(manager.AdbcStatement(conn))
        for frame in frames:
            ingest.set_options(
                **{
                    manager.INGEST_OPTION_TARGET_TABLE: TABLE,
                    manager.INGEST_OPTION_MODE: mode,
                }
            )
            ingest.bind_stream(frame.to_arrow() if isinstance(frame, pl.DataFrame) else frame)
            rows += int(ingest.execute_update())
            mode = append
            if progress is not None:
                progress(rows)
        run("COMMIT")
    return rows


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest
