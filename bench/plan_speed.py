"""Plan speed: a spec with N targets over 4 SQLite connections.

Prints the time to load + validate + plan, and the number of introspection queries,
for N and N/4 targets: the query count must follow connections and schemas, not targets.

    .venv/bin/python bench/plan_speed.py            # 2,000 targets (limit: 3 s)
    .venv/bin/python bench/plan_speed.py --targets 500
"""

from __future__ import annotations

import argparse
import sqlite3
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
    add_json_option(parser)
    args = parser.parse_args()
    measure(50)  # warm imports
    figures = []
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
