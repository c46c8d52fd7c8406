"""Machine-readable figures of a bench script: ``--json PATH`` (read by bench/run_all.py).

Each script appends one dict per measurement and writes them at the end::

    {"bench": "load", "measurements": [
        {"key": "postgres/upsert", "rows": 100000, "seconds": 1.2,
         "reference": "psql \\\\copy", "reference_seconds": 0.5, "peak_mb": 180}]}

``seconds`` is ours; ``reference_seconds`` the reference measured in the same run (absent
when the figure has none); the ratio is reference_seconds / seconds (higher is better).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")


def measurement(key: str, seconds: float, **extra: Any) -> dict[str, Any]:
    return {"key": key, "seconds": seconds, **{k: v for k, v in extra.items() if v is not None}}


def write_json(path: Path | None, bench: str, measurements: list[dict[str, Any]]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"bench": bench, "measurements": measurements}
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
