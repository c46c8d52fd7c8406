"""plan reads each input it fingerprints whole: encoding and shape errors at FILE:LINE:COL.

validate reads only the start of an input (issue 11.6); each case here breaks a file past
that start, so validate passes and plan, which hashes the whole file, names the place.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import BASIC, publish, write_spec

#: rows enough to pass validate's 64 KB sample of the file
ROWS = 3000


def _csv(rows: dict[int, str] | None = None, *, end: str = "\n") -> str:
    lines = ["id,customer,amount"]
    lines += [f'{i},"Customer, number {i}\nsecond line",{i}.5' for i in range(1, ROWS)]
    for index, text in (rows or {}).items():
        lines[index] = text
    return "\n".join(lines) + end


def _plan_error(capsys: pytest.CaptureFixture[str], spec: Path) -> str:
    assert publish(capsys, "validate", str(spec)).code == 0
    r = publish(capsys, "plan", str(spec))
    assert r.code == 1, r.out
    (line,) = [x for x in r.err.splitlines() if x.startswith("  - ")]
    return line.removeprefix("  - ")


def test_quoted_commas_newlines_and_blank_lines_are_a_good_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC, csv=_csv(end="\n\n\n"))
    r = publish(capsys, "plan", str(spec))
    assert r.code == 0, r.err


def test_a_row_with_a_field_too_many_is_named_at_its_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # each row takes two lines (a quoted newline): row i is on lines 2i and 2i+1; row 2500 is now one line, 5000
    spec = write_spec(tmp_path, BASIC, csv=_csv({2500: '2500,"x, y",1.5,extra'}))
    assert _plan_error(capsys, spec) == (
        f"{spec}:9:5: job.orders_clean: input orders: data/orders.csv:5000:17: this row has "
        "4 fields, the header 3; every row needs one value per column (an empty value is "
        "written as nothing between two commas)"
    )


def test_a_row_with_a_field_missing_is_named_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC, csv=_csv({2500: "2500,bob"}))
    assert _plan_error(capsys, spec).endswith(
        "input orders: data/orders.csv:5000:9: this row has 2 fields, the header 3; every row "
        "needs one value per column (an empty value is written as nothing between two commas)"
    )


def test_a_latin1_byte_past_the_start_is_named_at_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC)
    text = _csv({2800: '2800,"Jos\xe9",1.5'})
    (tmp_path / "data" / "orders.csv").write_bytes(text.encode("latin-1"))
    assert _plan_error(capsys, spec).endswith(
        "input orders: data/orders.csv:5600:10: the byte 0xe9 is not UTF-8 (Latin-1 or "
        "Windows-1252?); inputs are read as UTF-8: save the file as UTF-8"
    )


@pytest.mark.parametrize("bad", [5_000, 11_000], ids=["in-schema-sample", "past-it"])
def test_a_bad_json_line_is_named_at_its_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: int
) -> None:
    """polars infers the schema from 10,000 rows: a line before or after that is placed."""
    spec = write_spec(tmp_path, BASIC.replace("data/orders.csv", "data/orders.ndjson"))
    rows = [json.dumps({"id": i, "customer": "c", "amount": 1.5}) for i in range(12_000)]
    rows[bad] = f'{{"id": {bad}, "customer": "c", "amount": }}'  # the last column is bad
    (tmp_path / "data" / "orders.ndjson").write_text("\n".join(rows) + "\n")
    assert _plan_error(capsys, spec).endswith(
        f"input orders: data/orders.ndjson:{bad + 1}:{len(rows[bad])}: not valid JSON: "
        "Expecting value (without an array, each line holds one whole JSON object)"
    )
