"""Time `load_spec` (load, render, validate, build) on a generated 2,000-target spec.

Prints the time (wall clock and CPU) of the whole pipeline and, as a reference measured
in the same run, the time of a bare `yaml.load` of the same file with libyaml (no
positions, no checks).
Goal: under 1 s on the project's 2-core machine.

    .venv/bin/python bench/validate_spec.py [--targets N] [--repeat R]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml
from _emit import add_json_option, measurement, write_json

from runner.spec.api import load_spec


def generate(folder: Path, targets: int) -> Path:
    (folder / "data").mkdir()
    (folder / "data" / "orders.csv").write_text("id,amount\n1,2.5\n", encoding="utf-8")
    lines = [
        "version: 1",
        "name: bench",
        "vars: {schema: main, prefix: t}",
        "environments:",
        "  prod: {vars: {schema: analytics}, protect: true}",
        "connections:",
    ]
    for c in range(5):
        lines += [
            f"  pg{c}:",
            "    vendor: postgres",
            "    host: 127.0.0.1",
            "    port: \"{{ env('PGPORT', '5432') }}\"",
            "    database: test",
            "    username: postgres",
        ]
    lines.append("jobs:")
    jobs = 50
    for j in range(jobs):
        lines += [
            f"  job{j}:",
            "    inputs: {orders: data/orders.csv}",
            f"    recipe: select id, amount * {j} as amount from orders",
            "    outputs: [avro, csv]",
        ]
    lines.append("targets:")
    actions = ["create", "truncateAndLoad", "dropAndLoad", "createAndLoad", "load"]
    for t in range(targets):
        lines += [
            f"  target{t}:",
            f"    job: job{t % jobs}",
            f"    connection: pg{t % 5}",
            '    path: ["{{ vars.schema }}"]',
            f'    table: "{{{{ vars.prefix }}}}_{t}"',
            f"    action: {actions[t % len(actions)]}",
            "    inputFormat: csv",
        ]
        if t % 7 == 0:
            lines += ["    action: upsert", "    key: [id]"][1:]
    path = folder / "publish.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def best_of(repeat: int, fn: object) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times) if repeat < 3 else statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    add_json_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = generate(Path(tmp), args.targets)
        size = spec.stat().st_size
        first, first_cpu = time.perf_counter(), time.process_time()
        loaded = load_spec(spec)
        cold, cold_cpu = time.perf_counter() - first, time.process_time() - first_cpu
        assert len(loaded.targets) == args.targets
        warm = best_of(args.repeat, lambda: load_spec(spec))
        prod = best_of(args.repeat, lambda: load_spec(spec, environment="prod"))
        text = spec.read_text(encoding="utf-8")
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        ref = best_of(args.repeat, lambda: yaml.load(text, Loader=loader))
    print(f"spec: {args.targets} targets, {size / 1024:.0f} KiB")
    print(f"load_spec cold (first call, schema compiled): {cold:.3f} s (cpu {cold_cpu:.3f} s)")
    print(f"load_spec warm: {warm:.3f} s   with --env prod: {prod:.3f} s")
    print(f"reference yaml.load (libyaml, no checks): {ref:.3f} s  ratio {warm / ref:.1f}x")
    verdict = "OK" if cold < 1.0 else "TOO SLOW"
    print(f"goal: under 1 s end to end -> {verdict}")
    key = f"load_spec/{args.targets}-targets"
    figures = [
        measurement(key + "/cold", cold, cpu_seconds=cold_cpu),
        measurement(key, warm, reference="yaml.load (libyaml)", reference_seconds=ref),
    ]
    write_json(args.json, "validate_spec", figures)
    if cold >= 1.0 > cold_cpu:
        print("(the CPU time is under 1 s: the machine is busy; run again when it is quiet)")


if __name__ == "__main__":
    main()
