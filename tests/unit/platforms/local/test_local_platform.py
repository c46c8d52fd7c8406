"""The local platform: schemas at plan time, fingerprints, job runs, publishing to SQLite."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import polars as pl
import pytest

from runner.errors import PlatformError
from runner.platforms.local import LocalPlatform
from runner.spec.model import Connection, Job, Spec, Target
from runner.spec.secrets import Secret

RECIPE = """
select o.id, c.name, o.amount, p.category, e.flag
from orders o
join customers c on c.id = o.customer_id
join products p on p.sku = o.sku
left join extras e on e.id = o.id
where o.amount is not null
"""


@pytest.fixture
def base(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "orders.csv").write_text(
        "id,customer_id,sku,amount,day\n1,10,a,2.5,2024-01-02\n2,11,b,,2024-01-03\n"
        "3,10,b,4.0,2024-01-04\n"
    )
    (data / "customers.json").write_text(
        json.dumps([{"id": 10, "name": "Ann"}, {"id": 11, "name": "Bo"}])
    )
    pl.DataFrame({"sku": ["a", "b"], "category": ["x", "y"]}).write_parquet(
        data / "products.parquet"
    )
    pl.DataFrame({"id": [1, 3], "flag": [True, False]}).write_avro(data / "extras.avro")
    (data / "lines.jsonl").write_text('{"k": 1}\n{"k": 2}\n')
    return tmp_path


def make_spec(base: Path, **jobs: Job) -> Spec:
    conn = Connection("wh", vendor="sqlite", database="out/wh.db")
    targets = {
        "out": Target("out", job="orders_clean", connection="wh", table="orders", path=("main",),
                      action="truncateAndLoad", input_format="avro"),
    }  # fmt: skip
    return Spec(
        name="t",
        file=base / "spec.yaml",
        environment="default",
        connections={"wh": conn},
        jobs=jobs or {"orders_clean": orders_job()},
        targets=targets if not jobs else {},
    )


def orders_job(recipe: str = RECIPE, outputs: tuple[str, ...] = ("avro", "csv")) -> Job:
    return Job(
        "orders_clean",
        inputs={
            "orders": "data/orders.csv",
            "customers": "data/customers.json",
            "products": "data/products.parquet",
            "extras": "data/extras.avro",
        },
        recipe=recipe,
        outputs=outputs,
    )


def test_result_schema_without_running(base: Path) -> None:
    platform = LocalPlatform(make_spec(base), base / ".publish")
    schema = platform.result_schema(orders_job())
    assert schema is not None
    assert schema.to_json() == [
        ["id", "int64"], ["name", "string"], ["amount", "float64"], ["category", "string"],
        ["flag", "boolean"],
    ]  # fmt: skip
    assert not (base / ".publish").exists()


def test_single_input_without_recipe_is_the_input(base: Path) -> None:
    job = Job("lines", inputs={"lines": "data/lines.jsonl"})
    platform = LocalPlatform(make_spec(base, lines=job), base / ".publish")
    assert platform.result_schema(job).to_json() == [["k", "int64"]]  # type: ignore[union-attr]
    csv_job = Job("o", inputs={"orders": "data/orders.csv"})
    schema = platform.result_schema(csv_job)
    assert schema is not None and schema.get("day") is not None
    assert schema.get("day").type == "date"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("recipe", "expected"),
    [
        ("select nope from orders", r'job\.orders_clean: recipe: unable to find column "nope"'),
        ("selec id from orders", r"job\.orders_clean: recipe: sql parser error"),
        ("select * from missing_table", r"job\.orders_clean: recipe: .*missing_table"),
    ],
)
def test_recipe_errors_name_job_and_problem(base: Path, recipe: str, expected: str) -> None:
    platform = LocalPlatform(make_spec(base), base / ".publish")
    with pytest.raises(PlatformError, match=expected) as err:
        platform.result_schema(orders_job(recipe))
    assert "Resolved plan" not in str(err.value)
    with pytest.raises(PlatformError, match=expected):
        platform.run_job(orders_job(recipe), "r1", "fp", threading.Event())


def test_input_problems(base: Path) -> None:
    platform = LocalPlatform(make_spec(base), base / ".publish")
    missing = Job("j", inputs={"a": "data/nope.csv"})
    with pytest.raises(
        PlatformError, match=r"job\.j: input a: input file 'data/nope.csv' does not exist"
    ):
        platform.job_fingerprint(missing)
    two = Job("j", inputs={"a": "data/orders.csv", "b": "data/lines.jsonl"})
    with pytest.raises(PlatformError, match="a recipe is needed to combine 2 inputs"):
        platform.result_schema(two)
    with pytest.raises(PlatformError, match="needs inputs"):
        platform.result_schema(Job("j", wrangled_dataset=5))


def test_job_fingerprint_follows_definition_and_content(base: Path) -> None:
    platform = LocalPlatform(make_spec(base), base / ".publish")
    first = platform.job_fingerprint(orders_job())
    assert platform.job_fingerprint(orders_job()) == first
    assert platform.job_fingerprint(orders_job(RECIPE + " ")) != first
    assert platform.job_fingerprint(orders_job(outputs=("avro",))) != first
    orders = base / "data" / "orders.csv"
    orders.write_text(orders.read_text().replace("2.5", "2.6"))
    assert platform.job_fingerprint(orders_job()) != first


def test_run_job_writes_every_output(base: Path) -> None:
    platform = LocalPlatform(make_spec(base), base / ".publish")
    progress: list[str] = []
    run = platform.run_job(orders_job(), "r1", "fp1", threading.Event(), progress.append)
    assert (run.job, run.run_id, run.fingerprint, run.rows) == ("orders_clean", "r1", "fp1", 2)
    assert set(run.results) == {"avro", "csv"}
    assert run.results["avro"].files[0] == (
        base / ".publish" / "results" / "orders_clean" / "r1" / "avro" / "part-00000.avro"
    )
    assert run.schema == platform.result_schema(orders_job())
    assert progress[-1] == "2 rows"


def test_cancelled_run_does_not_start(base: Path) -> None:
    platform = LocalPlatform(make_spec(base), base / ".publish")
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(PlatformError, match="cancelled"):
        platform.run_job(orders_job(), "r1", "fp", cancel)
    assert not (base / ".publish" / "results" / "orders_clean" / "r1").exists()


def test_connection_fingerprint_uses_secret_fingerprints(base: Path) -> None:
    platform = LocalPlatform(make_spec(base), base / ".publish")
    a = Connection("pg", vendor="postgres", host="h", password=Secret("s3cret-value"))
    b = Connection("pg", vendor="postgres", host="h", password=Secret("other-value"))
    same = Connection("pg", vendor="postgres", host="h", password=Secret("s3cret-value"))
    assert platform.connection_fingerprint(same) == platform.connection_fingerprint(a)
    assert platform.connection_fingerprint(a) != platform.connection_fingerprint(b)
    assert len(platform.connection_fingerprint(a)) == 64
    assert (
        platform.connection_calls(a, None) == []
        and platform.ensure_connection(a, None).remote_id is None
    )


def test_check_reports_local_problems(base: Path) -> None:
    spec = make_spec(base)
    platform = LocalPlatform(spec, base / ".publish")
    assert platform.check(spec) == []
    bad = make_spec(base, orders_clean=orders_job(outputs=("csv", "hyper")))
    bad = Spec(**{**bad.__dict__, "targets": spec.targets})
    problems = platform.check(bad)
    assert any("output hyper is not written by the local platform" in p for p in problems)
    assert any(p.startswith("target.out: inputFormat avro is not among") for p in problems)


def test_publish_into_sqlite_and_again(base: Path) -> None:
    spec = make_spec(base)
    platform = LocalPlatform(spec, base / ".publish")
    run = platform.run_job(orders_job(), "r1", "fp1", threading.Event())
    seen: list[int] = []
    try:
        result = platform.publish(
            spec.targets["out"], spec.connections["wh"], run, threading.Event(), seen.append
        )
        assert (result.rows_loaded, result.rows_after, seen) == (2, 2, [2])
        again = platform.publish(
            spec.targets["out"], spec.connections["wh"], run, threading.Event()
        )
        assert again.already_published
    finally:
        platform.close()
    with sqlite3.connect(base / "out" / "wh.db") as c:
        assert c.execute("SELECT id, name, category, flag FROM orders ORDER BY id").fetchall() == [
            (1, "Ann", "x", 1),
            (3, "Ann", "y", 0),
        ]


def test_publish_needs_the_format(base: Path) -> None:
    spec = make_spec(base)
    platform = LocalPlatform(spec, base / ".publish")
    run = platform.run_job(orders_job(outputs=("csv",)), "r1", "fp1", threading.Event())
    with pytest.raises(
        PlatformError, match=r"target\.out: run r1 of job\.orders_clean has no avro"
    ):
        platform.publish(spec.targets["out"], spec.connections["wh"], run, threading.Event())
    platform.close()


def test_cancel_during_load_leaves_table(base: Path) -> None:
    spec = make_spec(base)
    platform = LocalPlatform(spec, base / ".publish")
    run = platform.run_job(orders_job(), "r1", "fp1", threading.Event())
    cancel = threading.Event()
    with pytest.raises(PlatformError, match="cancelled while loading"):
        platform.publish(
            spec.targets["out"], spec.connections["wh"], run, cancel, lambda _: cancel.set()
        )
    platform.close()
    with sqlite3.connect(base / "out" / "wh.db") as c:
        assert c.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_connection_fingerprint_hashes_the_password_only_through_the_slow_fingerprint(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A guess at the password costs PBKDF2 rounds: the raw value never enters a cheap hash."""
    platform = LocalPlatform(make_spec(base), base / ".publish")

    def conn() -> Connection:
        return Connection("pg", vendor="postgres", host="h", password=Secret("s3cret-value"))

    monkeypatch.setattr("runner.spec.secrets.FINGERPRINT_ROUNDS", 1)
    one_round = platform.connection_fingerprint(conn())
    monkeypatch.setattr("runner.spec.secrets.FINGERPRINT_ROUNDS", 2)
    assert platform.connection_fingerprint(conn()) != one_round
