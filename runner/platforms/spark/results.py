"""Where spark jobs write their results, and the folder of part files as a ResultSet.

Each run writes Parquet to ``<resultsPath>/<spec>/<environment>/<job>/<run id>/``: a
folder of ``part-*.parquet`` files and Spark's ``_SUCCESS`` marker. Targets read the part
files as they read a local job's Parquet results.

``resultsPath`` is either a folder (relative to the spec's folder, absolute, or
``file://``) that the cluster and publish both see at that path, or an object-store or
HDFS URI (``s3a://bucket/prefix``, ``gs://...``, ``abfss://...``, ``hdfs://...``): the
cluster writes there and publish copies the finished run's part files into its state
folder (through pyarrow's file systems and their usual credentials) before publishing.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow.parquet as pq

from runner.errors import PlatformError
from runner.results import ResultSchema, ResultSet, sha256_files
from runner.spec.model import Spec

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
#: Spark's (Hadoop's) scheme -> pyarrow's, for the stores publish can copy results from
REMOTE_SCHEMES = {
    "s3a": "s3",
    "s3n": "s3",
    "s3": "s3",
    "gs": "gs",
    "gcs": "gs",
    "abfs": "abfs",
    "abfss": "abfss",
    "hdfs": "hdfs",
}
#: opens a pyarrow file system for a URI: (filesystem, path inside it)
FileSystemOpener = Callable[[str], tuple[Any, str]]


def _open_filesystem(uri: str) -> tuple[Any, str]:
    from pyarrow import fs

    return fs.FileSystem.from_uri(uri)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class RunLocation:
    """Where one run's part files are written (by the cluster) and read (by publish)."""

    cluster: str  # the URI the cluster writes to
    local: Path  # the folder publish reads the part files from
    remote: str | None = None  # the pyarrow URI to copy them from, when not shared


def _sub(spec: Spec, job: str, run_id: str) -> str:
    return f"{_SAFE.sub('_', spec.name)}/{_SAFE.sub('_', spec.environment)}/{job}/{run_id}"


def results_root(spec: Spec) -> str | Path:
    """``platform.resultsPath``: a local folder, or a remote URI (scheme kept as written)."""
    raw = spec.platform.results_path
    if not raw:
        raise PlatformError(
            "platform.resultsPath: the spark platform needs a results folder that both the "
            "cluster and publish can read"
        )
    if raw.startswith("file://"):
        return Path(unquote(urlparse(raw).path))
    scheme = _SCHEME.match(raw)
    if scheme:
        if scheme[1].lower() not in REMOTE_SCHEMES:
            raise PlatformError(
                f"platform.resultsPath: publish cannot read results from {scheme[1]}://; use "
                f"{', '.join(f'{s}://' for s in sorted(REMOTE_SCHEMES))}, or a folder the "
                "cluster and publish both see (a local server, or a shared mount)"
            )
        return raw.rstrip("/")
    path = Path(raw)
    return path if path.is_absolute() else (spec.base_dir / path).resolve()


def run_location(spec: Spec, state_dir: Path, job: str, run_id: str) -> RunLocation:
    """Where one run of a job writes its Parquet part files, and where publish reads them."""
    root = results_root(spec)
    sub = _sub(spec, job, run_id)
    if isinstance(root, Path):
        folder = root / sub
        return RunLocation(folder.as_uri(), folder)
    scheme, rest = root.split("://", 1)
    remote = f"{REMOTE_SCHEMES[scheme.lower()]}://{rest}/{sub}"
    return RunLocation(f"{root}/{sub}", state_dir / "results" / job / run_id, remote)


def fetch(location: RunLocation, opener: FileSystemOpener = _open_filesystem) -> None:
    """Copy a finished remote run's part files and marker into ``location.local``."""
    if location.remote is None:
        return
    from pyarrow import fs

    shutil.rmtree(location.local, ignore_errors=True)
    try:
        filesystem, base = opener(location.remote)
        infos = filesystem.get_file_info(fs.FileSelector(base, allow_not_found=True))
        names = {Path(i.path).name: i.path for i in infos if i.type == fs.FileType.File}
        if "_SUCCESS" not in names:
            raise PlatformError(
                f"results at {location.cluster} have no _SUCCESS marker: the write did not "
                "finish, or publish reads another place than the cluster wrote"
            )
        location.local.mkdir(parents=True)
        for name, path in sorted(names.items()):
            if name == "_SUCCESS" or (name.startswith("part-") and name.endswith(".parquet")):
                with (
                    filesystem.open_input_stream(path) as src,
                    (location.local / name).open("wb") as dst,
                ):
                    shutil.copyfileobj(src, dst, 1 << 20)
    except (OSError, ValueError) as exc:  # pyarrow raises OSError subclasses for I/O
        shutil.rmtree(location.local, ignore_errors=True)
        raise PlatformError(
            f"cannot copy the results from {location.cluster}: {exc}; check this machine's "
            "credentials for the store (the same variables pyarrow and the cloud's CLI read)"
        ) from None


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


def _prune_folder(base: Path, keep: dict[str, str]) -> None:
    if not base.is_dir():
        return
    for job_dir in base.iterdir():
        if job_dir.is_symlink() or not job_dir.is_dir():
            continue  # never followed: a link could lead out of the results folder
        for run_dir in job_dir.iterdir():
            if keep.get(job_dir.name) == run_dir.name:
                continue
            if run_dir.is_symlink():
                run_dir.unlink()  # the link, not what it points to
            elif run_dir.is_dir():
                shutil.rmtree(run_dir, ignore_errors=True)


def prune_runs(
    spec: Spec,
    state_dir: Path,
    keep: dict[str, str],
    opener: FileSystemOpener = _open_filesystem,
) -> None:
    """Delete this spec's run folders other than ``keep`` (job -> run id): the shared
    folder's, or the local copies and the remote folders."""
    try:
        root = results_root(spec)
    except PlatformError:
        return
    prefix = f"{_SAFE.sub('_', spec.name)}/{_SAFE.sub('_', spec.environment)}"
    if isinstance(root, Path):
        _prune_folder(root / prefix, keep)
        return
    _prune_folder(state_dir / "results", keep)
    from pyarrow import fs

    scheme, rest = root.split("://", 1)
    try:
        filesystem, base = opener(f"{REMOTE_SCHEMES[scheme.lower()]}://{rest}/{prefix}")
        for job_info in filesystem.get_file_info(fs.FileSelector(base, allow_not_found=True)):
            if job_info.type != fs.FileType.Directory:
                continue
            job = Path(job_info.path).name
            for run_info in filesystem.get_file_info(fs.FileSelector(job_info.path)):
                if (
                    run_info.type == fs.FileType.Directory
                    and keep.get(job) != Path(run_info.path).name
                ):
                    filesystem.delete_dir(run_info.path)
    except (OSError, ValueError):
        return  # old results stay; the next complete apply tries again
