"""The pre-commit hook (.pre-commit-hooks.yaml) installs from this checkout and validates specs.

`pre-commit try-repo` clones a hook repository made from the working tree (the manifest,
pyproject.toml, runner/), builds the hook's own virtualenv (`language: python`) and runs it
on a good and a bad spec. No network: pip runs with PIP_NO_INDEX and finds the
dependencies already installed for the tests (PYTHONPATH), so only publish-runner itself is
built from the hook repository, without build isolation.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.cli.helpers import BASIC, write_spec

ROOT = Path(__file__).resolve().parents[2]
HOOK_FILES = (".pre-commit-hooks.yaml", "pyproject.toml", "README.md", "runner", "schemas")

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="pre-commit needs git on PATH")


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def _hook_repo(dest: Path) -> Path:
    dest.mkdir()
    for name in HOOK_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(
                src.resolve(),
                dest / name,
                ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
            )
        else:
            shutil.copy(src, dest / name)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "hook")
    return dest


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PRE_COMMIT"))}
    env.update(
        PRE_COMMIT_HOME=str(home),
        PIP_NO_INDEX="1",  # offline: nothing is downloaded
        PIP_NO_BUILD_ISOLATION="0",  # pip's spelling of --no-build-isolation
        PYTHONPATH=os.pathsep.join(site.getsitepackages()),
    )
    return env


def test_manifest_declares_publish_validate() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = [h for h in hooks if h["id"] == "publish-validate"]
    assert hook["language"] == "python"
    assert hook["entry"] == "publish-validate"
    import re

    files = re.compile(hook["files"])
    assert files.search("publish.yaml") and files.search("specs/sales.publish.yml")
    assert not files.search(".github/workflows/ci.yml")


@pytest.mark.slow
def test_try_repo_passes_good_spec_and_fails_bad_with_position(tmp_path: Path) -> None:
    hook_repo = _hook_repo(tmp_path / "hook")
    work = tmp_path / "work"
    write_spec(work, BASIC)
    bad = work / "bad" / "publish.yaml"
    bad.parent.mkdir()
    bad.write_text(
        textwrap.dedent(
            """\
            version: 1
            name: shop
            connections:
              warehouse: {vendor: sqlite, database: w.db}
            targets:
              out:
                job: missing_job
                connection: warehouse
                table: t
                action: truncateAndLoad
            """
        )
    )
    _git(work, "init", "-q")
    _git(work, "add", "-A")
    env = _env(tmp_path / "pre-commit-home")

    def try_repo(*files: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pre_commit",
                "try-repo",
                str(hook_repo),
                "publish-validate",
                "--files",
                *files,
            ],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    good = try_repo("publish.yaml")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "publish validate" in good.stdout and "Passed" in good.stdout

    failed = try_repo("publish.yaml", "bad/publish.yaml")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Failed" in failed.stdout
    assert "bad/publish.yaml:7:10: $.targets.out.job:" in failed.stdout, failed.stdout
    assert "missing_job" in failed.stdout
