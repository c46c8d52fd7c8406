"""What differs between the databases, as data: a small dialect per vendor.

A :class:`Dialect` says how a database names things (identifier limits, quoting), which
column type it creates for each logical type, how wide its integer columns are, which
collation the text columns it creates get, and how it spells the ledger. The publish
sequence (:mod:`runner.targets.skeleton`) and the planner read these; nothing here talks
to a database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from runner.errors import TargetError
from runner.results import decimal_of
from runner.targets._ledger import LedgerDialect

#: bits of each logical integer type (booleans are stored as 0/1 where there is no boolean)
LOGICAL_BITS: Mapping[str, int] = {"boolean": 1, "int8": 8, "int16": 16, "int32": 32, "int64": 64}

#: column types spelled alike by PostgreSQL, Redshift and SQLite
STANDARD_TYPES: Mapping[str, str] = {
    "boolean": "boolean",
    "int8": "smallint",
    "int16": "smallint",
    "int32": "integer",
    "int64": "bigint",
    "float32": "real",
    "float64": "double precision",
    "string": "text",
    "date": "date",
}


def decimal_fits(logical: tuple[int, int], precision: int, scale: int) -> bool:
    """Whether every ``decimal(p,s)`` value fits a ``(precision, scale)`` column unchanged:
    at least as many digits after the point, and at least as many before it."""
    p, s = logical
    return scale >= s and precision - scale >= p - s


def double_quote(identifier: str) -> str:
    """An SQL identifier in double quotes, embedded quotes doubled (SQLite)."""
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True)
class Dialect:
    """One database's naming, types and ledger spelling."""

    vendor: str
    #: logical type -> the column type created for it
    types: Mapping[str, str]
    #: the decimal column type's name: ``numeric`` or ``decimal``
    decimal: str
    #: integer column type -> its width in bits
    int_bits: Mapping[str, int]
    #: how the ledger table is spelled
    ledger: LedgerDialect
    #: an identifier as SQL text (the driver's quoting)
    quote: Callable[[str], str] = double_quote
    #: longest identifier, in bytes (UTF-8); None for no limit
    name_bytes: int | None = None
    #: the widest decimal column; wider decimals are refused (or stored as text)
    max_precision: int | None = None
    #: the collation of text columns it creates (None: the database's default)
    text_collation: str | None = None
    #: the column type for a logical type not in :attr:`types` (None: refuse it)
    fallback: str | None = None
    #: the column types of key columns that need a bounded length to be indexed
    key_types: Mapping[str, str] = field(default_factory=dict)
    #: column names that differ only in case name the same column
    fold_case: bool = False
    #: how messages name the database
    title: str = ""
    #: longest identifier, in characters; None for no limit
    name_chars: int | None = None
    #: identifiers may not end with a space (MySQL)
    no_trailing_space: bool = False
    #: identifiers may not hold characters beyond U+FFFF (MySQL / MariaDB: utf8mb3 names)
    bmp_names: bool = False
    #: the widest index key in bytes, and the bytes each key column type takes in it
    index_bytes: int | None = None
    key_bytes: Mapping[str, int] = field(default_factory=dict)
    #: decimals with more digits than this are stored as exact text, in a column of type
    #: :attr:`wide_decimal` (SQLite's numeric types keep 15 significant digits, MySQL's
    #: decimal at most 65 digits)
    exact_digits: int | None = None
    #: the text column type for those, formatted with ``p`` and ``s``
    wide_decimal: str = "text"
    #: values it cannot store ("nan", "infinity", "nul") -> why, for the error
    refused_values: Mapping[str, str] = field(default_factory=dict)

    def sql_type(self, logical: str) -> str:
        """The column type created for ``logical`` (lower case)."""
        logical = logical.strip().lower()
        dec = decimal_of(logical)
        if dec is not None:
            if self.max_precision is not None and dec[0] > self.max_precision:
                raise TargetError(
                    f"{self.vendor} {self.decimal} precision is at most "
                    f"{self.max_precision}, not {logical}"
                )
            if self.exact_digits is not None and dec[0] > self.exact_digits:
                return self.wide_decimal.format(p=dec[0], s=dec[1])
            return f"{self.decimal}({dec[0]},{dec[1]})"
        found = self.types.get(logical, self.fallback)
        if found is None:
            raise TargetError(f"{self.vendor} has no column type for {logical!r}")
        return found

    def key_type(self, logical: str) -> str:
        """The column type created for a key column of ``logical``."""
        typ = self.sql_type(logical)
        return self.key_types.get(typ, typ)

    def same_name(self, a: str, b: str) -> bool:
        """Whether two column names name the same column."""
        return a.lower() == b.lower() if self.fold_case else a == b

    def name_problem(self, name: str) -> str | None:
        """Why ``name`` cannot be an identifier here unchanged, or None."""
        title = self.title or self.vendor
        size = len(name.encode())
        if not name:
            return "is empty"
        if "\x00" in name:
            return f"holds the NUL character, which {title} names cannot hold"
        if self.name_bytes is not None and size > self.name_bytes:
            return (
                f"is {size} bytes long (UTF-8); {title} names are at most {self.name_bytes} "
                "bytes, and a longer one is cut short by the server"
            )
        if self.name_chars is not None and len(name) > self.name_chars:
            return f"is {len(name)} characters long; {title} names are at most {self.name_chars}"
        if self.no_trailing_space and name.endswith(" "):
            return f"ends with a space, which {title} names cannot"
        if self.bmp_names and any(ord(c) > 0xFFFF for c in name):
            return f"holds a character beyond U+FFFF, which {title} names cannot hold"
        return None

    def key_problem(self, key: Sequence[tuple[str, str]]) -> str | None:
        """Why an index on ``key`` (name, logical type) cannot be created, or None."""
        if self.index_bytes is None:
            return None
        total = 0
        for name, logical in key:
            total += self.key_bytes.get(logical, 16)
            if total > self.index_bytes:
                return (
                    f"key column {name!r} makes the key {total:,} bytes wide or more; "
                    f"{self.title or self.vendor} indexes at most {self.index_bytes:,} bytes "
                    f"(a text key column takes {self.key_bytes.get('string', 0):,}); "
                    "use fewer or narrower key columns"
                )
        return None

    def int_fits(self, column_type: str, logical: str) -> bool:
        """Whether an integer column of ``column_type`` holds every ``logical`` integer."""
        return self.int_bits.get(column_type, 0) >= LOGICAL_BITS[logical]
