"""The spark platform's logic against a fake session (no Java, no server)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import polars as pl
import pytest

from runner.errors import PlatformError
from runner.platforms.spark.platform import SparkPlatform
from runner.platforms.spark.schema import column_expr, logical_of
from runner.platforms.spark.session import check_reachable
from runner.platforms.spark.url import parse_url, spark_url_problem
from runner.results import iter_frames
from runner.spec.model import Connection, Job, PlatformConfig, Spec, Target
from runner.spec.secrets import redact, register
from tests.spark.fake_session import FakeCluster

pytest.importorskip("pyspark.errors", reason="the fake raises pyspark's own errors")

URL = "sc://spark.example.com:15002/;use_ssl=true;token=s3cr3t-token-value"


@pytest.fixture
def base(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "orders.csv").write_text(
        "id,customer,amount\n1,alice,2.5\n2,bob,\n3,alice,4.0\n4,carol,1.5\n"
    )
    (data / "lines.jsonl").write_text('{"k": 1, "tags": ["a", "b"]}\n{"k": 2, "tags": []}\n')
    pl.DataFrame({"id": [1, 3], "flag": [True, False]}).write_avro(data / "extras.avro")
    return tmp_path


def make_spec(base: Path, job: Job, *, url: str = URL, results: str = "results") -> Spec:
    return Spec(
        name="shop",
        file=base / "publish.yaml",
        environment="default",
        platform=PlatformConfig(type="spark", url=url, results_path=results),
        connections={"wh": Connection("wh", vendor="sqlite", database="wh.db")},
        jobs={job.name: job},
        targets={
            "out": Target(
                "out", job=job.name, connection="wh", table="orders", path=("main",),
                action="truncateAndLoad", input_format="parquet",
            )
        },
    )  # fmt: skip


ORDERS = Job(
    "orders_clean",
    inputs={"orders": "data/orders.csv"},
    recipe="select id, customer, amount * 2 as doubled from orders where amount is not null",
    outputs=("parquet",),
)


def platform(
    base: Path, job: Job = ORDERS, *, results: str = "results", **cluster_args: object
) -> tuple[SparkPlatform, FakeCluster]:
    cluster = FakeCluster(**cluster_args)
    spec = make_spec(base, job, results=results)
    opener = cluster.opener if "store" in cluster_args else None
    return SparkPlatform(spec, base / ".publish", connector=cluster, opener=opener), cluster


# --- the URL -------------------------------------------------------------------------------
def test_url_token_is_masked_and_tls_is_kept() -> None:
    url = parse_url(URL)
    assert (url.host, url.port, url.token, url.use_ssl) == (
        "spark.example.com", 15002, "s3cr3t-token-value", True,
    )  # fmt: skip
    assert "s3cr3t" not in url.shown and "token=***" in url.shown
    assert "s3cr3t" not in url.identity
    assert parse_url("sc://localhost").port == 15002


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("sc://h:15002/;token=abc;use_ssl=false", "a token travels over TLS only"),
        ("sc://h:15002/;tokn=abc", "unknown Spark Connect parameter 'tokn'"),
        ("sc://h:15002/;token", "needs a value"),
        ("sc://:15002", "is not a host name"),
        ("sc://h:99999", "out of range"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, problem: str) -> None:
    message = spark_url_problem(url)
    assert message is not None and problem in message
    assert "abc" not in message


def test_unreachable_server_fails_fast_without_the_token() -> None:
    register("s3cr3t-token-value")
    with pytest.raises(PlatformError) as err:
        check_reachable(parse_url("sc://127.0.0.1:9/;token=s3cr3t-token-value"), timeout=2)
    assert "cannot reach the Spark Connect server" in str(err.value)
    assert "s3cr3t" not in str(err.value) and "token=***" in str(err.value)


# --- types -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spark", "logical"),
    [
        ("bigint", "int64"), ("int", "int32"), ("smallint", "int16"), ("tinyint", "int8"),
        ("double", "float64"), ("float", "float32"), ("decimal(12,2)", "decimal(12,2)"),
        ("timestamp", "timestamptz"), ("timestamp_ntz", "timestamp"), ("date", "date"),
        ("varchar(10)", "string"), ("array<int>", "json"), ("void", "string"),
        ("map<string,int>", "json"), ("struct<x:int>", "json"), ("variant", "json"),
        ("interval day", "string"), ("binary", "binary"), ("boolean", "boolean"),
    ],
)  # fmt: skip
def test_spark_types_map_to_logical_types(spark: str, logical: str) -> None:
    assert logical_of(spark) == logical


def test_nested_and_odd_columns_are_written_as_text() -> None:
    assert column_expr("tags", "array<string>") == "to_json(`tags`) as `tags`"
    assert column_expr("we`ird", "map<string,int>") == "to_json(`we``ird`) as `we``ird`"
    assert column_expr("n", "void") == "cast(`n` as string) as `n`"
    assert column_expr("d", "interval day") == "cast(`d` as string) as `d`"
    assert column_expr("id", "bigint") == "`id`"


# --- plan time -----------------------------------------------------------------------------
def test_result_schema_comes_from_analysis_without_running(base: Path) -> None:
    plat, cluster = platform(base)
    schema = plat.result_schema(ORDERS)
    assert schema is not None
    assert schema.to_json() == [["id", "int64"], ["customer", "string"], ["doubled", "float64"]]
    assert cluster.writes == []  # nothing ran, nothing written
    (session,) = cluster.sessions
    assert session.stopped
    loads = [arg for kind, arg in session.calls if kind == "load"]
    assert loads == [f"csv {(base / 'data' / 'orders.csv').resolve().as_uri()}"]


def test_recipe_errors_are_plan_errors_of_one_line(base: Path) -> None:
    job = Job("bad", inputs={"orders": "data/orders.csv"}, recipe="select nope from orders",
              outputs=("parquet",))  # fmt: skip
    plat, _ = platform(base, job)
    with pytest.raises(PlatformError) as err:
        plat.result_schema(job)
    text = str(err.value)
    assert text.startswith("job.bad: recipe: [UNRESOLVED_COLUMN]")
    assert "JVM stacktrace" not in text and "\n" not in text


def test_avro_input_without_spark_avro_says_so(base: Path) -> None:
    job = Job("x", inputs={"extras": "data/extras.avro"}, outputs=("parquet",))
    plat, _ = platform(base, job)
    with pytest.raises(PlatformError, match=r"job.x: input extras: the cluster cannot read Avro"):
        plat.result_schema(job)
    plat_avro, _ = platform(base, job, missing_sources=frozenset())
    schema = plat_avro.result_schema(job)
    assert schema is not None and schema.names == ("id", "flag")


def test_duplicate_result_columns_are_refused(base: Path) -> None:
    job = Job("d", inputs={"orders": "data/orders.csv"},
              recipe="select id, customer as ID from orders", outputs=("parquet",))  # fmt: skip
    plat, _ = platform(base, job)
    with pytest.raises(PlatformError, match="more than one column named id"):
        plat.result_schema(job)


def test_check_names_what_spark_cannot_do(base: Path) -> None:
    job = Job("j", inputs={"a": "data/orders.csv", "b": "data/x.xlsx"}, outputs=("avro",))
    spec = make_spec(base, job, url="sc://h:1/;tokn=x", results="ftp://host/results")
    spec = Spec(**{**spec.__dict__, "targets": {"out": Target(
        "out", job="j", connection="wh", table="t", input_format="csv")}})  # fmt: skip
    problems = SparkPlatform(spec, base / ".publish", connector=FakeCluster()).check(spec)
    text = "\n".join(problems)
    assert "unknown Spark Connect parameter 'tokn'" in text
    assert "publish cannot read results from ftp://" in text
    assert "job.j: a recipe is needed to combine 2 inputs" in text
    assert "job.j: input b: cannot read data/x.xlsx" in text
    assert "job.j: output avro: spark jobs write parquet" in text
    assert "target.out: inputFormat csv" in text


def test_remote_inputs_fingerprint_by_the_clusters_listing(base: Path) -> None:
    job = Job("r", inputs={"big": "s3a://bucket/big.parquet"}, outputs=("parquet",))
    plat, cluster = platform(base, job)
    cluster.session_args["listings"] = {
        "s3a://bucket/big.parquet": [("s3a://bucket/big.parquet", 10, "t1")]
    }
    first = plat.job_fingerprint(job)
    assert plat.job_fingerprint(job) == first
    cluster.session_args["listings"] = {
        "s3a://bucket/big.parquet": [("s3a://bucket/big.parquet", 10, "t2")]
    }
    assert plat.job_fingerprint(job) != first


def test_local_inputs_fingerprint_by_content(base: Path) -> None:
    plat, cluster = platform(base)
    first = plat.job_fingerprint(ORDERS)
    assert cluster.sessions == []  # local files are hashed here, no session needed
    (base / "data" / "orders.csv").write_text("id,customer,amount\n1,alice,9.5\n")
    assert plat.job_fingerprint(ORDERS) != first


# --- apply time ----------------------------------------------------------------------------
def test_run_writes_a_folder_of_parts_that_publishes(base: Path) -> None:
    plat, cluster = platform(base)
    run = plat.run_job(ORDERS, "r1", "fp", threading.Event())
    folder = base / "results" / "shop" / "default" / "orders_clean" / "r1"
    assert cluster.writes == [folder.as_uri()]
    results = run.results["parquet"]
    assert [f.parent for f in results.files] == [folder, folder]  # two part files
    assert results.rows == run.rows == 3
    assert run.schema is not None and run.schema.names == ("id", "customer", "doubled")
    rows = pl.concat(list(iter_frames(results))).sort("id").rows()
    assert rows == [(1, "alice", 5.0), (3, "alice", 8.0), (4, "carol", 3.0)]

    published = plat.publish(plat.spec.targets["out"], plat.spec.connections["wh"], run,
                             threading.Event())  # fmt: skip
    plat.close()
    assert published.rows_loaded == 3
    with sqlite3.connect(base / "wh.db") as conn:
        assert conn.execute("select sum(doubled) from orders").fetchone() == (16.0,)


def test_results_that_vanished_make_the_job_run_again(base: Path) -> None:
    from runner.state.model import JobRunRecord

    plat, _ = platform(base)
    run = plat.run_job(ORDERS, "r1", "fp", threading.Event())
    record = JobRunRecord(
        job="orders_clean", run_id="r1", fingerprint="fp", finished_at="now",
        results={k: v.to_json(plat.state_dir) for k, v in run.results.items()},
    )  # fmt: skip
    assert plat.has_results(record, "parquet")
    plat.prune_results({"orders_clean": "other"})
    assert not plat.has_results(record, "parquet")


def test_ctrl_c_interrupts_the_clusters_work_and_removes_partial_results(base: Path) -> None:
    plat, cluster = platform(base, block_writes=True)
    cancel = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            plat.run_job(ORDERS, "r1", "fp", cancel)
        except PlatformError as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    for _ in range(100):
        if cluster.sessions and cluster.sessions[0].writing.wait(0.05):
            break
    cancel.set()
    worker.join(10)
    assert cluster.sessions[0].interrupted.is_set()
    assert len(errors) == 1 and "cancelled" in str(errors[0])
    assert not (base / "results" / "shop" / "default" / "orders_clean" / "r1").exists()


def test_the_token_never_shows_in_errors(base: Path) -> None:
    register("s3cr3t-token-value")
    job = Job("bad", inputs={"orders": "data/orders.csv"}, recipe="select nope from orders",
              outputs=("parquet",))  # fmt: skip
    plat, _ = platform(base, job)
    with pytest.raises(PlatformError) as err:
        plat.run_job(job, "r1", "fp", threading.Event())
    assert "s3cr3t" not in redact(str(err.value))
    assert "s3cr3t" not in plat.url.shown


# --- the spec --------------------------------------------------------------------------------
def test_validate_knows_the_spark_platforms_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.cli.helpers import publish, write_spec

    spec = write_spec(
        tmp_path,
        """\
        version: 1
        name: shop
        platform: {type: spark, url: "https://spark.example.com"}
        connections:
          wh: {vendor: sqlite, database: wh.db}
        jobs:
          a:
            inputs: {orders: data/orders.csv, lake: "s3a://bucket/never/checked.parquet"}
            recipe: select * from orders
            outputs: [avro]
        targets:
          t: {job: a, connection: wh, path: [main], table: t}
        """,
    )
    result = publish(capsys, "validate", str(spec))
    out = result.out + result.err
    assert result.code == 1
    assert "'resultsPath' is required in platform" in out
    assert "use a Spark Connect URL: sc://HOST:15002" in out
    assert "$.jobs.a.outputs[0]: 'avro': spark jobs write parquet" in out
    assert "s3a://" not in out  # a cluster-side input is not looked for here
    assert "job 'a' does not output parquet" in out  # parquet is the default inputFormat

    spec.write_text(
        spec.read_text()
        .replace('url: "https://spark.example.com"', 'url: "sc://h:15002/;tokn=x", resultsPath: r')
        .replace("outputs: [avro]", "outputs: [parquet]")
    )
    result = publish(capsys, "validate", str(spec))
    assert result.code == 1
    assert "$.platform.url: unknown Spark Connect parameter 'tokn'" in result.out + result.err


def test_a_results_folder_without_the_success_marker_is_refused(base: Path) -> None:
    from runner.platforms.spark.results import result_set
    from runner.results import ResultSchema

    folder = base / "elsewhere"
    folder.mkdir()
    pl.DataFrame({"id": [1]}).write_parquet(folder / "part-00000-x.parquet")
    with pytest.raises(PlatformError, match="no _SUCCESS marker"):
        result_set(folder, ResultSchema(()))
    (folder / "_SUCCESS").write_text("")
    assert result_set(folder, ResultSchema(())).rows == 1


def test_a_token_in_the_url_never_leaves_publish(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """render, validate and plan (the server is not there) of a spec whose URL holds a token."""
    from tests.cli.helpers import publish, write_spec

    token = "tok-9f8e7d6c5b4a-never-shown"
    monkeypatch.setenv("SPARK_TOKEN", token)
    spec = write_spec(
        tmp_path,
        """\
        version: 1
        name: shop
        platform:
          type: spark
          url: "sc://127.0.0.1:9/;use_ssl=true;token={{ secret('SPARK_TOKEN') }}"
          resultsPath: results
        connections:
          wh: {vendor: sqlite, database: wh.db}
        jobs:
          a: {inputs: {orders: data/orders.csv}, recipe: select * from orders}
        targets:
          t: {job: a, connection: wh, path: [main], table: t}
        """,
    )
    outputs = []
    for command in (("render",), ("validate",), ("plan", "--format", "json"), ("plan",)):
        result = publish(capsys, command[0], str(spec), *command[1:])
        outputs.append(result.out + result.err)
        assert token not in outputs[-1], command
    assert (
        "cannot reach the Spark Connect server at sc://127.0.0.1:9/;use_ssl=true;token=***"
        in outputs[-1]
    )
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]
    assert leftovers == []


def test_without_the_extra_the_error_says_what_to_install(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket
    import sys

    from runner.platforms.spark.session import connect

    monkeypatch.setitem(sys.modules, "pyspark.sql.connect.session", None)  # import fails
    with socket.socket() as listening:  # something answers on the port
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        with pytest.raises(PlatformError, match=r"pip install 'publish-runner\[spark\]'"):
            connect(parse_url(f"sc://127.0.0.1:{port}"), f"sc://127.0.0.1:{port}")


def test_results_in_an_object_store_are_copied_here_and_published(base: Path) -> None:
    from runner.state.model import JobRunRecord

    store = base / "store"
    plat, cluster = platform(base, results="s3a://lake/publish/", store=store)
    run = plat.run_job(ORDERS, "r1", "fp", threading.Event())
    assert cluster.writes == ["s3a://lake/publish/shop/default/orders_clean/r1"]
    remote = store / "lake" / "publish" / "shop" / "default" / "orders_clean" / "r1"
    assert (remote / "_SUCCESS").is_file()
    local = base / ".publish" / "results" / "orders_clean" / "r1"
    results = run.results["parquet"]
    assert [f.parent for f in results.files] == [local, local]
    assert results.rows == 3
    published = plat.publish(plat.spec.targets["out"], plat.spec.connections["wh"], run,
                             threading.Event())  # fmt: skip
    plat.close()
    assert published.rows_loaded == 3

    record = JobRunRecord(
        job="orders_clean", run_id="r1", fingerprint="fp", finished_at="now",
        results={k: v.to_json(plat.state_dir) for k, v in run.results.items()},
    )  # fmt: skip
    plat.run_job(ORDERS, "r2", "fp", threading.Event())
    plat.prune_results({"orders_clean": "r2"})
    assert not remote.exists() and not local.exists()
    assert (remote.parent / "r2" / "_SUCCESS").is_file()
    assert not plat.has_results(record, "parquet")


def test_an_unfinished_remote_write_is_not_published(base: Path) -> None:
    store = base / "store"
    plat, cluster = platform(base, results="s3a://lake/publish", store=store)
    plat.run_job(ORDERS, "r1", "fp", threading.Event())
    remote = store / "lake" / "publish" / "shop" / "default" / "orders_clean" / "r1"
    (remote / "_SUCCESS").unlink()
    from runner.platforms.spark.results import fetch

    with pytest.raises(PlatformError, match="have no _SUCCESS marker"):
        fetch(plat.location("orders_clean", "r1"), cluster.opener)
    assert not plat.location("orders_clean", "r1").local.exists()


def test_pruning_never_follows_links_out_of_the_results_folder(base: Path) -> None:
    plat, _ = platform(base)
    plat.run_job(ORDERS, "r1", "fp", threading.Event())
    outside = base / "precious"
    (outside / "keepme").mkdir(parents=True)
    job_dir = base / "results" / "shop" / "default" / "orders_clean"
    (job_dir / "r0").symlink_to(outside, target_is_directory=True)
    (job_dir.parent / "linked_job").symlink_to(outside, target_is_directory=True)
    plat.prune_results({"orders_clean": "r1"})
    assert (outside / "keepme").is_dir()
    assert not (job_dir / "r0").exists() and (job_dir / "r1" / "_SUCCESS").is_file()
