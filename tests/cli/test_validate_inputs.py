"""validate names what a local job cannot read, and targets that share a table (issue 11.7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import BASIC, publish, write_spec


def test_an_xlsx_input_is_one_clear_error_at_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC.replace("data/orders.csv", "data/orders.xlsx"))
    (tmp_path / "data" / "orders.xlsx").write_bytes(b"PK\x03\x04")
    r = publish(capsys, "validate", str(spec))
    assert r.code == 1
    assert r.err.splitlines() == [
        f"{spec}:10:15: $.jobs.orders_clean.inputs.orders: input file 'data/orders.xlsx' has "
        "the extension .xlsx, which a local job does not read: the format is chosen by the "
        "extension, one of .csv, .json, .jsonl, .ndjson, .parquet, .pqt, .avro; export it as CSV",
        f"{spec}: 1 error",
    ]
    (tmp_path / "data" / "orders.xlsx").unlink()  # missing too: still the one reason
    assert publish(capsys, "validate", str(spec)).err.splitlines()[0].endswith("export it as CSV")
    r = publish(capsys, "plan", str(spec))  # plan stops at the same single error
    assert r.code == 1
    assert r.err.count("has the extension .xlsx") == 1


def test_a_folder_given_as_input_is_named_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC.replace("data/orders.csv", "data"))
    r = publish(capsys, "validate", str(spec))
    assert r.code == 1
    assert r.err.splitlines() == [
        f"{spec}:10:15: $.jobs.orders_clean.inputs.orders: input file 'data' is a folder, "
        "not a regular file; inputs must be regular files",
        f"{spec}: 1 error",
    ]


def test_two_targets_on_one_table_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = BASIC.replace("table: orders_copy", "table: ORDERS").replace(
        "    path: [main]\n    table: ORDERS", "    table: ORDERS"
    )
    spec = write_spec(tmp_path, body)
    r = publish(capsys, "validate", str(spec))
    assert r.code == 1
    assert r.err.splitlines() == [
        f"{spec}:24:12: $.targets.orders_copy.table: targets orders_out and orders_copy all "
        "publish into warehouse.main.orders; only appending actions (load, createAndLoad) can "
        "share a table: give each target its own table",
        f"{spec}: 1 error",
    ]


def test_postgres_tables_differ_by_schema_and_by_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (
        BASIC.replace("vendor: sqlite", "vendor: postgres\n    host: 127.0.0.1")
        .replace("table: orders_copy", "table: Orders")
        .replace("path: [main]", "path: [public]", 1)
        .replace("path: [main]", "path: []")
    )
    spec = write_spec(tmp_path, body)
    assert publish(capsys, "validate", str(spec)).code == 0
    spec.write_text(body.replace("table: Orders", "table: orders"))
    r = publish(capsys, "validate", str(spec))
    assert "targets orders_out and orders_copy all publish into warehouse.public.orders" in r.err
    appending = body.replace("table: Orders", "table: orders").replace("dropAndLoad", "load")
    spec.write_text(appending.replace("truncateAndLoad", "createAndLoad"))
    assert publish(capsys, "validate", str(spec)).code == 0  # appending targets may share
