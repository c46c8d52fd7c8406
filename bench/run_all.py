"""Run every benchmark in bench/, write bench/results.md (issue 16's goal table) and a chart.

    pip install -e '.[bench]'                          # matplotlib, for the chart
    .venv/bin/python bench/run_all.py                  # 1M rows, 3 runs each: idle machine only
    .venv/bin/python bench/run_all.py --quick          # 100k rows; fails on a >30 % ratio drop
    .venv/bin/python bench/run_all.py --quick --write-baseline   # refresh bench/baseline.json

Each script (load.py for PostgreSQL and MariaDB, sqlite_load.py, avro_job.py, plan_speed.py,
validate_spec.py, diff_speed.py, state_write.py; spark_vs_polars.py only with --spark or when a local
Spark Connect server can start) runs --repeat times in a child with --json; the CLI's
start-up (`publish --help`, `publish validate` of the quickstart and of a 2,000-target
spec) is timed as repeated subprocesses after one warm-up. Figures are the median with
the spread (min-max). A full run refuses to start when the load average is above 1
(--allow-busy runs anyway); --quick only warns. The load at the start decides (at the end it
counts this run's own processes). The report of a run on an idle machine
goes to bench/results.md (commit it); of a busy one to bench/.data/results.md (never
commit it). The chart is written beside it as results.png (not committed). Generated data
lives under bench/.data/ (git-ignored).

runner's modules are byte-compiled first (compileall), as pip does when it installs a wheel
and as Python does on the first run anywhere PYTHONDONTWRITEBYTECODE is unset: where it is
set (as on the project's machine) and the install is editable, every timed run would
otherwise compile each module it imports again (~20 ms of `publish validate`), a cost no
installed copy pays twice.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import report  # noqa: E402

DATA = BENCH / ".data"
BASELINE = BENCH / "baseline.json"


def load_average() -> float:
    return os.getloadavg()[0]


def run_script(script: str, args: list[str], repeat: int, work: Path) -> list[dict[str, Any]]:
    """``repeat`` runs of bench/SCRIPT ARGS --json; their measurements, all runs together."""
    out: list[dict[str, Any]] = []
    for i in range(repeat):
        path = work / f"{Path(script).stem}-{i}.json"
        print(f"\n== {script} {' '.join(args)}  (run {i + 1}/{repeat})", flush=True)
        cmd = [sys.executable, str(BENCH / script), *args, "--json", str(path)]
        if subprocess.run(cmd, cwd=ROOT, check=False).returncode != 0:
            raise SystemExit(f"{script} failed: {' '.join(cmd)}")
        out += json.loads(path.read_text())["measurements"]
    return out


def time_command(key: str, cmd: list[str], repeat: int, cwd: Path) -> list[dict[str, Any]]:
    """Wall time of ``cmd`` in a subprocess, ``repeat`` times after one warm-up run."""

    def once() -> float:
        t0 = time.perf_counter()
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr.decode()[-2000:]}")
        return time.perf_counter() - t0

    once()
    times = [once() for _ in range(repeat)]
    print(f"{key:28} {report.spread(times, '{:.3f}')} s  ({' '.join(cmd[1:])})", flush=True)
    return [{"key": key, "seconds": t} for t in times]


def cli_startup(repeat: int, work: Path) -> list[dict[str, Any]]:
    from validate_spec import generate

    publish = str(Path(sys.executable).parent / "publish")
    if not Path(publish).exists():
        publish = shutil.which("publish") or sys.exit("no `publish` command: pip install -e .")
    big = work / "spec2000"
    big.mkdir()
    generate(big, 2000)
    print("\n== CLI start-up (wall clock, median (min-max))", flush=True)
    return [
        *time_command("cli/help", [publish, "--help"], repeat, ROOT),
        *time_command(
            "cli/validate-quickstart",
            [publish, "validate", "publish_specs/quickstart"],
            repeat,
            ROOT,
        ),
        *time_command("cli/validate-2000", [publish, "validate", str(big)], repeat, ROOT),
    ]


def spark_available(url: str | None) -> str | None:
    """Why spark_vs_polars cannot run here, or None."""
    if url:
        return None
    sys.path.insert(0, str(ROOT))
    from tests import spark_server

    return spark_server.missing()


def _version(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    return (done.stdout.strip() or done.stderr.strip() or "unknown").splitlines()[0]


def machine(load_start: float, load_end: float) -> dict[str, str]:
    def dist(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    psql = ["psql", "-X", "-At", "-h", "127.0.0.1", "-U", "postgres", "-d", "test"]
    return {
        "cores": str(os.cpu_count()),
        "load average (1 min) at start / end (the end counts this run)": (
            f"{load_start:.2f} / {load_end:.2f}"
        ),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "polars": dist("polars"),
        "psycopg": dist("psycopg"),
        "pymysql": dist("pymysql"),
        "PostgreSQL": _version([*psql, "-c", "show server_version"]),
        "MariaDB": _version(
            ["mysql", "-h", "127.0.0.1", "-u", "root", "-N", "-e", "select version()"]
        ),
        "sqlite (python module)": sqlite3.sqlite_version,
        "sqlite3 CLI": _version(["sqlite3", "--version"]) if shutil.which("sqlite3") else "absent",
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def plan(args: argparse.Namespace) -> list[tuple[str, list[str], int]]:
    """(script, arguments, runs) of this run."""
    rows = str(args.rows)
    steps = [
        ("load.py", ["--rows", rows], args.repeat),
        ("sqlite_load.py", ["--rows", rows, "--repeat", "1"], args.repeat),
        ("avro_job.py", ["--rows", str(args.rows if args.quick else 10_000_000)], args.repeat),
        ("plan_speed.py", ["--targets", "500" if args.quick else "2000"], args.repeat),
        ("validate_spec.py", ["--targets", "2000", "--repeat", "1"], args.repeat),
        ("diff_speed.py", ["--rows", rows], args.repeat),
        ("state_write.py", ["--writes", "5" if args.quick else "20"], args.repeat),
    ]
    if not args.quick:
        steps.append(("load.py", ["--memory-rows", "10000000", "--only", "postgres"], 1))
    if args.spark:
        reason = spark_available(args.spark_url)
        if reason:
            print(f"spark_vs_polars.py skipped: {reason}")
        else:
            extra = ["--url", args.spark_url] if args.spark_url else []
            spark_rows = str(args.rows if args.quick else 10_000_000)
            steps.append(("spark_vs_polars.py", ["--rows", spark_rows, *extra], 1))
    return steps


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="100k rows; compare with baseline.json")
    p.add_argument("--repeat", type=int, default=3, help="runs of each measurement (median)")
    p.add_argument("--rows", type=int, help="rows of the load benchmarks (1M; --quick 100k)")
    p.add_argument("--allow-busy", action="store_true", help="run with a load average above 1")
    p.add_argument("--spark", action="store_true", help="also spark_vs_polars.py (Java, pyspark)")
    p.add_argument("--spark-url", help="an existing Spark Connect server for --spark")
    p.add_argument("--baseline", type=Path, default=BASELINE)
    p.add_argument("--write-baseline", action="store_true", help="store this run's ratios")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write every figure as JSON")
    p.add_argument("--from-json", type=Path, metavar="PATH", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.rows = args.rows or (100_000 if args.quick else 1_000_000)
    return args


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    DATA.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="run_all-", dir=DATA) as tmp:
        work = Path(tmp)
        figures = []
        for script, script_args, runs in plan(args):
            figures += run_script(script, script_args, runs, work)
        return figures + cli_startup(args.repeat, work)


def finish(
    args: argparse.Namespace, figures: list[dict[str, Any]], load_start: float, load_end: float
) -> int:
    """Write the report and chart, check the baseline; the exit status."""
    # other work shows in the load average at the start; at the end it also counts this
    # run's own processes (the runner and the database server keep both cores busy)
    comparable = load_start <= 1.0
    summaries = report.summarise(figures)
    folder = BENCH if comparable and not args.quick else DATA
    folder.mkdir(parents=True, exist_ok=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    png = folder / ("results-quick.png" if args.quick else "results.png")
    drawn = report.chart(summaries, png)
    md = folder / ("results-quick.md" if args.quick else "results.md")
    facts = machine(load_start, load_end)
    text = report.render(
        summaries,
        facts,
        repeat=max((len(s.seconds) for s in summaries.values()), default=0),
        comparable=comparable,
        chart=png.name if drawn else None,
    )
    md.write_text(text, encoding="utf-8")
    print(
        f"\nreport: {md}"
        + (f", chart: {png}" if drawn else " (no chart: pip install -e '.[bench]')")
    )
    if not comparable:
        print(f"WARNING: load average {load_start:.2f} at the start: figures not comparable")
    if args.write_baseline:
        args.baseline.write_text(
            json.dumps(report.baseline_of(summaries), indent=1, sort_keys=True) + "\n"
        )
        print(f"baseline written: {args.baseline}")
        return 0
    if not args.quick:
        return 0
    if not args.baseline.is_file():
        print(f"no baseline {args.baseline}: run with --write-baseline on an idle machine")
        return 1
    baseline = json.loads(args.baseline.read_text(encoding="utf-8"))
    failed = report.regressions(summaries, baseline)
    for line in failed:
        print(f"REGRESSED: {line}")
    print(
        f"{len(baseline) - len(failed)}/{len(baseline)} ratios within {report.TOLERANCE:.0%} of {args.baseline.name}"
    )
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    load_start = load_average()
    if args.from_json:  # re-render a stored run (tests, or a report from saved figures)
        return finish(args, json.loads(args.from_json.read_text()), load_start, load_start)
    if load_start > 1.0:
        print(
            f"!!! load average {load_start:.2f} (> 1): other work is running; "
            "FIGURES NOT COMPARABLE !!!",
            file=sys.stderr,
        )
        if not (args.quick or args.allow_busy):
            print(
                "refusing a full run on a busy machine (--allow-busy to run anyway)",
                file=sys.stderr,
            )
            return 2
    compileall.compile_dir(ROOT / "runner", quiet=1)  # see the module's doc
    started = time.perf_counter()
    figures = measure(args)
    print(f"\nmeasured in {time.perf_counter() - started:.0f} s")
    return finish(args, figures, load_start, load_average())


if __name__ == "__main__":
    sys.exit(main())
