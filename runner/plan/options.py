"""How a plan is asked for (flags), and the ids a plan derives: run ids and table references."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.spec.model import Spec, Target
from runner.state.model import State
from runner.targets.base import TableRef


@dataclass(frozen=True)
class PlanOptions:
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    allow_destructive: bool = False
    refresh: bool = True
    #: test every connection in scope (trifacta: status / dryRun endpoints)
    check_connections: bool = False
    #: validate every job this plan runs without running it (trifacta: testMode runs)
    check_jobs: bool = False
    #: how the spec was loaded (environment, vars, var files): recorded for apply
    load: Mapping[str, Any] = field(default_factory=dict)
    #: the spec path as the user gave it
    spec_path: str = ""
    #: run local jobs at plan to show exact rows, row diffs and checks (--no-preview)
    preview: bool = True
    #: sample rows per diff class (--diff-samples) and the largest table diffed row by row
    diff_samples: int = 5
    diff_rows_limit: int = 2_000_000
    #: failing checks that do not block (--skip-check ADDRESS.NAME)
    skip_checks: tuple[str, ...] = ()


def table_ref(target: Target) -> TableRef:
    return TableRef.of(target)


def run_id_for(spec: Spec, state: State | None, job: str, fingerprint: str) -> str:
    """A run id derived from the spec, environment and state version.

    Deterministic for the same inputs (plans are byte-identical), and new after any state
    write. Two specs or environments never share one, so a target database's ledger
    (keyed on run id, target and table) cannot mistake one for the other.
    """
    version = f"{state.lineage}:{state.serial}" if state else "-:0"
    seed = f"{spec.name}:{spec.environment}:{version}:{job}:{fingerprint}"
    return "r" + hashlib.sha256(seed.encode()).hexdigest()[:15]
