"""State write speed: one journal write per finished step, on a state with many records.

An apply writes the local state after every step. This writes a state of N jobs and N
publications (one record changed each time, as the journal does) and prints the time
per write against two references measured in the same run:

- floor: the same bytes written to one file with write + fsync, nothing else;
- plain: the same atomic protocol, but rendering the whole state with json.dumps each time.

    .venv/bin/python bench/state_write.py              # 2,000 jobs + 2,000 publications
    .venv/bin/python bench/state_write.py --records 500
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _emit import add_json_option, measurement, write_json

from runner.state.common import dumps_state
from runner.state.local import LocalStateBackend
from runner.state.model import JobRunRecord, PublicationRecord, State


def big_state(records: int) -> State:
    state = State("bench", 0, "bench", "default")
    for i in range(records):
        state = state.with_job(
            JobRunRecord(
                f"job{i}",
                f"run{i}",
                "f" * 64,
                "2026-01-01T00:00:00+00:00",
                rows=1000,
                schema=[["id", "integer"], ["name", "string"], ["amount", "float"]],
                results={"avro": {"path": f"results/job{i}/run{i}/part-0.avro", "rows": 1000}},
            )
        )
        state = state.with_publication(
            PublicationRecord(
                f"t{i}",
                f"run{i}",
                f"wh.main.t{i}",
                "truncateAndLoad",
                1000,
                1000,
                [["id", "bigint"], ["name", "text"], ["amount", "double precision"]],
                "2026-01-01T00:00:00+00:00",
            )
        )
    return state


def step(state: State, n: int) -> State:
    return state.with_job(JobRunRecord(f"job{n}", f"new{n}", "e" * 64, "2026-01-02T00:00:00+00:00"))


def per_write(fn: object, writes: int) -> float:
    assert callable(fn)
    start = time.perf_counter()
    for n in range(writes):
        fn(n)
    return (time.perf_counter() - start) / writes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--writes", type=int, default=20)
    add_json_option(parser)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        backend = LocalStateBackend(folder / "fast", "bench", "default")
        state = backend.write(big_state(args.records))
        size = backend.path.stat().st_size
        text = backend.path.read_bytes()

        def fast(n: int) -> None:
            nonlocal state
            state = backend.write(step(state, n))

        plain_backend = LocalStateBackend(folder / "plain", "bench", "default")
        plain_state = plain_backend.write(big_state(args.records))

        def plain(n: int) -> None:  # same protocol, whole state rendered each time
            nonlocal plain_state
            plain_state = step(plain_state, n).replace(serial=plain_state.serial + 1)
            plain_backend._atomic_write(plain_backend.path, dumps_state(plain_state).encode())

        def floor(n: int) -> None:
            fd = os.open(folder / "floor.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, text)
                os.fsync(fd)
            finally:
                os.close(fd)

        t_floor = per_write(floor, args.writes)
        t_plain = per_write(plain, args.writes)
        t_fast = per_write(fast, args.writes)

    print(f"state: {args.records} jobs + {args.records} publications, {size / 1e6:.2f} MB")
    print(f"floor (one write + fsync):        {t_floor * 1000:8.1f} ms")
    print(f"plain (json.dumps every write):   {t_plain * 1000:8.1f} ms")
    print(f"publish state write:              {t_fast * 1000:8.1f} ms")
    print(f"ratio publish/floor: {t_fast / t_floor:.1f}x   plain/publish: {t_plain / t_fast:.1f}x")
    figures = [
        measurement("state/write", t_fast, reference="write + fsync", reference_seconds=t_floor)
    ]
    write_json(args.json, "state_write", figures)


if __name__ == "__main__":
    main()
