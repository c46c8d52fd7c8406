"""validate places recipe and input errors in the spec and the input file (issue 11.6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import BASIC, publish, write_spec

RECIPE = """\
    recipe: |
      select id,
        amount * {{ vars.factor }} as scaled, {token}
      from {table}
"""


def _spec(tmp_path: Path, token: str = "customer", table: str = "orders") -> Path:
    body = BASIC.replace("connections:", "vars:\n  factor: 2\nconnections:", 1).replace(
        "    recipe: select id, customer, amount from orders where amount is not null\n",
        RECIPE.replace("{token}", token).replace("{table}", table),
    )
    return write_spec(tmp_path, body)


def _errors(capsys: pytest.CaptureFixture[str], spec: Path) -> list[str]:
    r = publish(capsys, "validate", str(spec))
    assert r.code == 1
    return r.err.splitlines()


def test_an_unknown_column_is_placed_on_its_token_and_lists_the_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path)
    assert publish(capsys, "validate", str(spec)).code == 0
    spec = _spec(tmp_path, token="custmer")
    # line 15 is "    amount * {{ vars.factor }} as scaled, custmer": the template moves nothing
    assert _errors(capsys, spec) == [
        f"{spec}:15:47: $.jobs.orders_clean.recipe: unknown column 'custmer' (did you mean "
        "'customer'?); the inputs: orders (id, customer, amount)",
        f"{spec}: 1 error",
    ]


def test_an_alias_used_where_it_is_unknown_points_at_the_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``amount as total ... where total > 1``: the use in WHERE, not the alias, is wrong."""
    spec = _spec(tmp_path, token="amount as total", table="orders where total > 1")
    assert _errors(capsys, spec)[0] == (
        f"{spec}:16:25: $.jobs.orders_clean.recipe: unknown column 'total'; the inputs: "
        "orders (id, customer, amount)"
    )


def test_an_unknown_table_names_the_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path, table="ordrs")
    assert _errors(capsys, spec)[0] == (
        f"{spec}:16:12: $.jobs.orders_clean.recipe: unknown table 'ordrs' (did you mean "
        "'orders'?); the inputs: orders (id, customer, amount)"
    )


def test_a_syntax_error_is_placed_inside_the_recipe_block(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path, table="orders wher id > 1")
    assert _errors(capsys, spec)[0] == (
        f"{spec}:16:24: $.jobs.orders_clean.recipe: SQL syntax: Expected: end of statement, "
        "found: id"
    )
    spec = _spec(tmp_path, token="upper(customer")
    assert _errors(capsys, spec)[0] == (
        f"{spec}:16:7: $.jobs.orders_clean.recipe: SQL syntax: Expected: ), found: from"
    )
    spec = _spec(tmp_path, table="orders where (id > 1")
    assert _errors(capsys, spec)[0] == (
        f"{spec}:16:32: $.jobs.orders_clean.recipe: SQL syntax: Expected: ), found: the end"
    )
    r = publish(capsys, "plan", str(spec))  # plan stops at validate's place too
    assert r.code == 1
    assert f"{spec}:16:32: $.jobs.orders_clean.recipe: SQL syntax" in r.err


def test_a_one_line_recipe_and_an_unknown_function(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = BASIC.replace("select id, customer,", "select id, frobnicate(customer),")
    spec = write_spec(tmp_path, body)
    assert _errors(capsys, spec)[0] == (
        f"{spec}:11:24: $.jobs.orders_clean.recipe: unknown function 'frobnicate' "
        "(polars SQL has no such function)"
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            b"id,customer,amount\n1,Jos\xe9,3.5\n",
            "data/orders.csv:2:6: the byte 0xe9 is not UTF-8 (Latin-1 or Windows-1252?); "
            "inputs are read as UTF-8: save the file as UTF-8",
        ),
        (
            b"",
            "data/orders.csv:1:1: the file is empty; a CSV input needs at least its header "
            "line (the column names)",
        ),
    ],
    ids=["latin1", "empty"],
)
def test_an_unreadable_csv_is_named_at_its_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    spec = write_spec(tmp_path, BASIC)
    (tmp_path / "data" / "orders.csv").write_bytes(content)
    assert _errors(capsys, spec) == [
        f"{spec}:10:15: $.jobs.orders_clean.inputs.orders: cannot read {expected}",
        f"{spec}: 1 error",
    ]
    r = publish(capsys, "plan", str(spec))  # an empty CSV crashed plan ("NoDataError")
    assert r.code == 1
    assert f"$.jobs.orders_clean.inputs.orders: cannot read {expected}" in r.err
    assert "Internal error" not in r.err


