"""Where the installed JSON Schemas are, and the editor comment that points a spec at one."""

from __future__ import annotations

import os
from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
SCHEMAS = {"spec": "publish-spec.schema.json", "plan": "plan.schema.json"}


def schema_path(kind: str = "spec") -> Path:
    """The installed schema file: ``spec`` (publish-spec) or ``plan``."""
    return SCHEMA_DIR / SCHEMAS[kind]


def schema_reference(spec_dir: Path) -> str:
    """The schema's path as a spec in ``spec_dir`` should name it: relative when possible.

    Relative (``../.venv/lib/.../publish-spec.schema.json``) keeps a committed spec free of
    one machine's absolute paths; a schema on another drive is named absolutely.
    """
    target = schema_path("spec")
    try:
        return Path(os.path.relpath(target, spec_dir.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return target.as_posix()


def modeline(spec_dir: Path) -> str:
    """The yaml-language-server line that gives editors completion and checks for a spec."""
    return f"# yaml-language-server: $schema={schema_reference(spec_dir)}"
