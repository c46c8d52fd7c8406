"""Every Avro file of the corpus, published into SQLite, PostgreSQL and MariaDB with
truncateAndLoad and upsert, reads back value for value as fastavro reads the file; or the
publish is one of the refusals docs/types.md documents.

Each file becomes results the way a local job makes them (read, plus a ``_row`` column to
upsert on, written as Avro), is published twice per action (the first creates the table,
the second goes through the path for an existing table: DELETE + COPY, a staging swap,
INSERT ... ON CONFLICT / ON DUPLICATE KEY), and is compared after the second.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from _compare import canonical
from _three_dbs import Db, db_fixture

from runner.errors import TargetError
from runner.platforms.local.inputs import marked_columns, scan_input
from runner.results import ResultSet, iter_frames, write_results
from tests.corpus.avro.corpus import expected_rows, valid_files

#: publishes a database refuses, as docs/types.md says: (vendor, message) -> files whose
#: values it cannot store
REFUSALS = {
    "sqlite": re.compile(r"is NaN at row \d+ of the results, and SQLite stores NaN as NULL"),
    "postgres": re.compile(r"holds the NUL character .* PostgreSQL text cannot hold it"),
    "mysql": re.compile(r"is (NaN|infinite) at row \d+ .* MySQL/MariaDB floats cannot hold"),
}
_runs = itertools.count()


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    yield from db_fixture(request, tmp_path)


def results_of(path: Path, folder: Path) -> ResultSet:
    """The file as a local job's results, with a ``_row`` key (0-based, file order)."""
    query = scan_input(path).with_row_index("_row").with_columns(pl.col("_row").cast(pl.Int64))
    return write_results(query, folder, ["avro"], logical=marked_columns(path))["avro"]


def table_name(path: Path, action: str) -> str:
    stem = re.sub(r"\W", "_", path.name.removesuffix(".avro"))
    return f"{stem}_{'t' if action == 'truncateAndLoad' else 'u'}"


def cleaned(vendor: str, value: Any) -> Any:
    """A value with what the vendor refuses (docs/types.md) made NULL / removed."""
    if isinstance(value, float) and (
        math.isnan(value) or (vendor == "mysql" and math.isinf(value))
    ):
        return None
    if isinstance(value, str) and vendor == "postgres":
        return value.replace("\x00", "")
    return value


def without_refused(vendor: str, results: ResultSet, folder: Path) -> ResultSet:
    """The results with the values the vendor refuses made NULL (NaN, infinity) or removed
    (NUL), to check that everything else in a refused file would arrive exactly."""
    frame = pl.concat(list(iter_frames(results)))
    exprs = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if dtype.is_float():
            bad = col.is_nan() | (col.is_infinite() if vendor == "mysql" else pl.lit(False))
            exprs.append(pl.when(bad).then(None).otherwise(col).alias(name))
        elif dtype == pl.String and vendor == "postgres":
            exprs.append(col.str.replace_all("\x00", "", literal=True))
    frame = frame.with_columns(exprs) if exprs else frame
    logical = {c.name: c.type for c in results.schema.columns if c.type == "json"}
    return write_results(frame.lazy(), folder, ["avro"], logical=logical)["avro"]


def mismatches(
    db: Db, path: Path, table: str, results: ResultSet, *, clean: bool = False
) -> list[str]:
    names, want = expected_rows(path)
    if clean:
        want = [tuple(cleaned(db.vendor, v) for v in row) for row in want]
    types = {c.name: c.type for c in results.schema.columns}
    # MariaDB sends FLOAT values as 6-digit text; the column holds the exact float32,
    # which a cast to double shows in full (docs/types.md)
    cols = ", ".join(
        f"cast({db.quote(n)} as double)"
        if db.vendor == "mysql" and types[n] == "float32"
        else db.quote(n)
        for n in names
    )
    got = db.execute(f"select {cols} from {db.quote(table)} order by {db.quote('_row')}")
    if len(got) != len(want):
        return [f"{path.name} {table}: {len(got)} rows, the file holds {len(want)}"]
    out = []
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        for name, gv, wv in zip(names, g, w, strict=True):
            signed = db.vendor == "postgres"  # the others keep no -0.0 (docs/types.md)
            a = canonical(types[name], gv, signed_zero=signed)
            b = canonical(types[name], wv, signed_zero=signed)
            if a != b:
                out.append(f"{path.name} {table} row {i + 1} {name}: {gv!r} != {wv!r}")
    return out


def test_every_corpus_file_round_trips(db: Db, tmp_path: Path) -> None:
    problems: list[str] = []
    for path in one_per_writer(valid_files(tmp_path / "big")):  # + 1 MB strings
        results = results_of(path, tmp_path / "r" / path.name)
        for action in ("truncateAndLoad", "upsert"):
            table = table_name(path, action)
            try:
                publish_twice(db, results, action, table)
            except TargetError as exc:
                rule = REFUSALS.get(db.vendor)
                if rule is None or not rule.search(str(exc)):
                    problems.append(f"{path.name} {action}: {exc}")
                    continue
                # a documented refusal: everything else in the file must arrive exactly
                rest = without_refused(db.vendor, results, tmp_path / "c" / table)
                publish_twice(db, rest, action, table)
                problems += mismatches(db, path, table, rest, clean=True)
                continue
            problems += mismatches(db, path, table, results)
    assert not problems, "\n".join(problems[:40])


def one_per_writer(files: list[Path]) -> list[Path]:
    """One file per content and writer: the codecs decode to the same frames (the Avro
    reading tests cover every codec), so the databases see nothing new in the others."""
    seen: dict[tuple[str, str], Path] = {}
    for path in files:
        content, writer = path.name.split(".")[:2]
        seen.setdefault((content, writer), path)
    return list(seen.values())


def test_avro_results_keep_every_decimal(tmp_path: Path) -> None:
    """polars writes an Avro decimal whose magnitude fills its top byte without the sign
    byte (400.00 as decimal(10,2) read back as -255.36): results keep decimals as text."""
    values = ["400.00", "-400.00", "327.68", "99999999.99", "-0.01", None]
    frame = pl.DataFrame({"d": pl.Series(values).cast(pl.Decimal(10, 2))})
    results = write_results(frame.lazy(), tmp_path, ["avro"])["avro"]
    got = [str(v) if v is not None else None for v in pl.concat(list(iter_frames(results)))["d"]]
    assert got == values


def publish_twice(db: Db, results: ResultSet, action: str, table: str) -> None:
    """Create the table, then publish again through the path for an existing table."""
    for _ in range(2):
        db.publish(results, action, table=table, key=("_row",), run_id=f"run-{next(_runs)}")