def test_a_bad_json_input_is_named_at_its_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC.replace("data/orders.csv", "data/orders.json"))
    data = tmp_path / "data" / "orders.json"
    data.write_text('[{"id": 1, "customer": "a", "amount": 2},\n {"id": 2, "amount": }]')
    assert _errors(capsys, spec)[0] == (
        f"{spec}:10:15: $.jobs.orders_clean.inputs.orders: cannot read data/orders.json:2:22: "
        "not valid JSON: Expecting value"
    )


def test_a_pretty_printed_json_object_is_refused_at_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without [ ], polars reads one object a line: a multi-line object failed at plan."""
    spec = write_spec(tmp_path, BASIC.replace("data/orders.csv", "data/orders.json"))
    data = tmp_path / "data" / "orders.json"
    data.write_text('{"id": 1, "customer": "a", "amount": 2}\n{\n  "id": 2\n}\n')
    assert _errors(capsys, spec)[0] == (
        f"{spec}:10:15: $.jobs.orders_clean.inputs.orders: cannot read data/orders.json:2:1: "
        "this JSON object spans several lines; without an array each line holds one whole "
        "object (write one object a line, or put them in [ ])"
    )


def test_a_json_column_past_the_first_records_is_not_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """validate reads 64 KB; an unknown name there is confirmed with the frames plan reads."""
    spec = write_spec(tmp_path, BASIC.replace("data/orders.csv", "data/orders.ndjson"))
    rows = [{"id": i, "customer": "c" * 50, "amount": 1.5} for i in range(2000)]
    rows.append({"id": 2000, "customer": "late", "amount": 2.0, "note": "x"})
    lines = "\n".join(json.dumps(r) for r in rows)
    (tmp_path / "data" / "orders.ndjson").write_text(lines + "\n")
    spec.write_text(spec.read_text().replace("select id,", "select id, note,"))
    r = publish(capsys, "validate", str(spec))
    assert (r.code, r.err) == (0, "")


def test_an_unknown_column_over_a_json_array_broken_past_the_start_is_still_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Confirming the name reads the whole array, which fails: the header's answer stands."""
    spec = write_spec(tmp_path, BASIC.replace("data/orders.csv", "data/orders.json"))
    rows = [json.dumps({"id": i, "customer": "c" * 40, "amount": 1.5}) for i in range(3000)]
    rows[2500] = '{"id": 2500, "customer": }'
    (tmp_path / "data" / "orders.json").write_text("[" + ",\n".join(rows) + "]\n")
    spec.write_text(spec.read_text().replace("select id,", "select id, nope,"))
    assert _errors(capsys, spec)[0] == (
        f"{spec}:11:24: $.jobs.orders_clean.recipe: unknown column 'nope'; the inputs: "
        "orders (id, customer, amount)"
    )


def test_an_avro_header_with_a_schema_that_is_not_avro_is_named_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from runner.platforms.local.avro_blocks import encode_long

    spec = write_spec(tmp_path, BASIC.replace("data/orders.csv", "data/orders.avro"))
    schema = json.dumps({"type": "nonsense"}).encode()
    entries = [(b"avro.schema", schema), (b"avro.codec", b"null")]
    header = b"Obj\x01" + encode_long(len(entries))
    for key, value in entries:
        header += encode_long(len(key)) + key + encode_long(len(value)) + value
    (tmp_path / "data" / "orders.avro").write_bytes(header + encode_long(0) + b"s" * 16)
    r = publish(capsys, "validate", str(spec))
    assert "Internal error" not in r.err
    r = publish(capsys, "plan", str(spec))
    assert r.code == 1
    assert "Internal error" not in r.err
    assert "input orders: cannot read data/orders.avro" in r.err
