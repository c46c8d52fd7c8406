"""Checks that gate publishing (issue 12): ``checks:`` on jobs and targets."""

from __future__ import annotations

from runner.checks.evaluate import CheckContext, evaluate_results, evaluate_row_change
from runner.checks.model import CheckResult

__all__ = ["CheckContext", "CheckResult", "evaluate_results", "evaluate_row_change"]
