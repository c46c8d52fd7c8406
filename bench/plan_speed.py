"""Plan speed: the quickstart through the CLI, and a spec with N targets.

1. ``publish plan`` of the quickstart (publish_specs/quickstart, applied once, then one
   value edited) through the CLI, wall time of the whole process: with preview and row
   diff, the job run at plan ("cold": the preview store emptied before each run; goal
   < 1.5 s), the preview found in the store ("warm"), and ``--no-preview``.
2. A spec with N targets over 4 SQLite connections: the time to load + validate + plan,
   and the number of introspection queries, for N and N/4 targets: the query count must
   follow connections and schemas, not targets.

    .venv/bin/python bench/plan_speed.py            # 2,000 targets (limit: 3 s)
    .venv/bin/python bench/plan_speed.py --targets 500 --repeat 3
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _emit import add_json_option, measurement, write_json

from runner.plan.planner import PlanOptions, make_plan
from runner.plan.render import render_plan
from runner.platforms.registry import open_platform
from runner.spec.api import load_spec
from runner.targets.pool import TargetPool

CONNECTIONS = 4
JOBS = 20
QUICKSTART = Path(__file__).resolve().parents[1] / "publish_specs" / "quickstart"
QUICKSTART_GOAL = 1.5


def _publish() -> list[str]:
    command = Path(sys.executable).parent / "publish"
    return [str(command)] if command.exists() else [sys.executable, "-m", "runner.cli"]


def quickstart(repeat: int) -> list[dict[str, object]]:
    """Wall time of ``publish plan`` of the edited quickstart: cold, warm, --no-preview."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "quickstart"
        shutil.copytree(QUICKSTART, folder, ignore=shutil.ignore_patterns(".publish", "*.db*"))
        subprocess.run(
            [*_publish(), "apply", "--auto-approve", str(folder)], check=True, capture_output=True
        )
        data = folder / "data" / "orders.csv"
        data.write_text(data.read_text().replace("4,dave,US,230.10", "4,dave,US,231.10"))

        def plan(*extra: str, cold: bool = False) -> float:
            if cold:
                shutil.rmtree(folder / ".publish" / "previews", ignore_errors=True)
            started = time.perf_counter()
            done = subprocess.run([*_publish(), "plan", str(folder), *extra], capture_output=True)
            elapsed = time.perf_counter() - started
            if done.returncode != 0 or (b"1 changed" not in done.stdout and not extra):
                raise SystemExit(f"publish plan failed:\n{done.stderr.decode()[-2000:]}")
            return elapsed

        plan(cold=True)  # warm the file cache and imports
        figures = []
        for key, extra, cold in (
            ("plan/quickstart-preview-cold", (), True),
            ("plan/quickstart-preview-warm", (), False),
            ("plan/quickstart-no-preview", ("--no-preview",), False),
        ):
            times = [plan(*extra, cold=cold) for _ in range(repeat)]
            print(
                f"quickstart {key.split('-', 1)[1]:>16}: median {statistics.median(times):.2f} s"
                f" (min {min(times):.2f}, max {max(times):.2f}, {repeat} runs; goal for cold"
                f" < {QUICKSTART_GOAL} s)"
            )
            figures.append(measurement(key, statistics.median(times)))
        return figures


def build(folder: Path, targets: int) -> Path:
    (folder / "data").mkdir()
    lines = ["version: 1", "name: big", "connections:"]
    for c in range(CONNECTIONS):
        lines += [f"  db{c}:", "    vendor: sqlite", f"    database: db{c}.sqlite"]
    lines.append("jobs:")
    for j in range(JOBS):
        (folder / "data" / f"in{j}.csv").write_text("id,name,amount\n1,a,1.5\n2,b,2.5\n")
        lines += [
            f"  job{j}:",
            "    inputs:",
            f"      t: data/in{j}.csv",
            "    recipe: select id, name, amount * 2 as amount from t",
        ]
    lines.append("targets:")
    for t in range(targets):
        lines += [
            f"  t{t}:",
            f"    job: job{t % JOBS}",
            f"    connection: db{t % CONNECTIONS}",
            "    path: [main]",
            f"    table: table_{t}",
            "    action: truncateAndLoad",
        ]
    spec = folder / "publish.yaml"
    spec.write_text("\n".join(lines) + "\n")
    for c in range(CONNECTIONS):  # half the tables exist already, with rows
        with sqlite3.connect(folder / f"db{c}.sqlite") as db:
            for t in range(c, targets, CONNECTIONS * 2):
                db.execute(f'create table "table_{t}" (id INTEGER, name TEXT, amount REAL)')
                db.execute(f'insert into "table_{t}" values (1, "x", 1.0)')
    return spec


def measure(targets: int) -> tuple[float, int, int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        spec_path = build(Path(tmp), targets)
        started = time.perf_counter()
        spec = load_spec(spec_path)
        platform = open_platform(spec, Path(tmp) / ".publish")
        with TargetPool(spec.base_dir) as pool:
            plan = make_plan(spec, None, platform, pool, PlanOptions())
            queries = pool.introspection_queries()
        elapsed = time.perf_counter() - started
        platform.close()
        markdown = render_plan(plan, "markdown")
        return elapsed, queries, len(plan.changes), len(markdown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each quickstart plan")
    add_json_option(parser)
    args = parser.parse_args()
    figures = quickstart(args.repeat)
    measure(50)  # warm imports
    for n in (args.targets // 4, args.targets):
        elapsed, queries, changes, md = measure(n)
        print(
            f"{n:>6} targets over {CONNECTIONS} connections: plan in {elapsed:.2f} s, "
            f"{queries} introspection queries, {changes} changes, markdown {md:,} chars"
        )
        figures.append(measurement(f"plan/{n}-targets", elapsed, queries=queries))
    limit = 3.0
    print(f"limit for {args.targets} targets: {limit:.1f} s")
    write_json(args.json, "plan_speed", figures)


if __name__ == "__main__":
    main()
