"""An input's content hash, read together with the checks of its encoding and shape.

``plan`` hashes every input of a local job (its fingerprint); the same pass checks that a
CSV or JSON input is UTF-8 and that every CSV row has as many fields as the header, so a
Latin-1 file or a ragged row is a plan error naming the file, line and column instead of
a failure (or silent nulls) at apply. The checks run at C speed on the happy path (an
incremental UTF-8 decoder; commas and newlines outside quotes compared with the pattern
of a good row); only a file that fails is read again, in Python, to find the place.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

_TEXT = (".csv", ".json", ".jsonl", ".ndjson")
#: every byte but the quote, the comma and the newline (deleted to see a CSV's shape)
_NOT_SHAPE = bytes(b for b in range(256) if b not in b'",\n')

_lock = threading.Lock()
_cache: dict[tuple[str, int, int], str] = {}


class InputShapeError(ValueError):
    """An input that is not UTF-8, or a CSV with a row of the wrong width."""


class _CsvShape:
    """Commas and newlines outside quotes, compared chunk by chunk with a good row's."""

    def __init__(self) -> None:
        self.in_quote = False
        self.row: bytes | None = None  # the shape of a good row: the header's commas + \n
        self.tail = b""  # the shape of the current (unfinished) row
        self.good = True

    def feed(self, chunk: bytes) -> None:
        if not self.good:
            return
        shape = chunk.translate(None, _NOT_SHAPE)
        if (
            self.in_quote or b'"' in shape
        ):  # keep what is outside quotes (a doubled quote toggles twice)
            parts = shape.split(b'"')
            shape = b"".join(parts[1::2] if self.in_quote else parts[0::2])
            self.in_quote ^= len(parts) % 2 == 0
        shape = self.tail + shape
        end = shape.rfind(b"\n") + 1
        self.tail = shape[end:]
        lines = shape[:end]
        if self.row is None:
            if not end:
                return
            first = lines.index(b"\n") + 1
            self.row, lines = lines[:first], lines[first:]
        while b"\n\n" in lines:  # blank lines are skipped by the reader
            lines = lines.replace(b"\n\n", b"\n")
        if lines.startswith(b"\n") and self.row != b"\n":
            lines = lines[1:]
        if lines != self.row * lines.count(b"\n"):
            self.good = False

    def finish(self) -> bool:
        if self.good and self.tail and self.row is not None:
            self.good = self.tail + b"\n" == self.row
        return self.good and not self.in_quote


def known_sha256(key: tuple[str, int, int]) -> str | None:
    """The sha256 :func:`checked_sha256` found for (resolved path, size, mtime_ns), if any."""
    with _lock:
        return _cache.get(key)


def checked_sha256(path: Path, file: str) -> str:
    """The sha256 of an input; InputShapeError when its encoding or shape is wrong.

    Cached per (path, size, mtime_ns) in this process, as the check is part of the read.
    """
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    suffix = path.suffix.lower()
    decoder = codecs.getincrementaldecoder("utf-8")() if suffix in _TEXT else None
    shape = _CsvShape() if suffix == ".csv" else None
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            try:
                if decoder is not None and not chunk.isascii():
                    decoder.decode(chunk)
            except UnicodeDecodeError:
                raise _utf8_error(path, file) from None
            if shape is not None:
                shape.feed(chunk)
    if decoder is not None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise _utf8_error(path, file) from None
    if shape is not None and not shape.finish():
        problem = _ragged(path, file, unclosed=shape.in_quote)
        if problem is not None:
            raise problem
    value = digest.hexdigest()
    with _lock:
        _cache[key] = value
    return value


def _utf8_error(path: Path, file: str) -> InputShapeError:
    """Where the first byte that is not UTF-8 is (the file is read again, line by line)."""
    with path.open("rb") as fh:
        for number, line in enumerate(fh, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = line[exc.start]
                guess = " (Latin-1 or Windows-1252?)" if bad >= 0x80 else ""
                column = len(line[: exc.start].decode("utf-8", errors="replace")) + 1
                return InputShapeError(
                    f"{file}:{number}:{column}: the byte 0x{bad:02x} is not UTF-8{guess}; "
                    "inputs are read as UTF-8: save the file as UTF-8"
                )
    return InputShapeError(f"{file}: the file ends inside a UTF-8 character")


def _ragged(path: Path, file: str, *, unclosed: bool) -> InputShapeError | None:
    """The first row whose number of fields is not the header's (read again with csv)."""
    last = [""]

    def lines(fh: Iterable[str]) -> Iterator[str]:
        for line in fh:
            last[0] = line
            yield line

    with path.open("r", encoding="utf-8", newline="") as fh:
        reader = csv.reader(lines(fh))
        header = next(reader, [])
        for row in reader:
            if row and len(row) != len(header):
                text = last[0].rstrip("\r\n")
                column = _field_start(text, len(header)) if len(row) > len(header) else None
                fields = f"{len(row)} field{'s' if len(row) != 1 else ''}"
                return InputShapeError(
                    f"{file}:{reader.line_num}:{column or len(text) + 1}: this row has {fields}, "
                    f"the header {len(header)}; every row needs one value per column (an empty "
                    "value is written as nothing between two commas)"
                )
    if unclosed:
        return InputShapeError(f"{file}: a quoted value is not closed before the end of the file")
    return None  # only blank lines differed: the reader skips them


def _field_start(line: str, index: int) -> int | None:
    """The 1-based column where field ``index`` (0-based) of a one-line record starts."""
    quoted, commas = False, 0
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            commas += 1
            if commas == index:
                return i + 2
    return None


def json_problem(path: Path, file: str) -> str | None:
    """Where a JSON input polars could not read breaks (it is read again, in Python)."""
    try:
        return _json_problem(path, file)
    except RecursionError:
        return f"{file}: a JSON value is nested too deeply to read"


def _json_problem(path: Path, file: str) -> str | None:
    if path.suffix.lower() not in (".json", ".jsonl", ".ndjson"):
        return None
    with path.open("rb") as fh:
        start = fh.read(4096).lstrip()
    if start.startswith(b"["):
        try:
            json.loads(path.read_bytes())
        except json.JSONDecodeError as exc:
            return f"{file}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"
        except UnicodeDecodeError:
            return str(_utf8_error(path, file))
        return None
    with path.open("rb") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                return (
                    f"{file}:{number}:{exc.colno}: not valid JSON: {exc.msg} (without an "
                    "array, each line holds one whole JSON object)"
                )
            except UnicodeDecodeError:
                return str(_utf8_error(path, file))
            if not isinstance(record, dict):
                return f"{file}:{number}:1: each line must be a JSON object (name: value)"
    return None
