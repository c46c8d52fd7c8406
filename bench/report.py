"""What bench/run_all.py makes of the bench scripts' figures: medians, ratios, the goal
table of issue 16, the --quick regression check and the chart. No measuring here.

A figure is one ``measurement`` dict of bench/_emit.py; the same key measured N times
(``--repeat``) is summarised as its median and spread (min-max).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: ratio drop beyond which --quick fails (ratio < baseline * (1 - TOLERANCE))
TOLERANCE = 0.30


@dataclass(frozen=True)
class Summary:
    key: str
    rows: int | None
    seconds: list[float]
    reference: str | None
    reference_seconds: list[float]
    peak_mb: list[float]

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def ratios(self) -> list[float]:
        """reference / ours of each run (higher is better), paired run by run."""
        return [r / s for s, r in zip(self.seconds, self.reference_seconds, strict=False) if s]

    @property
    def ratio(self) -> float | None:
        return statistics.median(self.ratios) if self.ratios else None

    @property
    def median_ref_s(self) -> float | None:
        return statistics.median(self.reference_seconds) if self.reference_seconds else None

    @property
    def median_peak_mb(self) -> float | None:
        return statistics.median(self.peak_mb) if self.peak_mb else None


def summarise(runs: Iterable[Mapping[str, Any]]) -> dict[str, Summary]:
    """Group the measurements of every run by key, in first-seen order."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for m in runs:
        grouped.setdefault(str(m["key"]), []).append(m)
    out = {}
    for key, ms in grouped.items():
        out[key] = Summary(
            key=key,
            rows=ms[0].get("rows"),
            seconds=[float(m["seconds"]) for m in ms],
            reference=ms[0].get("reference"),
            reference_seconds=[
                float(m["reference_seconds"]) for m in ms if "reference_seconds" in m
            ],
            peak_mb=[float(m["peak_mb"]) for m in ms if "peak_mb" in m],
        )
    return out


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    """'median (min-max)' or just the value when measured once."""
    if not values:
        return "-"
    mid = fmt.format(statistics.median(values))
    if len(values) == 1:
        return mid
    return f"{mid} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def regressions(summaries: Mapping[str, Summary], baseline: Mapping[str, float]) -> list[str]:
    """One line per baseline ratio that fell by more than TOLERANCE (or was not measured)."""
    lines = []
    for key, base in sorted(baseline.items()):
        s = summaries.get(key)
        if s is None or s.ratio is None:
            lines.append(f"{key}: not measured (baseline ratio {base:.2f})")
        elif s.ratio < base * (1 - TOLERANCE):
            drop = 1 - s.ratio / base
            lines.append(f"{key}: ratio {s.ratio:.2f} vs baseline {base:.2f} ({drop:.0%} lower)")
    return lines


def baseline_of(summaries: Mapping[str, Summary]) -> dict[str, float]:
    return {k: round(s.ratio, 3) for k, s in summaries.items() if s.ratio is not None}


@dataclass(frozen=True)
class Goal:
    what: str
    key: str
    kind: str  # "ratio" (>= goal), "seconds" (< goal), "peak_mb" (<= goal)
    goal: float
    before: str  # the "now" column


GOALS = (
    Goal("PostgreSQL create", "postgres/create", "ratio", 1.1, "1.03x"),
    Goal(
        "PostgreSQL truncateAndLoad",
        "postgres/truncateAndLoad",
        "ratio",
        0.95,
        "0.6-0.81x",
    ),
    Goal("PostgreSQL upsert (half new)", "postgres/upsert", "ratio", 0.7, "0.32x"),
    Goal("MariaDB truncateAndLoad", "mysql/truncateAndLoad", "ratio", 0.95, "0.89x"),
    Goal("MariaDB upsert", "mysql/upsert", "ratio", 0.7, "0.47x"),
    Goal("SQLite apply end to end (job + publish)", "sqlite/apply", "ratio", 0.8, "0.48x"),
    Goal(
        "peak RSS of a publish (PG truncateAndLoad)",
        "postgres/truncateAndLoad",
        "peak_mb",
        150,
        "~300 MB",
    ),
    Goal("peak RSS of a publish, --memory-rows", "memory/postgres", "peak_mb", 150, "~300 MB"),
    Goal("local job over an Avro input, peak RSS", "avro_job/apply", "peak_mb", 600, "whole file"),
    Goal("`publish --help`", "cli/help", "seconds", 0.25, "not measured"),
    Goal(
        "`publish validate` of the quickstart",
        "cli/validate-quickstart",
        "seconds",
        0.4,
        "not measured",
    ),
    Goal("`publish validate` of 2,000 targets", "cli/validate-2000", "seconds", 0.8, "1.06-1.22 s"),
)


