"""The rows' two ways into a MySQL / MariaDB table: LOAD DATA LOCAL INFILE of a CSV that
polars writes into a named pipe as the server reads it (:mod:`.pipe`), or (when LOCAL
INFILE is not allowed) multi-row INSERTs of about 2 MB. Both return the rows the server
reports it read."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pymysql

from runner.results import SLICE_ROWS
from runner.targets.base import Progress, PublishRequest
from runner.targets.frames import checked_batches
from runner.targets.mysql.pipe import RowPipe
from runner.targets.mysql.types import DIALECT, mysql_frame, quote, write_csv

INSERT_BYTES = 2 * 1024 * 1024  # multi-row INSERT size when LOCAL INFILE is forbidden
ROW = re.compile(r"at row (\d+)")
_RECORDS = re.compile(r"Records: (\d+)")


def rows_pipe(request: PublishRequest, keys: Sequence[str] = ()) -> RowPipe:
    """The request's rows as LOAD DATA's CSV, read and encoded from now on."""
    # frames of one Avro part of the results each: no frame is built from two parts
    return RowPipe(checked_batches(request, DIALECT, SLICE_ROWS), write_csv, keys)


def load_data(
    cur: Any,
    request: PublishRequest,
    table: str,
    pipe: RowPipe,
    *,
    replace: bool = False,
) -> tuple[int, bool]:
    """LOAD DATA LOCAL INFILE of every row of ``pipe`` (:func:`rows_pipe`) into ``table``
    (quoted, qualified SQL); ``replace``: ``REPLACE INTO``, a row whose key is in the table
    replaces that row. ``(rows the server read, no key repeated)``: the second is only
    known with the pipe's keys (True otherwise, see :meth:`.RowPipe.keys_unique`)."""
    try:
        cur.execute(_load_sql(cur, request, table, pipe.path, replace))
    except (AttributeError, OSError):  # PyMySQL, when the server drops it mid-file
        raise pymysql.err.OperationalError(
            2013, "the server closed the connection during LOAD DATA"
        ) from None
    finally:
        pipe.finish()
    loaded = records(cur)
    raise_warnings(cur)
    return loaded, pipe.keys_unique()


def _load_sql(cur: Any, request: PublishRequest, table: str, path: str, replace: bool) -> str:
    targets, sets = [], []
    for i, c in enumerate(request.results.schema.columns):
        if c.type == "binary":
            targets.append(f"@v{i}")
            sets.append(f"{quote(c.name)} = unhex(@v{i})")
        else:
            targets.append(quote(c.name))
    # the path as a literal, not a parameter: a % in a column name is then just a %
    sql = (
        f"load data local infile {cur.connection.escape(path)} "
        f"{'replace ' if replace else ''}into table {table} "
        "character set utf8mb4 fields terminated by ',' optionally enclosed by '\"' "
        f"escaped by '' lines terminated by '\\n' ({', '.join(targets)})"
    )
    if sets:
        sql += " set " + ", ".join(sets)
    return sql


def records(cur: Any) -> int:
    """The rows LOAD DATA read (``Records: N`` of its answer); its affected rows also
    count the rows a REPLACE deleted."""
    result = getattr(cur, "_result", None)
    message = getattr(result, "message", b"") or b""
    text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
    m = _RECORDS.search(text)
    return int(m.group(1)) if m else int(cur.rowcount)


def raise_warnings(cur: Any) -> None:
    """LOCAL loads turn bad values into warnings: any warning fails the load."""
    cur.execute("show warnings limit 1")
    row = cur.fetchone()
    if row and str(row[0]).lower() in ("warning", "error"):
        raise pymysql.err.DataError(int(row[1]), str(row[2]))


def insert_rows(cur: Any, request: PublishRequest, table: str, progress: Progress | None) -> int:
    """Multi-row INSERTs of every row into ``table`` (quoted, qualified SQL)."""
    schema = request.results.schema
    head = f"insert into {table} ({', '.join(quote(n) for n in schema.names)}) values "
    binary = [c.type == "binary" for c in schema.columns]
    conn = cur.connection
    rows = loaded = 0
    for frame in checked_batches(request, DIALECT):
        batch: list[str] = []
        size, first = 0, rows
        for values in mysql_frame(frame).iter_rows():
            row = ", ".join(
                f"unhex({conn.escape(v)})" if b and v is not None else conn.escape(v)
                for v, b in zip(values, binary, strict=True)
            )
            batch.append(f"({row})")
            size += len(row) + 2
            rows += 1
            if size >= INSERT_BYTES:
                loaded += _insert_batch(cur, head, batch, first)
                batch, size, first = [], 0, rows
        if batch:
            loaded += _insert_batch(cur, head, batch, first)
        if progress is not None:
            progress(rows)
    return loaded


def _insert_batch(cur: Any, head: str, batch: list[str], first: int) -> int:
    """One INSERT; an error's ``at row N`` becomes the row of the results."""
    try:
        cur.execute(head + ", ".join(batch))
    except pymysql.MySQLError as exc:
        m = ROW.search(str(exc))
        if m and exc.args and isinstance(exc.args[0], int):
            text = ROW.sub(f"at row {first + int(m.group(1))}", str(exc.args[1]))
            raise type(exc)(exc.args[0], text) from None
        raise
    return int(cur.rowcount)
