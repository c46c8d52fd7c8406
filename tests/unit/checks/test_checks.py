"""checks: every kind passes on good rows and fails on bad ones with counts and samples."""

from __future__ import annotations

import polars as pl
import pytest

from runner.checks.evaluate import CheckContext, evaluate_results, evaluate_row_change
from runner.checks.model import CheckResult
from runner.spec.build import build_checks
from runner.spec.secrets import MASK, Secret

ROWS = pl.DataFrame(
    {
        "id": [1, 2, 3, 3, 5],
        "status": ["new", "paid", "paid", "lost", None],
        "amount": [10.0, -2.5, 3.0, None, 7.0],
    }
)


def ctx(skip: tuple[str, ...] = ()) -> CheckContext:
    return CheckContext(
        "target.orders", lambda name: f"spec.yaml:9:{len(name)}", skip=skip, samples=2
    )


def run(
    data: dict[str, object], frame: pl.DataFrame = ROWS, **kw: object
) -> dict[str, CheckResult]:
    checks = build_checks(data)
    results = evaluate_results(checks, frame.lazy(), frame.height, ctx(**kw))  # type: ignore[arg-type]
    return {r.name: r for r in results}


def test_passing_checks() -> None:
    ok = run(
        {
            "rows": {"min": 1, "max": 5},
            "notNull": ["id"],
            "unique": [["id", "status"]],
            "acceptedValues": {"status": ["new", "paid", "lost"]},
            "expression": "id > 0",
        }
    )
    assert all(r.passed and not r.blocks for r in ok.values()), ok
    assert list(ok) == ["rows", "notNull", "unique", "acceptedValues", "expression"]


def test_failing_checks_count_and_sample_offending_rows() -> None:
    bad = run(
        {
            "rows": {"min": 6},
            "notNull": ["status", "amount"],
            "unique": ["id"],
            "acceptedValues": {"status": ["new", "paid"]},
            "expression": ["amount >= 0"],
        }
    )
    assert bad["rows"].blocks and bad["rows"].message == "5 rows; at least 6 expected"
    assert bad["notNull"].failing == 2
    assert [s["id"] for s in bad["notNull"].samples] == ["3", "5"]
    assert bad["unique"].failing == 2 and bad["unique"].samples[0]["id"] == "3"
    assert (
        bad["acceptedValues"].failing == 1 and bad["acceptedValues"].samples[0]["status"] == "lost"
    )
    # a null amount is not "true": it fails the expression too
    assert bad["expression"].failing == 2
    assert (
        bad["expression"].describe().startswith("spec.yaml:9:10: target.orders.expression: 2 rows")
    )


def test_empty_results_fail_rows_min() -> None:
    empty = ROWS.clear()
    result = run({"rows": {"min": 1}}, empty)["rows"]
    assert result.blocks and result.message.startswith("0 rows")


def test_unknown_columns_and_bad_expressions_fail_rather_than_pass() -> None:
    bad = run({"notNull": ["nope"], "expression": "amount >>= 0", "acceptedValues": {"x": [1]}})
    assert "no column nope" in bad["notNull"].message and bad["notNull"].blocks
    assert bad["expression"].blocks and "cannot" in bad["expression"].message
    assert bad["acceptedValues"].blocks


def test_skip_check_keeps_the_result_but_does_not_block() -> None:
    result = run({"rows": {"min": 9}}, skip=("target.orders.rows",))["rows"]
    assert not result.passed and result.skipped and not result.blocks
    assert CheckResult.from_json(result.to_json()) == result


@pytest.mark.parametrize(
    ("existing", "after", "passed"),
    [(100, 120, True), (100, 79, False), (100, 121, False), (None, 5, True), (0, 5, True)],
)
def test_max_row_change(existing: int | None, after: int, passed: bool) -> None:
    checks = build_checks({"maxRowChange": "20%"})
    result = evaluate_row_change(checks, existing, after, ctx())
    assert result is not None and result.passed is passed


def test_sample_values_holding_a_secret_are_masked() -> None:
    secret = Secret("s3cr3t-token-value")
    frame = pl.DataFrame({"id": [None], "token": [secret.reveal()]})
    result = run({"notNull": ["id"]}, frame)["notNull"]
    assert result.samples[0]["token"] == MASK


def test_one_row_is_one_row() -> None:
    bad = run({"rows": {"min": 2}}, ROWS.head(1))
    assert bad["rows"].message == "1 row; at least 2 expected"