def goal_row(goal: Goal, s: Summary | None) -> str:
    if s is None:
        return f"| {goal.what} | not measured | - | {goal.before} | {_goal_text(goal)} | - |"
    rows = f" ({s.rows:,} rows)" if s.rows else ""
    if goal.kind == "ratio":
        today = spread(s.ratios) + "x" if s.ratios else "-"
        value = s.ratio
        ref = f"{s.reference}: {spread(s.reference_seconds)} s; ours {spread(s.seconds)} s"
    elif goal.kind == "peak_mb":
        today = spread(s.peak_mb, "{:.0f}") + " MB" if s.peak_mb else "-"
        value = s.median_peak_mb
        ref = f"in {spread(s.seconds)} s"
    else:
        today = spread(s.seconds, "{:.3f}") + " s"
        value = s.median_s
        ref = "-"
    return (
        f"| {goal.what}{rows} | {today} | {ref} | {goal.before} | {_goal_text(goal)} "
        f"| {_met(goal, value)} |"
    )


def _goal_text(goal: Goal) -> str:
    return {"ratio": f">= {goal.goal}x", "peak_mb": f"<= {goal.goal:.0f} MB"}.get(
        goal.kind, f"< {goal.goal} s"
    )


def _met(goal: Goal, value: float | None) -> str:
    if value is None:
        return "-"
    ok = {"ratio": value >= goal.goal, "peak_mb": value <= goal.goal}.get(
        goal.kind, value < goal.goal
    )
    return "yes" if ok else "no"


def render(
    summaries: Mapping[str, Summary],
    machine: Mapping[str, str],
    *,
    repeat: int,
    comparable: bool,
    chart: str | None,
) -> str:
    lines = ["# Benchmark results (issue 16)", ""]
    if not comparable:
        lines += [
            "**FIGURES NOT COMPARABLE: the load average was above 1 during the run.**",
            "",
        ]
    lines += [
        f"Each figure: median of {repeat} run(s), (min-max) when more than one; a ratio is "
        "reference time / our time from the same run (higher is better).",
        "",
        "| what | today | reference (same run) | issue 16 before | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    lines += [goal_row(g, summaries.get(g.key)) for g in GOALS]
    lines += [
        "",
        "## Every figure",
        "",
        "| key | rows | ours s | reference | ref s | ratio | peak MB |",
    ]
    lines.append("|---|---|---|---|---|---|---|")
    for s in summaries.values():
        lines.append(
            f"| {s.key} | {s.rows or '-'} | {spread(s.seconds, '{:.3f}')} | {s.reference or '-'} "
            f"| {spread(s.reference_seconds, '{:.3f}')} | {spread(s.ratios)} "
            f"| {spread(s.peak_mb, '{:.0f}')} |"
        )
    lines += ["", "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in machine.items()]
    if chart:
        lines += [
            "",
            f"Chart of rows/s per action and database: `{chart}` beside this file "
            "(drawn by run_all.py, not committed).",
        ]
    return "\n".join(lines) + "\n"


def chart(summaries: Mapping[str, Summary], path: Path) -> bool:
    """Bar chart of rows/s, ours beside the reference, per action and database.

    False when matplotlib is missing (pip install -e '.[bench]')."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rated = [s for s in summaries.values() if s.rows and s.median_ref_s and "/" in s.key]
    rated = [s for s in rated if s.key.split("/")[0] in ("postgres", "mysql", "sqlite")]
    if not rated:
        return False
    fig, ax = plt.subplots(figsize=(max(6, len(rated) * 0.9), 4.5))
    xs = range(len(rated))
    ours = [s.rows / s.median_s for s in rated]  # type: ignore[operator]
    refs = [s.rows / s.median_ref_s for s in rated]  # type: ignore[operator]
    ax.bar([x - 0.2 for x in xs], ours, 0.4, label="publish")
    ax.bar([x + 0.2 for x in xs], refs, 0.4, label="reference (psql \\copy / LOAD DATA / sqlite)")
    ax.set_xticks(list(xs), [s.key for s in rated], rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("rows/s (median)")
    ax.set_title(f"rows/s per action and database ({rated[0].rows:,} rows)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
