"""Issue 11, defect 5: a saved plan whose inputs changed is refused before anything runs, with
ONE message naming the input and the command that makes a new plan with the same options
(shell-quoted, secret-looking --var values elided); applying it again says the same, never
"already applied". Defect 9: a failed step is not prefixed with its address twice."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.cli.helpers import BASIC, publish, tables, write_spec


def test_changed_input_one_message_and_a_replan_command_with_the_same_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC)
    planfile = str(tmp_path / "my plan.json")
    made = publish(
        capsys, "plan", str(spec), "--select", "target.orders_out", "--replace",
        "job.orders_clean", "--var", "region=eu west", "--var", "api_token=s3cr3tvalue",
        "--out", planfile,
    )  # fmt: skip
    assert made.code == 0, made.err
    (tmp_path / "data" / "orders.csv").write_text("id,customer,amount\n9,zed,1.0\n")
    for _ in range(2):  # applying it again says the same: nothing was applied
        r = publish(capsys, "apply", planfile)
        assert r.code == 1
        assert "already applied" not in r.err + r.out and "apply again" not in r.err + r.out
        assert r.err.count("Error:") == 1, r.err
        assert (
            f"saved plan {planfile} is stale: input orders (data/orders.csv) of "
            "job.orders_clean changed since the plan was made. Make a new plan with the same "
            "options: publish plan " in r.err
        )
        assert "s3cr3tvalue" not in r.err + r.out
        assert "Applying saved plan" not in r.out  # refused before anything ran
    db = tmp_path / "warehouse.db"
    assert not db.exists() or "orders" not in tables(db)
    command = shlex.split(r.err.split("same options: ")[1].strip())
    assert command[:3] == ["publish", "plan", str(spec)]
    assert command[3:] == [
        "--var", "api_token=<elided: a secret; give it again>", "--var", "region=eu west",
        "--select", "target.orders_out", "--replace", "job.orders_clean", "--out", planfile,
    ]  # fmt: skip
    args = [a.replace("<elided: a secret; give it again>", "s3cr3tvalue") for a in command[2:]]
    again = publish(capsys, "plan", *args)
    assert again.code == 0, again.err
    applied = publish(capsys, "apply", planfile)
    assert applied.code == 0, applied.err
    assert "target.orders_copy" not in applied.out  # the same --select


def test_a_failed_step_names_its_address_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = BASIC.replace(
        "select id, customer, amount from orders where amount is not null",
        "select id, cast(customer as int) as c from orders",
    )
    spec = write_spec(tmp_path, body)
    r = publish(capsys, "apply", "--auto-approve", "--no-preview", str(spec))
    assert r.code == 1
    assert "job.orders_clean: ✗ failed: recipe: conversion" in r.out
    assert "  ✗ job.orders_clean: recipe: conversion" in r.out
    assert "job.orders_clean: job.orders_clean" not in r.out + r.err
