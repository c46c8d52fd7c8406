"""Write the Avro corpus: valid files by fastavro and by the Apache ``avro`` package, and
invalid ones with the error each must give.

    python tests/corpus/avro/make_corpus.py          # rewrite tests/corpus/avro/{valid,invalid}

The committed files are small; :func:`write_big` makes the large ones (1 MB strings) at
test time. Apache's Python package writes no ``xz`` (fastavro covers it); its ``snappy``
needs python-snappy and its ``zstandard`` the zstandard package (both in the test extra).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
import uuid
import warnings
from collections.abc import Callable, Iterable
from decimal import Context, Decimal
from pathlib import Path
from typing import Any

import fastavro

HERE = Path(__file__).resolve().parent
FASTAVRO_CODECS = ("null", "deflate", "snappy", "bzip2", "xz", "zstandard")
APACHE_CODECS = ("null", "deflate", "snappy", "bzip2", "zstandard")
UTC = dt.UTC
#: decimal arithmetic without rounding (Python's default context keeps 28 digits)
EXACT = Context(prec=200)

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
STRINGS = [
    "",
    "plain",
    "nul\x00inside",
    "\\.",
    "\\N",
    "a\r\nb\rc\nd",
    "tab\there",
    "quotes ' \" `",
    "back\\slash\\",
    "comma,semi;pipe|",
    "caf\u00e9 \u4e2d\u6587 \U0001f600 \U0010ffff",
    " leading and trailing ",
    "NULL",
]
FLOATS = [0.0, -0.0, 1.5, float("nan"), float("inf"), float("-inf"), 1e-45, 3.4028234663852886e38]
DOUBLES = [
    0.0,
    -0.0,
    0.1,
    float("nan"),
    float("inf"),
    float("-inf"),
    5e-324,
    1.7976931348623157e308,
]


def record(name: str, fields: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": fields, **extra}


def field(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


# --- schemas and rows ---------------------------------------------------------------------
def primitives() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    schema = record(
        "Primitives",
        [
            field("n", "null"),
            field("b", "boolean"),
            field("i", "int"),
            field("l", "long"),
            field("f", "float"),
            field("d", "double"),
            field("by", "bytes"),
            field("s", "string"),
            field("oi", ["null", "int"]),
            field("ol", ["long", "null"]),
            field("os", ["null", "string"]),
            field("oby", ["null", "bytes"]),
        ],
        namespace="corpus.primitives",
    )
    rows = []
    for k in range(max(len(STRINGS), len(FLOATS))):
        rows.append(
            {
                "n": None,
                "b": k % 2 == 0,
                "i": [INT32[0], INT32[1], 0, -1, 1][k % 5],
                "l": [INT64[0], INT64[1], 0, -1, 2**53 + 1][k % 5],
                "f": FLOATS[k % len(FLOATS)],
                "d": DOUBLES[k % len(DOUBLES)],
                "by": bytes(range(256)) if k == 0 else bytes([k, 0, 255]) * k,
                "s": STRINGS[k % len(STRINGS)],
                "oi": None if k % 3 == 0 else k,
                "ol": None if k % 3 == 1 else -k,
                "os": None if k % 3 == 2 else STRINGS[(k + 3) % len(STRINGS)],
                "oby": None if k % 2 else b"\x00\\.\n",
            }
        )
    return schema, rows


def logical() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    def lt(base: str, name: str, **extra: Any) -> dict[str, Any]:
        return {"type": base, "logicalType": name, **extra}

    schema = record(
        "Logical",
        [
            field("date", lt("int", "date")),
            field("time_ms", lt("int", "time-millis")),
            field("time_us", lt("long", "time-micros")),
            field("ts_ms", lt("long", "timestamp-millis")),
            field("ts_us", lt("long", "timestamp-micros")),
            field("lts_ms", lt("long", "local-timestamp-millis")),
            field("lts_us", lt("long", "local-timestamp-micros")),
            field("uuid", lt("string", "uuid")),
            field("dec", lt("bytes", "decimal", precision=12, scale=4)),
            field(
                "dec_fixed",
                {
                    "type": "fixed",
                    "name": "Dec8",
                    "size": 8,
                    "logicalType": "decimal",
                    "precision": 18,
                    "scale": 3,
                },
            ),
            field("dec0", lt("bytes", "decimal", precision=5)),
            field("color", {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN", "BLUE"]}),
            field("md5", {"type": "fixed", "name": "MD5", "size": 16}),
            field("unknown_logical", lt("string", "not-a-logical-type")),
            field("odate", ["null", lt("int", "date")]),
            field("ots", ["null", lt("long", "timestamp-micros")]),
            field("odec", ["null", lt("bytes", "decimal", precision=38, scale=10)]),
        ],
    )
    dates = [dt.date(1970, 1, 1), dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(1969, 12, 31)]
    times = [dt.time(0, 0), dt.time(23, 59, 59, 999000), dt.time(12, 30, 0, 1000), dt.time(1, 2, 3)]
    times_us = [dt.time(0, 0), dt.time(23, 59, 59, 999999), dt.time(12, 30, 0, 1), dt.time(1, 2, 3)]
    stamps = [
        dt.datetime(1970, 1, 1, tzinfo=UTC),
        dt.datetime(2024, 2, 29, 23, 59, 59, 999000, tzinfo=UTC),
        dt.datetime(1900, 1, 1, 0, 0, 0, 1000, tzinfo=UTC),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    ]
    stamps_us = [
        s.replace(microsecond=s.microsecond + (k * 7 % 1000)) for k, s in enumerate(stamps)
    ]
    decs = [
        Decimal("0.0000"),
        Decimal("99999999.9999"),
        Decimal("-99999999.9999"),
        Decimal("1.2300"),
    ]
    rows = []
    for k in range(4):
        rows.append(
            {
                "date": dates[k],
                "time_ms": times[k],
                "time_us": times_us[k],
                "ts_ms": stamps[k],
                "ts_us": stamps_us[k],
                "lts_ms": stamps[k].replace(tzinfo=None),
                "lts_us": stamps_us[k].replace(tzinfo=None),
                "uuid": str(uuid.UUID(int=(k * 0x0123456789ABCDEF) << 40)),
                "dec": decs[k],
                "dec_fixed": [
                    Decimal("0.000"),
                    Decimal("999999999999999.999"),
                    Decimal("-999999999999999.999"),
                    Decimal("-0.001"),
                ][k],
                "dec0": [Decimal(0), Decimal(99999), Decimal(-99999), Decimal(7)][k],
                "color": ["RED", "GREEN", "BLUE", "RED"][k],
                "md5": bytes(range(k, k + 16)),
                "unknown_logical": f"u{k}",
                "odate": None if k % 2 else dates[k],
                "ots": None if k % 2 == 0 else stamps_us[k],
                "odec": None
                if k == 3
                else EXACT.multiply(Decimal("1234567890123456789012345678.0123456789"), k - 1),
            }
        )
    return schema, rows


def decimals() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Every precision 1..76 (bytes), and fixed ones of a few sizes."""
    fields = []
    for p in range(1, 77):
        fields.append(
            field(
                f"p{p}",
                {"type": "bytes", "logicalType": "decimal", "precision": p, "scale": p // 3},
            )
        )
    for p, size in ((9, 4), (38, 16), (39, 17), (76, 32)):
        fields.append(
            field(
                f"fixed{p}",
                {
                    "type": "fixed",
                    "name": f"F{p}",
                    "size": size,
                    "logicalType": "decimal",
                    "precision": p,
                    "scale": 2,
                },
            )
        )
    fields.append(
        field(
            "opt76",
            ["null", {"type": "bytes", "logicalType": "decimal", "precision": 76, "scale": 20}],
        )
    )

    def value(p: int, s: int, kind: int) -> Decimal:
        biggest = Decimal(10**p - 1).scaleb(-s, EXACT)
        return [
            biggest,
            EXACT.minus(biggest),
            Decimal(0).scaleb(-s, EXACT),
            Decimal(1).scaleb(-s, EXACT),
        ][kind]

    rows = []
    for kind in range(4):
        row: dict[str, Any] = {f"p{p}": value(p, p // 3, kind) for p in range(1, 77)}
        for p in (9, 38, 39, 76):
            row[f"fixed{p}"] = value(p, 2, kind)
        row["opt76"] = None if kind == 2 else value(76, 20, kind)
        rows.append(row)
    return schema_of(fields, "Decimals"), rows


def schema_of(fields: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return record(name, fields)


def defaults_and_aliases() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    schema = record(
        "Defaults",
        [
            field("id", "long", default=0, aliases=["ident", "key"], doc="the id"),
            field("name", "string", default="none", aliases=["label"]),
            field("ratio", "double", default=1.5, order="descending"),
            field("flag", "boolean", default=False),
            field("maybe", ["null", "string"], default=None),
            field("tags", {"type": "array", "items": "string"}, default=[]),
            field("attrs", {"type": "map", "values": "long"}, default={}),
            field("raw", "bytes", default="\u0000\u00ff"),
            field(
                "kind",
                {"type": "enum", "name": "Kind", "symbols": ["A", "B"], "default": "A"},
                default="B",
            ),
        ],
        aliases=["OldDefaults"],
        namespace="corpus.defaults",
        doc="every field has a default",
    )
    rows = [
        {
            "id": 1,
            "name": "one",
            "ratio": 0.5,
            "flag": True,
            "maybe": "x",
            "tags": ["a", "b"],
            "attrs": {"k": 1},
            "raw": b"\x01",
            "kind": "A",
        },
        {
            "id": 2,
            "name": "",
            "ratio": -0.0,
            "flag": False,
            "maybe": None,
            "tags": [],
            "attrs": {},
            "raw": b"",
            "kind": "B",
        },
    ]
    return schema, rows


def named_reuse() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    point = record("Point", [field("x", "double"), field("y", "double")], namespace="geo")
    schema = record(
        "Segment",
        [
            field("start", point),
            field("end", "geo.Point"),
            field("state", {"type": "enum", "name": "State", "symbols": ["ON", "OFF"]}),
            field("previous", "State"),
            field("hash", {"type": "fixed", "name": "Hash", "size": 4}),
            field("other_hash", ["null", "Hash"]),
        ],
    )
    rows = [
        {
            "start": {"x": 0.0, "y": -0.0},
            "end": {"x": 1.5, "y": float("nan")},
            "state": "ON",
            "previous": "OFF",
            "hash": b"\x00\x01\x02\x03",
            "other_hash": None,
        },
        {
            "start": {"x": 1e308, "y": float("-inf")},
            "end": {"x": 2.0, "y": 3.0},
            "state": "OFF",
            "previous": "ON",
            "hash": b"abcd",
            "other_hash": b"\xff\xfe\xfd\xfc",
        },
    ]
    return schema, rows


def flat_defaults() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The shape of most real-world files (Kafka Connect, Debezium): nullable fields with
    null defaults, and an enum and a fixed type used twice; no nesting (polars reads it)."""
    status = {
        "type": "enum",
        "name": "Status",
        "namespace": "shop",
        "symbols": ["NEW", "PAID", "SHIPPED"],
        "default": "NEW",
    }
    code = {"type": "fixed", "name": "Code", "namespace": "shop", "size": 2}
    schema = record(
        "Flat",
        [
            field("id", "long", default=0),
            field("name", ["null", "string"], default=None),
            field(
                "amount",
                ["null", {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}],
                default=None,
            ),
            field("status", status, default="NEW"),
            field("previous", "shop.Status", default="NEW"),  # polars panics on ["null", enum]
            field("code", code),
            field("other_code", ["null", "Code"], default=None),
            field(
                "at", ["null", {"type": "long", "logicalType": "timestamp-millis"}], default=None
            ),
        ],
        namespace="shop",
    )
    rows = [
        {
            "id": k,
            "name": None if k % 3 == 0 else STRINGS[k % len(STRINGS)],
            "amount": None if k % 4 == 0 else Decimal(k * 101).scaleb(-2),
            "status": ["NEW", "PAID", "SHIPPED"][k % 3],
            "previous": ["NEW", "PAID", "SHIPPED"][(k + 1) % 3],
            "code": bytes([k % 256, 255 - k % 256]),
            "other_code": None if k % 5 == 0 else b"\x00\x01",
            "at": None
            if k % 6 == 0
            else dt.datetime(2024, 1, 1, 0, 0, k % 60, 1000 * k, tzinfo=UTC),
        }
        for k in range(40)
    ]
    return schema, rows


def recursive() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    schema = record(
        "Node",
        [
            field("value", "long"),
            field("label", "string"),
            field("next", ["null", "Node"]),
            field("children", {"type": "array", "items": "Node"}),
        ],
    )
    leaf = {"value": 3, "label": "leaf", "next": None, "children": []}
    rows = [
        {
            "value": 1,
            "label": "head",
            "next": {"value": 2, "label": "mid", "next": leaf, "children": []},
            "children": [leaf, leaf],
        },
        {"value": INT64[0], "label": "", "next": None, "children": []},
    ]
    return schema, rows


def unions() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    inner = record("Inner", [field("a", "int"), field("b", ["null", "bytes"])])
    schema = record(
        "Unions",
        [
            field("num_or_text", ["null", "long", "string"]),
            field("many", ["int", "string", "bytes", "double", "boolean", "null"]),
            field("rec_or_list", ["null", inner, {"type": "array", "items": "long"}]),
            field(
                "dec_or_text",
                [
                    {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2},
                    "string",
                ],
            ),
            field("only_null", ["null"]),
        ],
    )
    rows = [
        {
            "num_or_text": 1,
            "many": 7,
            "rec_or_list": {"a": 1, "b": b"\x00"},
            "dec_or_text": Decimal("1.50"),
            "only_null": None,
        },
        {
            "num_or_text": "one",
            "many": "seven",
            "rec_or_list": [1, 2, INT64[1]],
            "dec_or_text": "text",
            "only_null": None,
        },
        {
            "num_or_text": None,
            "many": b"\xff\x00",
            "rec_or_list": None,
            "dec_or_text": Decimal("-0.01"),
            "only_null": None,
        },
        {
            "num_or_text": INT64[0],
            "many": float("nan"),
            "rec_or_list": {"a": -1, "b": None},
            "dec_or_text": "\\N",
            "only_null": None,
        },
        {"num_or_text": "", "many": False, "rec_or_list": [], "dec_or_text": "", "only_null": None},
        {
            "num_or_text": 0,
            "many": None,
            "rec_or_list": None,
            "dec_or_text": "\U0010ffff",
            "only_null": None,
        },
    ]
    return schema, rows


def maps() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    entry = record(
        "Entry", [field("when", {"type": "int", "logicalType": "date"}), field("blob", "bytes")]
    )
    schema = record(
        "Maps",
        [
            field("counts", {"type": "map", "values": "long"}),
            field("names", {"type": "map", "values": ["null", "string"]}),
            field("blobs", {"type": "map", "values": "bytes"}),
            field("entries", {"type": "map", "values": entry}),
            field("nested", {"type": "map", "values": {"type": "map", "values": "double"}}),
            field("omap", ["null", {"type": "map", "values": "int"}]),
        ],
    )
    rows = [
        {
            "counts": {"a": 1, "b": INT64[1], "": 0},
            "names": {"x": None, "y": '"q"\n'},
            "blobs": {"z": b"\x00\x01"},
            "entries": {"e": {"when": dt.date(2020, 1, 2), "blob": b"\xff"}},
            "nested": {"o": {"i": float("inf"), "j": -0.0}},
            "omap": None,
        },
        {
            "counts": {},
            "names": {},
            "blobs": {},
            "entries": {},
            "nested": {},
            "omap": {"k\u00e9": 1},
        },
    ]
    return schema, rows


def nested() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    item = record(
        "Item",
        [
            field("sku", "string"),
            field("price", {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}),
            field("image", ["null", "bytes"]),
            field("added", {"type": "long", "logicalType": "timestamp-micros"}),
            field("tags", {"type": "array", "items": "string"}),
        ],
    )
    schema = record(
        "Order",
        [
            field("id", "long"),
            field(
                "customer",
                record(
                    "Customer",
                    [
                        field("name", "string"),
                        field("born", {"type": "int", "logicalType": "date"}),
                    ],
                ),
            ),
            field("items", {"type": "array", "items": item}),
            field("matrix", {"type": "array", "items": {"type": "array", "items": "float"}}),
            field("blobs", {"type": "array", "items": "bytes"}),
            field("note", ["null", "string"]),
        ],
    )
    when = dt.datetime(2021, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    rows = [
        {
            "id": 1,
            "customer": {"name": "Zo\u00eb \t\\.", "born": dt.date(1990, 1, 1)},
            "items": [
                {
                    "sku": "a",
                    "price": Decimal("9.99"),
                    "image": b"\x89PNG\x00",
                    "added": when,
                    "tags": ["x", ""],
                },
                {"sku": "b", "price": Decimal("-0.01"), "image": None, "added": when, "tags": []},
            ],
            "matrix": [[1.0, float("nan")], [], [-0.0]],
            "blobs": [b"", b"\x00"],
            "note": None,
        },
        {
            "id": 2,
            "customer": {"name": "", "born": dt.date(1, 1, 1)},
            "items": [],
            "matrix": [],
            "blobs": [],
            "note": "\r\n",
        },
    ]
    return schema, rows


def empty() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return primitives()[0], []


def many_blocks() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    schema = record("Blocks", [field("i", "long"), field("s", "string")])
    return schema, [{"i": i, "s": f"row {i}"} for i in range(3000)]


def nanos() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Nanosecond timestamps (Avro 1.12) holding whole microseconds (fastavro writes ints)."""
    schema = record(
        "Nanos",
        [
            field("ts_ns", {"type": "long", "logicalType": "timestamp-nanos"}),
            field("lts_ns", {"type": "long", "logicalType": "local-timestamp-nanos"}),
            field("ots_ns", ["null", {"type": "long", "logicalType": "timestamp-nanos"}]),
        ],
    )
    values = [0, 1_000, -1_000, 1_700_000_000_123_456_000, -2_208_988_800_000_000_000]
    return schema, [
        {"ts_ns": v, "lts_ns": -v, "ots_ns": None if k % 2 else v} for k, v in enumerate(values)
    ]


TOP_LEVEL: dict[str, tuple[Any, list[Any]]] = {
    "toplevel_long": ("long", [0, INT64[0], INT64[1]]),
    "toplevel_string": ("string", STRINGS),
    "toplevel_array": ({"type": "array", "items": "int"}, [[1, 2], [], [INT32[0]]]),
    "toplevel_map": ({"type": "map", "values": "string"}, [{"a": "b"}, {}]),
    "toplevel_union": (["null", "double", "string"], [None, 1.5, "x", float("-inf")]),
    "toplevel_enum": ({"type": "enum", "name": "Suit", "symbols": ["H", "S"]}, ["H", "S"]),
}

BOTH: dict[str, Callable[[], tuple[Any, list[Any]]]] = {
    "logical": logical,
    "decimals": decimals,
    "defaults": defaults_and_aliases,
    "named_reuse": named_reuse,
    "flat_defaults": flat_defaults,
    "recursive": recursive,
    "unions": unions,
    "maps": maps,
    "nested": nested,
    "empty": empty,
}


# --- writers --------------------------------------------------------------------------------
def write_fastavro(
    path: Path, schema: Any, rows: Iterable[Any], codec: str = "null", sync_interval: int = 16000
) -> None:
    with path.open("wb") as fh:
        fastavro.writer(
            fh, fastavro.parse_schema(schema), rows, codec=codec, sync_interval=sync_interval
        )


def write_apache(path: Path, schema: Any, rows: Iterable[Any], codec: str = "null") -> None:
    import avro.datafile
    import avro.errors
    import avro.io
    import avro.schema

    with warnings.catch_warnings():  # it warns of the types it does not know, as it should
        warnings.simplefilter("ignore", avro.errors.IgnoredLogicalType)
        parsed = avro.schema.parse(json.dumps(schema))
    with path.open("wb") as fh:
        writer = avro.datafile.DataFileWriter(fh, avro.io.DatumWriter(), parsed, codec=codec)
        for row in rows:
            writer.append(row)
        writer.flush()
        writer.close()


def write_valid(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    schema, rows = primitives()
    for codec in FASTAVRO_CODECS:
        out.append(folder / f"primitives.fastavro.{codec}.avro")
        write_fastavro(out[-1], schema, rows, codec)
    for codec in APACHE_CODECS:
        out.append(folder / f"primitives.apache.{codec}.avro")
        write_apache(out[-1], schema, rows, codec)
    for name, make in BOTH.items():
        schema, rows = make()
        out.append(folder / f"{name}.fastavro.deflate.avro")
        write_fastavro(out[-1], schema, rows, "deflate")
        out.append(folder / f"{name}.apache.null.avro")
        write_apache(out[-1], schema, apache_rows(name, rows))
    for name, (schema, rows) in TOP_LEVEL.items():
        out.append(folder / f"{name}.fastavro.null.avro")
        write_fastavro(out[-1], schema, rows)
    schema, rows = nanos()
    out.append(folder / "nanos.fastavro.null.avro")
    write_fastavro(out[-1], schema, rows)
    schema, rows = many_blocks()
    for codec in ("null", "snappy", "zstandard"):
        out.append(folder / f"many_blocks.fastavro.{codec}.avro")
        write_fastavro(out[-1], schema, rows, codec, sync_interval=2000)
    return out


def apache_rows(name: str, rows: list[Any]) -> list[Any]:
    """Apache's Python writer knows no local-timestamp types: give it their raw longs."""
    if name != "logical":
        return rows
    epoch = dt.datetime(1970, 1, 1)

    def micros(value: dt.datetime) -> int:
        delta = value - epoch
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

    return [
        {**r, "lts_ms": micros(r["lts_ms"]) // 1000, "lts_us": micros(r["lts_us"])} for r in rows
    ]


# --- invalid files --------------------------------------------------------------------------
def _blocks_file(codec: str) -> bytes:
    schema, rows = many_blocks()
    buf = io.BytesIO()
    fastavro.writer(buf, fastavro.parse_schema(schema), rows, codec=codec, sync_interval=2000)
    return buf.getvalue()


def _block_offsets(data: bytes) -> list[int]:
    """Byte offsets of the blocks of a file written by :func:`_blocks_file`."""
    sync = data[_header_end(data) - 16 : _header_end(data)]
    offsets, pos = [], _header_end(data)
    while pos < len(data):
        offsets.append(pos)
        pos = data.index(sync, pos) + 16
    return offsets


def _header_end(data: bytes) -> int:
    from runner.platforms.local.avro_blocks import read_header

    return len(read_header(io.BytesIO(data)).raw)


def write_invalid(folder: Path) -> dict[str, str]:
    """The invalid files, and for each a regex its error message must match."""
    folder.mkdir(parents=True, exist_ok=True)
    plain = _blocks_file("null")
    deflated = _blocks_file("deflate")
    blocks = _block_offsets(plain)
    cases: dict[str, tuple[bytes, str]] = {
        "bad_magic.avro": (b"PAR1 not an avro file at all", r"not an Avro file"),
        "empty_file.avro": (b"", r"not an Avro file"),
        "truncated_header.avro": (plain[:30], r"the file ends inside the header"),
        "truncated_block.avro": (plain[: blocks[2] + 40], r"ends inside block 3 \(at byte"),
        "truncated_sync.avro": (plain[: blocks[2] - 5], r"sync marker after block 2"),
        "bad_sync.avro": (_flip(plain, blocks[3] - 3), r"sync marker after block 3 .*corrupt"),
        "corrupt_deflate.avro": (
            _flip(deflated, _block_offsets(deflated)[1] + 20, 6),
            r"block 2 \(at byte [\d,]+\) does not decode",
        ),
        "bad_utf8.avro": (_bad_utf8(plain, blocks), r"block 2 \(at byte [\d,]+\) does not decode"),
        "unknown_codec.avro": (plain.replace(b"\x08null", b"\x08lzo!", 1), r"'lzo!' codec"),
        "schema_not_json.avro": (_bad_schema(), r"avro\.schema is not JSON"),
        "negative_count.avro": (_negative_count(plain, blocks), r"block 2 .*invalid row count"),
        "sub_micro_nanos.avro": (_sub_micro(), r"column 'ts_ns', row 3: .*fraction of a micro"),
        "polars_panics.avro": (_polars_panic(), r"block \d+ \(at byte [\d,]+\) does not decode"),
    }
    expected = {}
    for name, (data, pattern) in cases.items():
        (folder / name).write_bytes(data)
        expected[name] = pattern
    (folder / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    return expected


def _flip(data: bytes, at: int, count: int = 1) -> bytes:
    out = bytearray(data)
    for k in range(count):
        out[at + k] ^= 0x5A
    return bytes(out)


def _bad_utf8(data: bytes, blocks: list[int]) -> bytes:
    at = data.index(b"row ", blocks[1])
    return data[:at] + b"\xff\xfe\xfd\xfc" + data[at + 4 :]


def _negative_count(data: bytes, blocks: list[int]) -> bytes:
    from runner.platforms.local.avro_blocks import encode_long

    at = blocks[1]
    count = encode_long(-5)
    old = bytearray(data)
    old[at : at + 1] = count[:1]  # a count of -1..-64 is one byte, like the original
    return bytes(old)


def _sub_micro() -> bytes:
    schema, rows = nanos()
    rows[2]["ts_ns"] += 1
    buf = io.BytesIO()
    fastavro.writer(buf, fastavro.parse_schema(schema), rows)
    return buf.getvalue()


def _polars_panic() -> bytes:
    """A deflate file corrupted where polars' reader panics (Rust) rather than erring."""
    import random

    import polars as pl

    from runner.quiet import quiet_stderr

    data = _blocks_file("deflate")
    rnd = random.Random(7)
    for _ in range(2000):
        out = bytearray(data)
        at = rnd.randrange(len(out) // 3, len(out) - 20)
        for k in range(4):
            out[at + k] = rnd.randrange(256)
        try:
            with quiet_stderr():
                pl.read_avro(io.BytesIO(bytes(out)))
        except pl.exceptions.PanicException:
            return bytes(out)
        except Exception:
            continue
    raise RuntimeError("no corruption made polars panic")


def _bad_schema() -> bytes:
    from runner.platforms.local.avro_blocks import MAGIC, encode_long

    def text(value: bytes) -> bytes:
        return encode_long(len(value)) + value

    meta = encode_long(1) + text(b"avro.schema") + text(b"{not json") + encode_long(0)
    return MAGIC + meta + b"\x00" * 16


def write_big(folder: Path) -> Path:
    """A file with 1 MB strings (made at test time: the repo keeps no large files)."""
    folder.mkdir(parents=True, exist_ok=True)
    schema = record(
        "Big", [field("id", "long"), field("text", "string"), field("blob", ["null", "bytes"])]
    )
    mb = '\U0010ffff\x00\\.\r\n\t"' + "x" * (1 << 20)
    rows = [
        {"id": k, "text": mb[k:] + str(k), "blob": (b"\x00\xff" * (1 << 19)) if k else None}
        for k in range(3)
    ]
    path = folder / "big_strings.fastavro.deflate.avro"
    write_fastavro(path, schema, rows, "deflate")
    return path


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else HERE
    for old in (*root.glob("valid/*.avro"), *root.glob("invalid/*")):
        old.unlink()
    valid = write_valid(root / "valid")
    invalid = write_invalid(root / "invalid")
    print(f"{len(valid)} valid and {len(invalid)} invalid files under {root}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[2]))
    raise SystemExit(main(sys.argv))
