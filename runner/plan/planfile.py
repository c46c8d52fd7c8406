"""Plan files: a saved plan is its canonical JSON, written atomically, read back checked.

A plan file is refused when it is not JSON, not a publish plan, of another
``format_version``, incomplete, or edited after it was made (its ``plan_id`` is a hash of
the rest). A file that does not start with ``{`` is not a plan (it may be a spec), nor is
a JSON object with a spec's ``version`` and no plan keys (a spec written in JSON, which is YAML).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from runner.errors import PlanFileError, StalePlanError
from runner.plan.model import FORMAT_VERSION, Plan


def read_plan_file(path: Path) -> Plan | None:
    """The plan in ``path``, or None when the file is not a plan (a spec)."""
    try:
        head = path.read_bytes()[:4096].lstrip()
    except OSError:
        return None
    if not head.startswith(b"{"):
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        if path.suffix.lower() in (".yaml", ".yml"):
            return None  # a spec in YAML's flow style
        raise PlanFileError(f"{path}: not a readable plan file: {exc}") from exc
    if (
        isinstance(data, dict)
        and "version" in data
        and not {"plan_id", "format_version"} & set(data)
    ):
        return None
    if not isinstance(data, dict) or "plan_id" not in data or "format_version" not in data:
        raise PlanFileError(f"{path}: a JSON file that is not a publish plan")
    if data["format_version"] != FORMAT_VERSION:
        raise PlanFileError(
            f"{path}: plan format_version {data['format_version']!r} is not supported"
        )
    try:
        plan = Plan.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PlanFileError(
            f"{path}: not a complete publish plan (missing or malformed {exc})"
        ) from exc
    if plan.plan_id != data["plan_id"]:
        raise StalePlanError(f"{path}: the plan file was edited after it was made; plan again")
    return plan


def write_plan_file(plan: Plan, out: str) -> None:
    """Write the plan atomically, readable by its owner only."""
    path = Path(out)
    if not path.parent.is_dir():  # a typo in the folder must not make folders silently
        what = "is not a folder" if path.parent.exists() else "does not exist"
        raise PlanFileError(
            f"--out {out}: cannot write the plan there: the folder {path.parent} {what}; "
            "create it first, or write the plan elsewhere"
        )
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise PlanFileError(
            f"--out {out}: cannot write the plan there: {exc.strerror or exc}"
        ) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(plan.dumps())
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
