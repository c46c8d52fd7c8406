"""One recipe over N generated rows, run as a publish job on polars (local) and on Spark.

    .venv/bin/python bench/spark_vs_polars.py [--rows 10000000] [--repeat 2] [--url sc://...]

The rows (bench/_data.py: 10 typed columns, some nulls) are written once as a Parquet
input. The same SQL recipe (a filter, a group-by with five aggregates, an order by) then
runs as a job of the ``local`` platform (polars, in-process, streaming into Parquet
results) and of the ``spark`` platform (a local Spark Connect server with ``local[2]``,
writing Parquet part files), through the platforms' own ``run_job``. Each is timed from
the start of the run to results on disk (best of ``--repeat``); the Spark server's start
is reported apart. Without ``--url`` a local server is started from the installed pyspark
(needs the test extra and Java 17+) and stopped at the end. Prints seconds, rows/s and
spark/polars.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _data import orders
from _emit import add_json_option, measurement, write_json

from runner.platforms.local.platform import LocalPlatform
from runner.platforms.spark.platform import SparkPlatform
from runner.spec.model import Job, PlatformConfig, Spec

RECIPE = """
select country,
       count(*) as orders,
       sum(quantity) as items,
       sum(cast(amount as double)) as revenue,
       avg(price) as avg_price,
       max(ordered_at) as last_order
from orders
where amount is not null and quantity > 5
group by country
order by country
"""


def _spec(folder: Path, platform: PlatformConfig, fmt: str) -> tuple[Spec, Job]:
    job = Job("agg", inputs={"orders": "orders.parquet"}, recipe=RECIPE, outputs=(fmt,))
    spec = Spec(
        name="bench",
        file=folder / "publish.yaml",
        environment="default",
        platform=platform,
        jobs={"agg": job},
    )
    return spec, job


def _best(run: object, repeat: int) -> float:
    times = []
    for i in range(repeat):
        started = time.perf_counter()
        run(i)  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--url", help="an existing Spark Connect server (none is started)")
    add_json_option(parser)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        orders(args.rows).write_parquet(folder / "orders.parquet", row_group_size=500_000)
        print(f"data: {args.rows:,} rows written in {time.perf_counter() - started:.1f} s")

        local_spec, job = _spec(folder, PlatformConfig(type="local"), "parquet")
        local = LocalPlatform(local_spec, folder / ".publish")
        polars_s = _best(
            lambda i: local.run_job(job, f"p{i}", "fp", threading.Event()), args.repeat
        )

        run_dir = None
        url = args.url
        if url is None:
            from tests import spark_server

            reason = spark_server.missing()
            if reason:
                sys.exit(f"cannot start a local Spark Connect server: {reason}")
            spark_server.JVM_OPTIONS = ""  # a normal server, not the tests' quick-start one
            run_dir = spark_server.begin_run()
            began = time.perf_counter()
            url = spark_server.shared_url()
            print(
                f"spark: local Connect server listening after {time.perf_counter() - began:.1f} s"
            )
        try:
            platform = PlatformConfig(type="spark", url=url, results_path=str(folder / "results"))
            spark_spec, job = _spec(folder, platform, "parquet")
            spark = SparkPlatform(spark_spec, folder / ".publish")
            first = time.perf_counter()
            spark.run_job(job, "warmup", "fp", threading.Event())
            cold = time.perf_counter() - first
            spark_s = _best(
                lambda i: spark.run_job(job, f"s{i}", "fp", threading.Event()), args.repeat
            )
        finally:
            if run_dir is not None:
                from tests import spark_server

                spark_server.end_run(run_dir)

    print(f"{'engine':<8} {'seconds':>8} {'rows/s':>14}")
    for name, seconds in (("polars", polars_s), ("spark", spark_s)):
        print(f"{name:<8} {seconds:8.2f} {args.rows / seconds:14,.0f}")
    print(f"spark first run (new session, cold caches): {cold:.2f} s")
    print(f"spark/polars: {spark_s / polars_s:.1f}x (best of {args.repeat})")
    figures = [
        measurement(
            "spark/job", spark_s, rows=args.rows, reference="polars", reference_seconds=polars_s
        )
    ]
    write_json(args.json, "spark_vs_polars", figures)


if __name__ == "__main__":
    main()
