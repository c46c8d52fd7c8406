"""`publish validate` checks recipes in a forked helper that imported polars (issue 16).

The helper changes nothing but the time: each case runs the CLI in a fresh interpreter with
the helper and without it (or with a helper that dies, answers nonsense, or meets a bug)
and compares the exit code, stdout and stderr whole.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runner.spec.recipe_helper import answers, mentions_recipe
from runner.spec.recipes import RecipeProblem
from tests.cli.helpers import BASIC, write_spec

ROOT = Path(__file__).resolve().parents[2]

_PROBE = textwrap.dedent(
    """\
    import json, os, sys, threading
    import runner.spec.recipe_helper as helper
    import runner.spec.recipes as recipes
    modes = sys.argv[1].split(",")
    forks = []
    real_fork = os.fork
    def fork():
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid
    os.fork = fork
    if "off" in modes:
        helper.start = lambda: None
    if "dies" in modes:
        helper._serve = lambda receive, send: os._exit(3)
    if "garbles" in modes:
        helper._serve = lambda receive, send: os.write(send, b'[["x", "2", false]]') and 0
    if "bug" in modes:
        def bug(recipe, inputs):
            raise RuntimeError("a bug in the recipe check")
        recipes.check_recipe = bug
    if "nopolars" in modes:
        class Refuse:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "polars":
                    raise ImportError("polars cannot be imported here")
        sys.meta_path.insert(0, Refuse())
    if "thread" in modes:
        threading.Thread(target=threading.Event().wait, daemon=True).start()
    from runner.cli import run
    code = run(sys.argv[2:])
    sys.stdout.flush()
    sys.stderr.flush()
    print("\\nPROBE " + json.dumps(
        {"code": code, "forks": len(forks), "polars": "polars" in sys.modules}))
    """
)

BAD_RECIPES = """\
  unknown_column:
    inputs: {orders: data/orders.csv}
    recipe: |
      select id,
        custmer
      from orders
  syntax:
    inputs: {orders: data/orders.csv}
    recipe: select id from orders where
  unknown_table:
    inputs: {orders: data/orders.csv}
    recipe: select id from order
  two_statements:
    inputs: {orders: data/orders.csv}
    recipe: select id from orders; select 1
targets:
"""


def probe(modes: str, *args: str, log_dir: Path) -> tuple[int, str, str, dict[str, object]]:
    """`publish ARGS` with the helper ``modes``: exit code, stdout, stderr, what it did."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, modes, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
        env={**os.environ, "PUBLISH_LOG_DIR": str(log_dir)},
    )
    out, _, found = done.stdout.rpartition("\nPROBE ")
    facts = json.loads(found)
    return facts["code"], out, done.stderr, facts


def _bad_spec(tmp_path: Path) -> Path:
    return write_spec(tmp_path, BASIC.replace("targets:\n", BAD_RECIPES, 1))


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_helper_gives_the_verdicts_checking_here_gives(tmp_path: Path, fmt: str) -> None:
    spec = str(_bad_spec(tmp_path))
    code, out, err, facts = probe("on", "validate", "--format", fmt, spec, log_dir=tmp_path)
    assert (facts["forks"], facts["polars"]) == (1, False)  # polars only in the helper
    assert code == 1
    assert "unknown column 'custmer' (did you mean 'customer'?)" in (out + err)
    assert "SQL syntax" in (out + err) and "unknown table 'order'" in (out + err)
    assert "a recipe is one SQL statement" in (out + err)
    here = probe("off", "validate", "--format", fmt, spec, log_dir=tmp_path)
    assert (here[3]["forks"], here[3]["polars"]) == (0, True)
    assert here[:3] == (code, out, err)


def test_a_valid_spec_is_valid_with_the_helper() -> None:
    code, out, err, facts = probe("on", "validate", "publish_specs/quickstart", log_dir=ROOT)
    assert (code, facts["forks"], facts["polars"]) == (0, 1, False)
    assert out == "publish_specs/quickstart: valid (1 connection, 2 jobs, 4 targets)\n"
    assert probe("off", "validate", "publish_specs/quickstart", log_dir=ROOT)[:3] == (0, out, err)


@pytest.mark.parametrize("failure", ["dies", "garbles"])
def test_a_helper_without_an_answer_changes_nothing(tmp_path: Path, failure: str) -> None:
    """The parent checks the recipes itself: polars is imported here after all."""
    spec = str(_bad_spec(tmp_path))
    code, out, err, facts = probe(failure, "validate", spec, log_dir=tmp_path)
    assert (facts["forks"], facts["polars"]) == (1, True)
    assert probe("off", "validate", spec, log_dir=tmp_path)[:3] == (code, out, err)
    assert code == 1 and "unknown table 'order'" in err


@pytest.mark.parametrize(
    "fault, message",
    [
        ("bug", "Internal error: RuntimeError: a bug in the recipe check"),  # in the check
        ("nopolars", "polars cannot be imported here"),  # polars failing to import
    ],
)
def test_a_crash_in_the_helper_crashes_as_it_does_without_it(
    tmp_path: Path, fault: str, message: str
) -> None:
    spec = str(_bad_spec(tmp_path))
    code, out, err, facts = probe(fault, "validate", spec, log_dir=tmp_path)
    assert facts["forks"] == 1
    here = probe(f"{fault},off", "validate", spec, log_dir=tmp_path)
    crash_log = re.compile(r"publish-crash-\S+\.log")
    assert (code, out, crash_log.sub("LOG", err)) == (
        here[0],
        here[1],
        crash_log.sub("LOG", here[2]),
    )
    assert code == 3 and message in err


def test_no_helper_without_a_recipe_nor_beside_another_thread(tmp_path: Path) -> None:
    lean = write_spec(tmp_path / "lean", BASIC.split("jobs:")[0])
    code, _, _, facts = probe("on", "validate", str(lean), log_dir=tmp_path)
    assert (code, facts["forks"], facts["polars"]) == (0, 0, False)
    spec = str(write_spec(tmp_path / "basic", BASIC))
    code, _, _, facts = probe("thread", "validate", spec, log_dir=tmp_path)
    assert (code, facts["forks"], facts["polars"]) == (0, 0, True)


def test_answers_that_are_not_well_formed_are_none() -> None:
    assert answers(b'[null, ["unknown", 3, false]]', 2) == [None, RecipeProblem("unknown", 3)]
    assert answers(b'[["syntax", null, true]]', 1) == [RecipeProblem("syntax", None, True)]
    for data, count in [
        (b"", 1),
        (b"[null", 1),
        (b"[null]", 2),
        (b'{"a": 1}', 1),
        (b'[["m", "3", false]]', 1),
        (b'[["m", true, false]]', 1),
        (b'[["m", 3]]', 1),
        (b"[3]", 1),
    ]:
        assert answers(data, count) is None, data


def test_mentions_recipe_reads_the_spec_or_its_folder(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, BASIC)
    assert mentions_recipe(str(spec)) and mentions_recipe(str(tmp_path))
    spec.write_text(BASIC.split("jobs:")[0])
    assert not mentions_recipe(str(spec)) and not mentions_recipe(str(tmp_path))
    assert not mentions_recipe(str(tmp_path / "missing.yaml"))
    os.mkfifo(tmp_path / "fifo.yaml")  # never opened for a blocking read
    assert not mentions_recipe(str(tmp_path / "fifo.yaml"))
