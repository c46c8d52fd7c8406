"""Where spark jobs write their results, and the folder of part files as a ResultSet.

Each run writes Parquet to ``<resultsPath>/<spec>/<environment>/<job>/<run id>/``: a
folder of ``part-*.parquet`` files (and Spark's ``_SUCCESS`` marker) that both the
cluster and publish see at that path. Targets read the part files as they read a local
job's Parquet results.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyarrow.parquet as pq

from runner.errors import PlatformError
from runner.results import ResultSchema, ResultSet, sha256_files
from runner.spec.model import Spec

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def results_root(spec: Spec) -> Path:
    """The local folder of ``platform.resultsPath`` (relative to the spec's folder)."""
    raw = spec.platform.resultsPath
    if not raw:
        raise PlatformError(
            "platform.resultsPath: the spark platform needs a results folder that both the "
            "cluster and publish can read"
        )
    if raw.startswith("file://"):
        return Path(unquote(urlparse(raw).path))
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", raw):
        scheme = raw.split("://", 1)[0]
        raise PlatformError(
            f"platform.resultsPath: publish reads results from a folder on this machine; "
            f"{scheme}:// is not read directly: mount the bucket or share (the same path on "
            "the cluster and here) and give that folder"
        )
    path = Path(raw)
    return path if path.is_absolute() else (spec.base_dir / path).resolve()


def run_folder(spec: Spec, job: str, run_id: str) -> Path:
    """The folder one run of a job writes its Parquet part files to."""
    env = _SAFE.sub("_", spec.environment)
    return results_root(spec) / _SAFE.sub("_", spec.name) / env / job / run_id


def part_files(folder: Path) -> tuple[Path, ...]:
    """The Parquet part files Spark wrote to ``folder``, in name order."""
    return tuple(
        sorted(p for p in folder.iterdir() if p.name.startswith("part-") and p.suffix == ".parquet")
    )


def result_set(folder: Path, schema: ResultSchema) -> ResultSet:
    """The results of a finished write: its part files, rows and content hash."""
    if not (folder / "_SUCCESS").is_file():
        raise PlatformError(
            f"results folder {folder} has no _SUCCESS marker: the write did not finish, or "
            "publish does not see the folder the cluster wrote (platform.resultsPath must be "
            "the same folder for both)"
        )
    files = part_files(folder)
    rows = sum(int(pq.read_metadata(f).num_rows) for f in files)
    return ResultSet("parquet", files, schema, rows, sha256_files(files))


def prune_runs(spec: Spec, keep: dict[str, str]) -> None:
    """Delete this spec's run folders other than ``keep`` (job -> run id)."""
    try:
        base = results_root(spec) / _SAFE.sub("_", spec.name) / _SAFE.sub("_", spec.environment)
    except PlatformError:
        return
    if not base.is_dir():
        return
    for job_dir in base.iterdir():
        if not job_dir.is_dir():
            continue
        for run_dir in job_dir.iterdir():
            if run_dir.is_dir() and keep.get(job_dir.name) != run_dir.name:
                shutil.rmtree(run_dir, ignore_errors=True)
