"""Previews through the CLI: exact rows, row diffs, checks, and apply publishing the preview."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers import BASIC, assert_valid_plan, publish, write_spec

from runner.platforms.local.platform import LocalPlatform

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "publish_specs" / "quickstart"
TABLES = ("orders_latest", "orders_rebuilt", "orders_merged", "customer_totals")


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    folder = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, folder, ignore=shutil.ignore_patterns(".publish", "*.db*"))
    return folder


def snapshot(db: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(db) as c:
        return {t: c.execute(f'select * from "{t}" order by 1').fetchall() for t in TABLES}


def edit_amount(folder: Path, old: str, new: str) -> None:
    csv = folder / "data" / "orders.csv"
    text = csv.read_text()
    assert old in text
    csv.write_text(text.replace(old, new))


def test_one_value_changed_is_one_changed_row_per_target_and_apply_does_not_run_again(
    quickstart: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert publish(capsys, "apply", "--auto-approve", str(quickstart)).code == 0
    edit_amount(quickstart, "4,dave,US,230.10", "4,dave,US,231.10")
    planfile = quickstart / "plan.json"
    r = publish(capsys, "plan", str(quickstart), "--out", str(planfile))
    assert r.code == 0, r.err
    for table in ("orders_latest", "orders_rebuilt", "orders_merged"):
        block = r.out.split(f"target.{table}:", 1)[1].split("\n\n", 1)[0]
        assert "rows: 1 changed, 15 unchanged" in block, block
        assert "~ id=4: amount: 230.1 -> 231.1" in block
    totals = r.out.split("target.customer_totals:", 1)[1].split("\n\n", 1)[0]
    assert "rows: 1 changed, 8 unchanged" in totals
    assert "~ customer=dave: total_amount: 230.1 -> 231.1" in totals
    plan = assert_valid_plan(planfile.read_text())
    job = next(c for c in plan["changes"] if c["address"] == "job.orders_clean")  # type: ignore[attr-defined]
    assert job["preview"]["previewed"] is True and job["preview"]["rows"] == 16

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("the job ran again at apply")

    monkeypatch.setattr(LocalPlatform, "_write_results", must_not_run)
    r = publish(capsys, "apply", str(planfile))
    assert r.code == 0, r.err + r.out
    assert r.out.count("the job did not run again") == 2
    with sqlite3.connect(quickstart / "warehouse.db") as c:
        for table in ("orders_latest", "orders_rebuilt", "orders_merged"):
            assert c.execute(f"select amount from {table} where id = 4").fetchone() == (231.1,)


EMPTY_CHECKED = BASIC.replace(
    "    recipe: select id, customer, amount from orders where amount is not null\n",
    "    recipe: select id, customer, amount from orders where amount > {{ vars.floor }}\n"
    "    checks:\n"
    "      rows: {min: 1}\n",
).replace("name: shop\n", "name: shop\nvars:\n  floor: 0\n")


def test_empty_results_fail_the_plan_at_the_checks_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, EMPTY_CHECKED)
    assert publish(capsys, "plan", str(spec)).code == 0
    r = publish(capsys, "plan", str(spec), "--var", "floor=1000")
    assert r.code == 1
    line = 1 + EMPTY_CHECKED.splitlines().index("      rows: {min: 1}")
    assert f"publish.yaml:{line}:" in r.err
    assert "job.orders_clean.rows: 0 rows; at least 1 expected" in r.err
    r = publish(
        capsys, "plan", str(spec), "--var", "floor=1000", "--skip-check", "job.orders_clean.rows"
    )
    assert r.code == 0 and "skipped: job.orders_clean.rows" in r.out


def test_data_turned_empty_after_the_plan_leaves_every_table_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, EMPTY_CHECKED)
    assert publish(capsys, "apply", "--auto-approve", str(spec)).code == 0
    db = tmp_path / "warehouse.db"
    with sqlite3.connect(db) as c:
        before = c.execute("select * from orders order by 1").fetchall()
    assert before
    csv = tmp_path / "data" / "orders.csv"
    csv.write_text(csv.read_text().replace("10.5", "11.5"))
    planfile = tmp_path / "plan.json"
    assert publish(capsys, "plan", str(spec), "--out", str(planfile)).code == 0
    csv.write_text("id,customer,amount\n9,zed,-5.0\n")  # no row passes: empty after the plan
    r = publish(capsys, "apply", str(planfile))
    assert r.code == 1
    assert "is stale: input orders (data/orders.csv) of job.orders_clean changed" in r.err
    with sqlite3.connect(db) as c:
        assert c.execute("select * from orders order by 1").fetchall() == before
        assert c.execute("select count(*) from orders_copy").fetchone() == (len(before),)
    # without a preview, the check runs on the real results at apply, before any table
    r = publish(capsys, "apply", "--auto-approve", "--no-preview", str(spec))
    assert r.code == 1
    assert "a check failed on the results, so no table was touched" in r.out
    with sqlite3.connect(db) as c:
        assert c.execute("select * from orders order by 1").fetchall() == before


def test_skip_check_is_recorded_in_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, EMPTY_CHECKED.replace("rows: {min: 1}", "rows: {min: 99}"))
    r = publish(
        capsys, "apply", "--auto-approve", "--skip-check", "job.orders_clean.rows", str(spec)
    )
    assert r.code == 0, r.err + r.out
    state = json.loads(next((tmp_path / ".publish").glob("*.state.json")).read_text())
    assert state["jobs"]["orders_clean"]["skipped_checks"] == []  # evaluated at plan
    assert state["publications"]["orders_out"]["skipped_checks"] == ["job.orders_clean.rows"]


def test_no_preview_keeps_rows_unknown_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, BASIC)
    r = publish(capsys, "plan", "--no-preview", str(spec))
    assert r.code == 0
    assert "incoming rows: known after the job runs" in r.out
    assert "not previewed: --no-preview" in r.out
    off = write_spec(
        tmp_path / "off",
        BASIC.replace("    outputs: [avro, csv]", "    outputs: [avro, csv]\n    preview: false"),
    )
    r = publish(capsys, "plan", "--format", "json", str(off))
    job = next(c for c in json.loads(r.out)["changes"] if c["address"] == "job.orders_clean")
    assert job["preview"] == {
        "previewed": False,
        "reason": "preview: false on the job: rows are known after the job runs",
    }


def test_publish_diff_prints_the_diff_of_one_target(
    quickstart: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert publish(capsys, "apply", "--auto-approve", str(quickstart)).code == 0
    r = publish(capsys, "diff", str(quickstart), "target.orders_merged")
    assert r.code == 0, r.err
    assert "rows: 16 unchanged (matched by key id)" in r.out
    edit_amount(quickstart, "1,alice,DE,120.50", "1,alice,DE,99.00")
    r = publish(capsys, "diff", str(quickstart), "target.orders_latest", "--format", "json")
    diff = json.loads(r.out)["diff"]
    assert diff["counts"] == {"added": 0, "removed": 0, "changed": 1, "unchanged": 15}
    assert diff["samples"]["changed"][0]["changes"] == [
        {"column": "amount", "before": "120.5", "after": "99.0"}
    ]
    assert publish(capsys, "diff", str(quickstart), "target.nope").code == 1


def test_tables_above_the_diff_rows_limit_are_counted_in_the_database(
    quickstart: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert publish(capsys, "apply", "--auto-approve", str(quickstart)).code == 0
    edit_amount(quickstart, "4,dave,US,230.10", "4,dave,US,231.10")
    limit = ("--diff-rows-limit", "10")
    r = publish(capsys, "plan", str(quickstart), *limit)
    assert r.code == 0, r.err
    block = r.out.split("target.orders_latest:", 1)[1].split("\n\n", 1)[0]
    assert "rows: 1 changed, 15 unchanged" in block, block
    assert "counted inside the database, without sample rows: table too large (16 rows" in block
    assert "id=4" not in block  # no samples
    r = publish(capsys, "plan", str(quickstart), *limit, "--format", "markdown")
    assert "counted inside the database" in r.out and "1 changed, 15 unchanged" in r.out
    r = publish(capsys, "plan", str(quickstart), *limit, "--format", "json")
    plan = assert_valid_plan(r.out)
    diffs = [
        c["diff"]  # type: ignore[index]
        for c in plan["changes"]  # type: ignore[union-attr]
        if c["address"] == "target.orders_latest"  # type: ignore[index]
    ]
    assert diffs[0]["counts"] == {"added": 0, "removed": 0, "changed": 1, "unchanged": 15}
    assert diffs[0]["skipped"] is None and diffs[0]["samples"] == {}
    assert "counted inside the database" in diffs[0]["note"]


def test_a_preview_edited_after_the_plan_in_the_same_process_is_not_published(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the plan's process remembers the hashes of the previews it wrote (apply then skips
    # reading them again): a file changed since, even to the same size, is hashed again
    spec = write_spec(tmp_path, BASIC)
    planfile = tmp_path / "plan.json"
    assert publish(capsys, "plan", str(spec), "--out", str(planfile)).code == 0
    (part,) = (tmp_path / ".publish" / "previews").rglob("csv/*.csv")
    text = part.read_text()
    assert text.count("alice") == 1
    part.write_text(text.replace("alice", "alicf"))
    r = publish(capsys, "apply", str(planfile))
    assert r.code == 0, r.err + r.out
    assert "the job did not run again" not in r.out
    with sqlite3.connect(tmp_path / "warehouse.db") as c:
        names = {n for (n,) in c.execute("select customer from orders_copy")}
    assert "alice" in names and "alicf" not in names
