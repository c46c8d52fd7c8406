"""Where a local job may read its inputs: inside the spec's folder, or ``inputsRoot``.

A spec arrives in a pull request and CI plans it, so ``inputs: {x: /etc/passwd}``,
``../../secrets.csv`` or a committed symlink out of the repository must not be read (a
plan prints each input's header). An input path is resolved (links followed) and must
land inside the spec's folder, or inside the folder ``inputsRoot`` names when the spec
opts in to one. It must be a regular file: a FIFO would block the run forever, a device
or a ``/proc`` file is not data; each is refused saying what it is.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from runner.spec.load import file_kind

#: file extensions a local job can read (the format is chosen by the extension)
INPUT_EXTENSIONS = (".csv", ".json", ".jsonl", ".ndjson", ".parquet", ".pqt", ".avro")

#: kernel interfaces that look like files but are not data
_KERNEL_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))


class InputRefused(ValueError):
    """An input path that may not be read; the message says why and what to do."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


def input_roots(base_dir: Path, inputs_root: str | None) -> tuple[Path, ...]:
    """The folders inputs may come from: the spec's, and ``inputsRoot`` when given."""
    base = base_dir.resolve()
    if not inputs_root:
        return (base,)
    extra = Path(os.path.expanduser(inputs_root))
    return (base, (extra if extra.is_absolute() else base / extra).resolve())


def check_input(base_dir: Path, roots: Sequence[Path], file: str) -> Path:
    """The path of input ``file`` (relative to ``base_dir``); InputRefused when not allowed."""
    given = Path(file)
    path = given if given.is_absolute() else base_dir / given
    resolved = path.resolve()
    if not any(resolved.is_relative_to(root) for root in roots):
        via = "through a symbolic link " if _through_link(path, base_dir) else ""
        where = "the spec's folder" + (" or inputsRoot" if len(roots) > 1 else "")
        raise InputRefused(
            f"input file '{file}' leads {via}outside {where}; inputs stay inside the spec's "
            "folder unless the spec names another folder with inputsRoot (see "
            "docs/security.md)"
        )
    kernel = next((k for k in _KERNEL_ROOTS if resolved.is_relative_to(k)), None)
    if kernel is not None:
        raise InputRefused(
            f"input file '{file}' is in {kernel} (a kernel interface), not a data file"
        )
    try:
        info = os.stat(resolved)
    except FileNotFoundError:
        raise InputRefused(
            f"input file '{file}' does not exist (paths are relative to the spec's folder)",
            missing=True,
        ) from None
    except OSError as exc:
        raise InputRefused(f"input file '{file}' cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputRefused(
            f"input file '{file}' is {file_kind(info.st_mode)}, not a regular file; "
            "inputs must be regular files"
        )
    return resolved


def extension_problem(file: str) -> str | None:
    """Why the local platform cannot read ``file`` by its extension (None when it can)."""
    if file.lower().endswith(INPUT_EXTENSIONS):
        return None
    suffix = Path(file).suffix
    what = f"has the extension {suffix}" if suffix else "has no extension"
    hint = "; export it as CSV" if suffix.lower() in (".xlsx", ".xls", ".ods") else ""
    return (
        f"input file '{file}' {what}, which a local job does not read: the format is chosen "
        f"by the extension, one of {', '.join(INPUT_EXTENSIONS)}{hint}"
    )


def _through_link(path: Path, base_dir: Path) -> bool:
    """Whether the path as written stays inside ``base_dir`` (so a link took it out)."""
    normal = Path(os.path.normpath(path if path.is_absolute() else Path.cwd() / path))
    base = Path(os.path.normpath(base_dir.absolute()))
    return normal.is_relative_to(base)
