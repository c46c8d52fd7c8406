"""bench/run_all.py's arithmetic and report on fabricated figures (nothing is measured),
and every bench script still imports (mypy does not cover bench/)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import report  # noqa: E402
import run_all  # noqa: E402

SCRIPTS = sorted(
    p.name for p in BENCH.glob("*.py") if not p.name.startswith("_") and p.name != "report.py"
)


def m(key: str, seconds: float, ref: float | None = None, **extra: object) -> dict[str, object]:
    out: dict[str, object] = {"key": key, "seconds": seconds, "rows": 100_000, **extra}
    if ref is not None:
        out["reference"] = "psql \\copy"
        out["reference_seconds"] = ref
    return out


FIGURES = [
    # three runs of each: ratios 0.5, 0.6, 0.4 (median 0.5) and 1.0, 1.2, 0.8 (median 1.0)
    m("postgres/upsert", 2.0, 1.0, peak_mb=180),
    m("postgres/upsert", 2.0, 1.2, peak_mb=200),
    m("postgres/upsert", 2.0, 0.8, peak_mb=190),
    m("postgres/truncateAndLoad", 1.0, 1.0, peak_mb=120),
    m("postgres/truncateAndLoad", 1.0, 1.2, peak_mb=140),
    m("postgres/truncateAndLoad", 1.0, 0.8, peak_mb=130),
    {"key": "cli/help", "seconds": 0.3},
    {"key": "cli/help", "seconds": 0.2},
    {"key": "cli/help", "seconds": 0.22},
]


def test_median_ratio_and_spread_of_repeated_runs() -> None:
    s = report.summarise(FIGURES)
    assert s["postgres/upsert"].ratio == pytest.approx(0.5)
    assert s["postgres/truncateAndLoad"].ratio == pytest.approx(1.0)
    assert s["postgres/upsert"].median_peak_mb == 190
    assert s["cli/help"].ratio is None
    assert s["cli/help"].median_s == pytest.approx(0.22)
    assert report.spread([0.4, 0.5, 0.6]) == "0.50 (0.40-0.60)"
    assert report.spread([0.5]) == "0.50"


def test_regression_is_a_ratio_drop_beyond_30_percent() -> None:
    s = report.summarise(FIGURES)
    # upsert 0.5 vs 0.72: 31 % lower -> regressed; 0.5 vs 0.71 (29.6 %) is within tolerance
    assert report.regressions(s, {"postgres/upsert": 0.71}) == []
    [line] = report.regressions(s, {"postgres/upsert": 0.72, "postgres/truncateAndLoad": 1.0})
    assert line.startswith("postgres/upsert: ratio 0.50 vs baseline 0.72")
    [missing] = report.regressions(s, {"mysql/upsert": 0.5})
    assert "mysql/upsert: not measured" in missing
    assert report.baseline_of(s) == {"postgres/upsert": 0.5, "postgres/truncateAndLoad": 1.0}


def test_goal_table_shows_today_reference_and_verdict() -> None:
    text = report.render(
        report.summarise(FIGURES), {"cores": "2"}, repeat=3, comparable=False, chart=None
    )
    assert "FIGURES NOT COMPARABLE" in text
    upsert = next(line for line in text.splitlines() if line.startswith("| PostgreSQL upsert"))
    assert "0.50 (0.40-0.60)x" in upsert
    assert "psql \\copy: 1.00 (0.80-1.20) s" in upsert
    assert upsert.endswith("| >= 0.7x | no |")
    trunc = next(line for line in text.splitlines() if "PostgreSQL truncateAndLoad" in line)
    assert trunc.endswith("| >= 0.95x | yes |")
    helps = next(line for line in text.splitlines() if "`publish --help`" in line)
    assert "0.220 (0.200-0.300) s" in helps and helps.endswith("| < 0.25 s | yes |")
    assert "| MariaDB upsert | not measured |" in text
    assert "- cores: 2" in text


def test_quick_run_fails_on_regression_and_writes_report_outside_the_repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_all, "DATA", tmp_path)
    monkeypatch.setattr(run_all, "machine", lambda a, b: {"cores": "2"})
    figures = tmp_path / "figures.json"
    figures.write_text(json.dumps(FIGURES))
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"postgres/upsert": 0.5, "postgres/truncateAndLoad": 1.0}))
    argv = ["--quick", "--from-json", str(figures), "--baseline", str(baseline)]
    assert run_all.main(argv) == 0
    assert "| PostgreSQL upsert" in (tmp_path / "results-quick.md").read_text()
    baseline.write_text(json.dumps({"postgres/upsert": 0.9}))
    assert run_all.main(argv) == 1


def test_full_run_refuses_a_busy_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_all, "load_average", lambda: 3.5)
    monkeypatch.setattr(run_all, "measure", lambda args: pytest.fail("measured while busy"))
    assert run_all.main([]) == 2


@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_script_imports_and_offers_json(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "--json" in done.stdout
