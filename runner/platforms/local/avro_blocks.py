"""Avro object container files, block by block: the header, and groups of raw blocks.

A file is a header (magic, metadata, sync marker) then blocks (row count, byte size,
data, sync marker). Reading the framing ourselves lets a reader stream any file in
bounded memory (each group of blocks plus the header is itself a valid Avro file that
polars or fastavro decodes), and name the block where a corrupt or truncated file breaks.
Only the framing is read here, in Python per block; rows are decoded elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

MAGIC = b"Obj\x01"
SYNC_SIZE = 16
#: largest block (bytes) a reader accepts: larger sizes mean a corrupt size field
MAX_BLOCK_BYTES = 1 << 31


class AvroReadError(ValueError):
    """An Avro file that cannot be read; the message says where and why (not which file)."""


@dataclass(frozen=True)
class Header:
    raw: bytes  # the header's bytes, to put in front of a group of blocks
    schema: Any  # the writer schema, parsed JSON
    codec: str
    sync: bytes
    meta: dict[str, bytes]  # the metadata map, as read

    def with_schema(self, schema: Any) -> bytes:
        """The header's bytes with another writer schema (the same sync marker)."""

        def text(value: bytes) -> bytes:
            return encode_long(len(value)) + value

        meta = {**self.meta, "avro.schema": json.dumps(schema).encode()}
        entries = b"".join(text(k.encode()) + text(v) for k, v in meta.items())
        return MAGIC + encode_long(len(meta)) + entries + encode_long(0) + self.sync


@dataclass(frozen=True)
class Group:
    """Consecutive blocks: their raw bytes (with counts and sync markers), rows, position."""

    first_block: int  # 1-based
    offset: int  # byte offset of the first block
    blocks: int
    rows: int
    raw: bytes


def _read_long(fh: IO[bytes], where: str) -> int:
    shift = 0
    result = 0
    while True:
        byte = fh.read(1)
        if not byte:
            raise AvroReadError(f"the file ends inside {where}: it is truncated")
        b = byte[0]
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return (result >> 1) ^ -(result & 1)
        shift += 7
        if shift > 63:
            raise AvroReadError(f"{where} holds an invalid number: the file is corrupt")


def encode_long(value: int) -> bytes:
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _read_exact(fh: IO[bytes], size: int, where: str) -> bytes:
    data = fh.read(size)
    if len(data) != size:
        raise AvroReadError(
            f"the file ends inside {where} ({size:,} bytes expected, {len(data):,} left): "
            "it is truncated"
        )
    return data


def read_header(fh: IO[bytes]) -> Header:
    """The header of the file open at its start; the file is left at the first block."""
    magic = fh.read(4)
    if magic != MAGIC:
        raise AvroReadError("not an Avro file: it does not start with the Avro magic bytes")
    meta: dict[str, bytes] = {}
    while True:
        count = _read_long(fh, "the header")
        if count == 0:
            break
        if count < 0:
            count = -count
            _read_long(fh, "the header")
        for _ in range(count):
            key = _read_exact(fh, _length(fh), "the header")
            meta[key.decode("utf-8", "replace")] = _read_exact(fh, _length(fh), "the header")
    sync = _read_exact(fh, SYNC_SIZE, "the header")
    end = fh.tell()
    fh.seek(0)
    raw = fh.read(end)
    try:
        schema = json.loads(meta["avro.schema"])
    except KeyError:
        raise AvroReadError("the header has no avro.schema: the file is corrupt") from None
    except ValueError:
        raise AvroReadError("the header's avro.schema is not JSON: the file is corrupt") from None
    codec = meta.get("avro.codec", b"null").decode("utf-8", "replace") or "null"
    return Header(raw, schema, codec, sync, meta)


def _length(fh: IO[bytes]) -> int:
    size = _read_long(fh, "the header")
    if size < 0 or size > MAX_BLOCK_BYTES:
        raise AvroReadError("the header holds an invalid length: the file is corrupt")
    return size


def header_of(path: Path) -> Header:
    with path.open("rb") as fh:
        return read_header(fh)


def where(block: int, offset: int) -> str:
    return f"block {block} (at byte {offset:,})"


def iter_groups(fh: IO[bytes], header: Header, batch_rows: int) -> Iterator[Group]:
    """Groups of whole blocks of about ``batch_rows`` rows, checking each block's framing."""
    block = 0
    pending: list[bytes] = []
    rows = 0
    first, offset = 1, fh.tell()
    while True:
        start = fh.tell()
        if not fh.read(1):
            break
        fh.seek(start)
        block += 1
        place = where(block, start)
        count = _read_long(fh, place)
        size = _read_long(fh, place)
        if count < 0 or size < 0 or size > MAX_BLOCK_BYTES:
            raise AvroReadError(f"{place} has an invalid row count or size: the file is corrupt")
        data = _read_exact(fh, size, place)
        sync = _read_exact(fh, SYNC_SIZE, f"the sync marker after {place}")
        if sync != header.sync:
            raise AvroReadError(
                f"the sync marker after {place} does not match the header's: the file is corrupt"
            )
        if not pending:
            first, offset = block, start
        pending.append(encode_long(count) + encode_long(size) + data + sync)
        rows += count
        if rows >= batch_rows:
            yield Group(first, offset, len(pending), rows, b"".join(pending))
            pending, rows = [], 0
    if pending:
        yield Group(first, offset, len(pending), rows, b"".join(pending))


def split(group: Group) -> Iterator[Group]:
    """The blocks of a group one by one (to find the one that does not decode)."""
    pos = 0
    offset = group.offset
    for index in range(group.blocks):
        view = memoryview(group.raw)[pos:]
        count, n1 = _decode_long(view)
        size, n2 = _decode_long(view[n1:])
        length = n1 + n2 + size + SYNC_SIZE
        yield Group(group.first_block + index, offset, 1, count, bytes(view[:length]))
        pos += length
        offset += length


def _decode_long(view: memoryview) -> tuple[int, int]:
    shift = result = 0
    for i, b in enumerate(view):
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return (result >> 1) ^ -(result & 1), i + 1
        shift += 7
    raise AvroReadError("invalid block framing")  # checked by iter_groups already
