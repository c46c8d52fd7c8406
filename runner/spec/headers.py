"""An input file's header, read at validate: its columns, or where it cannot be read.

Only the start of a file is read (the header line of a CSV, the first records of a JSON
file, the magic bytes of Parquet and the header of Avro), so validate stays fast whatever
the size of the inputs; ``plan`` reads them whole (see
:mod:`runner.platforms.local.shape`). Every problem names the file, the line and the
column, as an editor takes them: ``data/orders.csv:3:7``.
"""

from __future__ import annotations

import csv
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

#: the most bytes read at validate to find a CSV header or the first JSON records
SAMPLE_BYTES = 64 * 1024


class HeaderError(ValueError):
    """An input whose start cannot be read; the message names the file, line and column."""


@dataclass(frozen=True)
class Header:
    """The columns an input's start shows (JSON: those of the first records only)."""

    columns: tuple[str, ...]


def where(file: str, data: bytes, offset: int) -> str:
    """``FILE:LINE:COL`` of byte ``offset`` in ``data`` (the file's first bytes)."""
    line = data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[start:offset].decode("utf-8", errors="replace")) + 1
    return f"{file}:{line}:{column}"


def utf8_error(file: str, data: bytes, exc: UnicodeDecodeError, base: int = 0) -> HeaderError:
    """The first byte that is not UTF-8, with a guess at the file's real encoding."""
    bad = data[exc.start]
    guess = " (Latin-1 or Windows-1252?)" if bad >= 0x80 else ""
    return HeaderError(
        f"{where(file, data, exc.start)}: the byte 0x{bad:02x} is not UTF-8{guess}; "
        "inputs are read as UTF-8: save the file as UTF-8"
    )


def _decoded(file: str, data: bytes, complete: bool) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and not complete:
            return data[: exc.start].decode("utf-8")  # a character cut by the sample's end
        raise utf8_error(file, data, exc) from None


def read_header(path: Path, file: str) -> Header:
    """The header of input ``file`` (at ``path``); HeaderError when it cannot be read."""
    # never blocks: a path swapped for a FIFO after check_input is refused, not waited on
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise HeaderError(f"{file}: not a regular file")
        data = fh.read(SAMPLE_BYTES)
        complete = not fh.read(1)
    if not data.strip():
        return _empty(file, path.suffix.lower())
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_header(file, data, complete)
    if suffix in (".json", ".jsonl", ".ndjson"):
        return _json_header(file, data, complete, array_allowed=suffix == ".json")
    if suffix in (".parquet", ".pqt"):
        if not data.startswith(b"PAR1"):
            raise HeaderError(f"{file}:1:1: not a Parquet file (it does not start with PAR1)")
        return Header(())
    if suffix == ".avro":
        from runner.platforms.local.avro_blocks import AvroReadError, header_of

        try:
            header_of(path)
        except AvroReadError as exc:
            raise HeaderError(f"{file}: not a readable Avro file: {exc}") from None
    return Header(())


def _empty(file: str, suffix: str) -> Header:
    if suffix == ".csv":
        raise HeaderError(
            f"{file}:1:1: the file is empty; a CSV input needs at least its header line "
            "(the column names)"
        )
    kind = {".avro": "an Avro", ".parquet": "a Parquet", ".pqt": "a Parquet"}.get(suffix)
    raise HeaderError(f"{file}:1:1: {f'not {kind} file: ' if kind else ''}the file is empty")


def _csv_header(file: str, data: bytes, complete: bool) -> Header:
    text = _decoded(file, data, complete)
    first = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    if not first.strip():
        raise HeaderError(f"{file}:1:1: the first line is blank; it must hold the column names")
    names = next(csv.reader([first]))
    return Header(tuple(names))


def _json_header(file: str, data: bytes, complete: bool, *, array_allowed: bool) -> Header:
    text = _decoded(file, data, complete)
    start = len(text) - len(text.lstrip())
    opener = text[start]
    if opener not in ("[{" if array_allowed else "{"):
        wanted = (
            "an array of objects or one object a line" if array_allowed else "one object a line"
        )
        raise HeaderError(
            f"{where(file, data, len(text[:start].encode()))}: expected {wanted} (JSON), "
            f"found {opener!r}"
        )
    decoder = json.JSONDecoder()
    names: dict[str, None] = {}
    pos = start + 1 if opener == "[" else start
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return Header(tuple(names))
        begin = pos
        try:
            record, pos = decoder.raw_decode(text, pos)
        except RecursionError:
            at = where(file, data, len(text[:begin].encode()))
            raise HeaderError(f"{at}: this JSON value is nested too deeply to read") from None
        except json.JSONDecodeError as exc:
            if not complete and "\n" not in text[exc.pos :]:
                return Header(tuple(names))  # a record cut by the sample's end
            at = where(file, data, len(text[: exc.pos].encode()))
            raise HeaderError(f"{at}: not valid JSON: {exc.msg}") from None
        if not isinstance(record, dict):
            at = where(file, data, len(text[:begin].encode()))
            raise HeaderError(f"{at}: each record must be a JSON object (name: value)")
        if opener == "{" and "\n" in text[begin:pos]:
            at = where(file, data, len(text[:begin].encode()))
            raise HeaderError(
                f"{at}: this JSON object spans several lines; without an array each line "
                "holds one whole object (write one object a line, or put them in [ ])"
            )
        names.update(dict.fromkeys(record))
