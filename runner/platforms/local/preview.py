"""Previewed results: a job run at plan time into a store keyed by its fingerprint.

``<state folder>/previews/<job>/<fingerprint>/`` holds the results in every output format
of the job (and parquet, which plans read for diffs and checks) and ``preview.json``, the
manifest written last (a folder without one is an unfinished preview and is ignored).
The fingerprint covers the job's definition and the bytes of its inputs, so the same
fingerprint means the same rows; the manifest's content hashes let apply check that the
files it publishes are the ones the plan showed.

Apply moves the previewed files into the run's results folder instead of running the
job again (:meth:`PreviewStore.materialise`).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from runner.errors import StateError
from runner.results import ResultSet, normalise_format, sha256_files
from runner.state.files import make_dirs, read_nofollow, remove_tree

MANIFEST = "preview.json"
#: content hashes of the result files this process wrote and saved as previews, by their
#: (inode, size, mtime_ns) signature: ``publish apply SPEC`` verifies what its plan wrote
#: seconds before without reading the files again (~0.2-0.5 s per 1M rows of Avro)
_written: dict[tuple[str, ...], tuple[tuple[tuple[int, int, int], ...], str]] = {}
_written_lock = threading.Lock()
#: what the plan shows for a job it did not preview on a platform that cannot
TRIFACTA_REASON = (
    "jobs on the trifacta platform are never previewed: a run there has side effects and "
    "costs, so rows are known after the job runs"
)


@dataclass(frozen=True)
class Preview:
    job: str
    fingerprint: str
    folder: Path
    results: Mapping[str, ResultSet]  # by format, parquet always among them

    @property
    def rows(self) -> int:
        return next(iter(self.results.values())).rows

    def sha256(self, formats: Iterable[str]) -> dict[str, str]:
        """Content hash per published format (what the plan records)."""
        wanted = {normalise_format(f) for f in formats}
        return {f: r.sha256 for f, r in sorted(self.results.items()) if f in wanted}


class PreviewStore:
    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "previews"
        self.state_dir = state_dir

    def folder(self, job: str, fingerprint: str) -> Path:
        return self.root / job / fingerprint[:40]

    def load(self, job: str, fingerprint: str, *, verify: Iterable[str] = ()) -> Preview | None:
        """The finished preview of this fingerprint, or None.

        ``verify``: formats whose files are hashed again and must match the manifest (not
        read again when this process saved them and they are unchanged since).
        """
        folder = self.folder(job, fingerprint)
        try:
            manifest = json.loads(read_nofollow(folder / MANIFEST))
        except (OSError, ValueError, StateError):
            return None
        if manifest.get("fingerprint") != fingerprint:
            return None
        try:
            results = {
                fmt: ResultSet.from_json(data, folder) for fmt, data in manifest["results"].items()
            }
        except (KeyError, TypeError, ValueError):
            return None
        checked = {normalise_format(f) for f in verify}
        for fmt, rs in results.items():
            if not all(f.is_file() for f in rs.files):
                return None
            if fmt in checked and _sha256(rs.files) != rs.sha256:
                return None
        return Preview(job, fingerprint, folder, results)

    def staging(self, job: str) -> Path:
        """A fresh folder to write a preview into (moved into place by :meth:`save`)."""
        return make_dirs(self.state_dir, self.root / job / f".new-{uuid.uuid4().hex}")

    def save(
        self, job: str, fingerprint: str, staged: Path, results: Mapping[str, ResultSet]
    ) -> Preview:
        """Move a written preview into place and write its manifest last."""
        folder = self.folder(job, fingerprint)
        remove_tree(self.state_dir, folder)
        os.replace(staged, folder)
        moved = {
            fmt: ResultSet(
                rs.format,
                tuple(folder / f.relative_to(staged) for f in rs.files),
                rs.schema,
                rs.rows,
                rs.sha256,
            )
            for fmt, rs in results.items()
        }
        manifest = {
            "job": job,
            "fingerprint": fingerprint,
            "results": {fmt: rs.to_json(folder) for fmt, rs in moved.items()},
        }
        for rs in moved.values():
            _remember(rs)
        tmp = folder / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, indent=2))
        os.replace(tmp, folder / MANIFEST)
        # other fingerprints of this job are older previews nobody can apply any more
        for other in (self.root / job).iterdir():
            if other != folder and other.is_dir() and not other.name.startswith(".new-"):
                remove_tree(self.state_dir, other)
        return Preview(job, fingerprint, folder, moved)

    def materialise(
        self, preview: Preview, run_dir: Path, formats: Iterable[str]
    ) -> dict[str, ResultSet]:
        """Move the previewed files of ``formats`` into a run's results folder."""
        make_dirs(self.state_dir, run_dir)
        out: dict[str, ResultSet] = {}
        for fmt in dict.fromkeys(normalise_format(f) for f in formats):
            rs = preview.results[fmt]
            files = []
            for f in rs.files:
                dest = run_dir / f.relative_to(preview.folder)
                make_dirs(self.state_dir, dest.parent)
                os.replace(f, dest)
                files.append(dest)
            out[fmt] = ResultSet(rs.format, tuple(files), rs.schema, rs.rows, rs.sha256)
        remove_tree(self.state_dir, preview.folder)
        return out


def _names(files: Iterable[Path]) -> tuple[str, ...]:
    return tuple(map(str, files))


def _signature(files: Iterable[Path]) -> tuple[tuple[int, int, int], ...]:
    stats = [f.stat() for f in files]
    return tuple((s.st_ino, s.st_size, s.st_mtime_ns) for s in stats)


def _remember(results: ResultSet) -> None:
    """Keep the hash of result files just written (see :data:`_written`)."""
    try:
        signature = _signature(results.files)
    except OSError:
        return
    with _written_lock:
        _written[_names(results.files)] = (signature, results.sha256)


def _sha256(files: tuple[Path, ...]) -> str:
    """The content hash of ``files``: remembered when this process wrote them and their
    inode, size and mtime are unchanged since, otherwise read."""
    with _written_lock:
        known = _written.get(_names(files))
    if known is not None:
        try:
            if _signature(files) == known[0]:
                return known[1]
        except OSError:
            pass
    return sha256_files(files)
