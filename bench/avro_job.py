"""Local job over a large Avro input: peak memory of `publish apply`, streamed vs whole-file.

    .venv/bin/python bench/avro_job.py                  # 10M rows (issue 16 goal: <= 600 MB)
    .venv/bin/python bench/avro_job.py --rows 1000000

Generates an orders-like Avro file (bench/_data.py, 10 columns, written by polars in 1M-row
chunks of 4096-row blocks re-framed into one file) under bench/.data/ (git-ignored), then runs in child
processes, each with its own peak RSS (VmHWM, which Linux resets at exec, read by the
child itself at exit; ru_maxrss would carry this process's peak over into the child):

- ours: `publish apply` of a spec whose job reads the file with a filter + projection
  recipe (about 10% of the rows) and publishes them into SQLite;
- reference: what a local job did before (polars reads the whole file, then the same
  query streams into Parquet), without the publish.

Prints wall time, rows/s and peak RSS of each.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402

from bench._data import orders  # noqa: E402
from bench._emit import add_json_option, measurement, write_json  # noqa: E402
from runner.platforms.local.avro_blocks import SYNC_SIZE, iter_groups, read_header, split  # noqa: E402

CHUNK = 1_000_000
#: rows per Avro block (Java's writer makes ~64 kB blocks; fastavro ~16 kB)
BLOCK_ROWS = 4096
RECIPE = "select id, customer, amount, ordered_at from t where quantity <= 5"


def generate(path: Path, rows: int) -> None:
    """One Avro file of ``rows`` rows: polars writes chunks, their blocks are re-framed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        sync = b""
        for k, start in enumerate(range(0, rows, CHUNK)):
            chunk = orders(min(CHUNK, rows - start), seed=k).with_columns(
                pl.col("id") + start, pl.col("created_at").dt.replace_time_zone(None)
            )
            # polars writes one block per chunk: blocks of BLOCK_ROWS rows, as writers do
            blocks = [chunk.slice(i, BLOCK_ROWS) for i in range(0, chunk.height, BLOCK_ROWS)]
            buf = io.BytesIO()
            pl.concat(blocks, rechunk=False).write_avro(buf)
            buf.seek(0)
            header = read_header(buf)
            if not sync:
                sync = header.sync
                out.write(header.raw)
            for group in iter_groups(buf, header, CHUNK):
                for block in split(group):
                    out.write(block.raw[:-SYNC_SIZE] + sync)


#: run a module or a script in a child that writes its own peak RSS (kB) to argv[1] at exit
PEAK = """
import atexit, re, runpy, sys
out = sys.argv.pop(1)
def peak():
    status = open("/proc/self/status").read()
    open(out, "w").write(re.search(r"VmHWM:\\s+(\\d+)", status).group(1))
atexit.register(peak)
target = sys.argv.pop(1)
sys.argv[0] = target
if target.endswith(".py"):
    runpy.run_path(target, run_name="__main__")
else:
    runpy.run_module(target, run_name="__main__", alter_sys=True)
"""


def run_child(target: str, args: list[str], cwd: Path) -> tuple[float, int]:
    """(seconds, peak RSS in MB) of ``python -m target args`` (or a script) in a child."""
    peak_file = cwd / ".peak"
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PEAK, str(peak_file), target, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(
            f"{target} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}"
        )
    return elapsed, int(peak_file.read_text()) // 1024


def write_spec(folder: Path, data: Path) -> Path:
    spec = folder / "publish.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            name: avro_bench
            inputsRoot: {data.parent}
            connections:
              db: {{vendor: sqlite, database: out.db}}
            jobs:
              big:
                inputs: {{t: {data}}}
                recipe: {RECIPE}
                outputs: [parquet]
            targets:
              out: {{job: big, connection: db, table: orders, action: truncateAndLoad,
                     inputFormat: parquet}}
            """
        )
    )
    return spec


REFERENCE = """
import sys
import polars as pl
frame = pl.read_avro(sys.argv[1])
pl.SQLContext(frames={"t": frame.lazy()}, eager=False).execute(sys.argv[2]).sink_parquet(
    sys.argv[3]
)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    add_json_option(parser)
    args = parser.parse_args()
    root = ROOT / "bench" / ".data" / "avro_job"
    data = root / f"orders-{args.rows}.avro"
    if not data.is_file():
        t0 = time.perf_counter()
        generate(data, args.rows)
        print(
            f"generated {data} ({data.stat().st_size / 1e6:.0f} MB) in "
            f"{time.perf_counter() - t0:.1f}s"
        )
    project = root / "project"
    for old in (project / "out.db", project / ".publish"):
        subprocess.run(["rm", "-rf", str(old)], check=True)
    project.mkdir(parents=True, exist_ok=True)
    spec = write_spec(project, data)
    secs, peak = run_child("runner.cli", ["apply", "--auto-approve", str(spec)], project)
    reference = root / "reference.py"
    reference.write_text(REFERENCE)
    ref_secs, ref_peak = run_child(
        str(reference), [str(data), RECIPE, str(root / "ref.parquet")], root
    )
    print(f"rows: {args.rows:,}  recipe: {RECIPE}")
    print(
        f"ours (publish apply: job streamed + SQLite load): {secs:6.1f}s  "
        f"{args.rows / secs / 1e6:.2f}M rows/s  peak RSS {peak} MB"
    )
    print(
        f"reference (whole file in memory, job only):         {ref_secs:6.1f}s  "
        f"{args.rows / ref_secs / 1e6:.2f}M rows/s  peak RSS {ref_peak} MB"
    )
    figures = [
        measurement(
            "avro_job/apply",
            secs,
            rows=args.rows,
            peak_mb=peak,
            reference="polars whole file",
            reference_seconds=ref_secs,
            reference_peak_mb=ref_peak,
        )
    ]
    write_json(args.json, "avro_job", figures)


if __name__ == "__main__":
    main()
