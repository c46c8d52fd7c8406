"""The outcome of one check (``checks:`` on a job or a target), for plans, state and errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CheckResult:
    owner: str  # the address that declares the check: job.NAME or target.NAME
    name: str  # its key under checks: rows, maxRowChange, notNull, unique, ...
    passed: bool
    message: str
    position: str = ""  # FILE:LINE:COL of the check in the spec
    failing: int = 0  # rows that break it (0 for counts such as rows/maxRowChange)
    samples: tuple[Mapping[str, str | None], ...] = ()  # a few of those rows, as text
    skipped: bool = False  # --skip-check ADDRESS.NAME: evaluated, not enforced

    @property
    def id(self) -> str:
        """``target.orders_out.notNull``: what ``--skip-check`` names."""
        return f"{self.owner}.{self.name}"

    @property
    def blocks(self) -> bool:
        """Whether this result stops the plan or the publication."""
        return not self.passed and not self.skipped

    def describe(self) -> str:
        """One line for errors: ``FILE:LINE:COL: target.x.rows: message``."""
        where = f"{self.position}: " if self.position else ""
        return f"{where}{self.id}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "check": self.id,
            "name": self.name,
            "passed": self.passed,
            "message": self.message,
            "failing": self.failing,
            "samples": [dict(s) for s in self.samples],
        }
        if self.position:
            out["position"] = self.position
        if self.skipped:
            out["skipped"] = True
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CheckResult:
        owner = str(d["check"])[: -len(str(d["name"])) - 1]
        return cls(
            owner=owner,
            name=str(d["name"]),
            passed=bool(d["passed"]),
            message=str(d.get("message", "")),
            position=str(d.get("position", "")),
            failing=int(d.get("failing", 0)),
            samples=tuple(dict(s) for s in d.get("samples", ())),
            skipped=bool(d.get("skipped", False)),
        )
