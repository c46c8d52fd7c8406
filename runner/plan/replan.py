"""A saved plan whose inputs changed, and the command that makes a new plan like it.

At plan, the content hash of every input file of each local job the plan runs is recorded
in the plan's options (``inputs``: ``{"job.NAME": {"table": sha256}}``; hashes are cached
per process, so this costs no second read). A saved plan is refused before anything runs
when one of them changed, naming the input, with the command that makes a new plan with
the same options: the spec, ``--env``, ``--var``, ``--var-file``, ``--select``,
``--exclude``, ``--replace``, ``--allow-destructive``, the preview flags and ``--out``,
each shell-quoted. A ``--var`` whose name or value looks secret is shown without its value.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from runner.errors import StalePlanError
from runner.plan.model import Change, Plan
from runner.platforms.local.inputs import file_sha256
from runner.spec.inputs import InputRefused, check_input, input_roots
from runner.spec.model import Job, Spec
from runner.spec.secrets import redact

#: a variable name that says its value is a secret
_SECRET_NAME = re.compile(r"pass|secret|token|key|credential|auth|private|cert", re.IGNORECASE)
#: a value that looks like a credential: long, without spaces, letters and digits mixed
_SECRET_VALUE = re.compile(r"^(?=.*[0-9])(?=.*[A-Za-z])[^\s]{20,}$")
ELIDED = "<elided: a secret; give it again>"


def input_hashes(spec: Spec, changes: Iterable[Change]) -> dict[str, dict[str, str]]:
    """``{"job.NAME": {table: sha256}}`` of the local jobs the plan runs."""
    if spec.platform.type == "trifacta":
        return {}
    out: dict[str, dict[str, str]] = {}
    for change in changes:
        job = spec.jobs.get(change.name) if change.action == "run" else None
        if job is not None and job.inputs:
            hashes = {t: h for t, h in _hashes(spec, job) if h is not None}
            if hashes:
                out[change.address] = hashes
    return out


def _hashes(spec: Spec, job: Job) -> Iterable[tuple[str, str | None]]:
    roots = input_roots(spec.base_dir, spec.inputs_root)
    for table, file in sorted(job.inputs.items()):
        try:
            yield table, file_sha256(check_input(spec.base_dir, roots, file))
        except (InputRefused, OSError):
            yield table, None  # gone or refused: the job's own check says so


def check_inputs_unchanged(plan: Plan, spec: Spec, planfile: str) -> None:
    """Refuse the saved plan, before anything runs, when an input it read changed."""
    recorded: Mapping[str, Mapping[str, str]] = plan.options.get("inputs") or {}
    for address, hashes in sorted(recorded.items()):
        job = spec.jobs.get(address.partition(".")[2])
        if job is None:
            continue
        now = dict(_hashes(spec, job))
        for table, sha in sorted(hashes.items()):
            if now.get(table) != sha:
                gone = " (it is gone)" if now.get(table) is None else ""
                raise StalePlanError(
                    f"saved plan {planfile} is stale: input {table} ({job.inputs.get(table)}) "
                    f"of {address} changed since the plan was made{gone}. Make a new plan "
                    f"with the same options: {replan_command(plan, planfile)}"
                )


def _var(name: str, value: Any) -> str:
    text = str(value)
    if _SECRET_NAME.search(name) or redact(text) != text or _SECRET_VALUE.match(text):
        return f"{name}={ELIDED}"
    return f"{name}={text}"


def replan_command(plan: Plan, planfile: str) -> str:
    """``publish plan SPEC [the plan's options] --out PLANFILE``, shell-quoted."""
    opts = plan.options
    words = ["publish", "plan", plan.spec_path]
    if opts.get("environment"):
        words += ["--env", str(opts["environment"])]
    for name, value in sorted((opts.get("vars") or {}).items()):
        words += ["--var", _var(str(name), value)]
    for flag, key in (
        ("--var-file", "var_files"),
        ("--select", "select"),
        ("--exclude", "exclude"),
        ("--replace", "replace"),
        ("--skip-check", "skip_checks"),
    ):
        for value in opts.get(key) or ():
            words += [flag, str(value)]
    if opts.get("allow_destructive"):
        words.append("--allow-destructive")
    if opts.get("refresh") is False:
        words.append("--no-refresh")
    if opts.get("preview") is False:
        words.append("--no-preview")
    if opts.get("diff_samples") not in (None, 5):
        words += ["--diff-samples", str(opts["diff_samples"])]
    if opts.get("diff_rows_limit") not in (None, 2_000_000):
        words += ["--diff-rows-limit", str(opts["diff_rows_limit"])]
    words += ["--out", planfile]
    return redact(" ".join(shlex.quote(w) for w in words))
