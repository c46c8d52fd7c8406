"""Fuzz: mutated corpus specs never crash publish, never exhaust it, never touch outside.

Hypothesis picks a spec of the good or hostile corpus and damages its text (a hostile
fragment spliced in, lines dropped or doubled, characters that matter to YAML or Jinja
flipped); ``validate``, ``render`` and ``plan`` run on it in forked children with the
hostile corpus's assertions: exit 0 or 1 (never a bug's 3), no traceback, a message when
it fails, under 2 s of CPU and 300 MB, and nothing outside the spec's folder changed.

Bounded in CI (a few derandomized examples); ``PUBLISH_FUZZ_EXAMPLES=500`` fuzzes for real.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli.hostile import CORPUS, MAX_RSS_MB, MAX_SECONDS, Zygote, prepare, snapshot

GOOD = sorted((CORPUS.parent / "good").glob("*.yaml"))
SPECS = sorted(p for p in CORPUS.glob("*.yaml") if "# setup:" not in p.read_text()) + GOOD
EXAMPLES = int(os.environ.get("PUBLISH_FUZZ_EXAMPLES", "6"))

FRAGMENTS = [
    "{{ 'a'|center(10**9) }}",
    "{{ ''.__class__ }}",
    "{% for i in range(10**5) %}{% for j in range(10**5) %}{% endfor %}{% endfor %}",
    "{{ 9 ** 99999 }}",
    "{{ lipsum(10**6) }}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "&x [*x]",
    "!!python/object/apply:os.system ['touch pwned']",
    "../../outside/victim.csv",
    "/etc/passwd",
    "_publish_ledger",
    "\n  init_command: drop table t",
    "9" * 500,
    "{{ secret('NOPE') }}",
    "{{ env('HOME') }}",
    "[[[[[[[[",
    "\t",
    "\ufeff",
    "'",
]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[Path, str]:
    case = draw(st.sampled_from(SPECS))
    lines = case.read_text(encoding="utf-8").splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["splice", "drop", "double", "flip"]))
        if kind == "splice":
            at = draw(st.integers(0, len(lines[i])))
            piece = draw(st.sampled_from(FRAGMENTS))
            lines[i] = lines[i][:at] + piece + lines[i][at:]
        elif kind == "drop" and len(lines) > 1:
            del lines[i]
        elif kind == "double":
            lines.insert(i, lines[i])
        elif lines[i]:
            at = draw(st.integers(0, len(lines[i]) - 1))
            char = draw(st.sampled_from(list("{}[]&*|:!%#'\"-\n ")))
            lines[i] = lines[i][:at] + char + lines[i][at + 1 :]
    return case, "\n".join(lines) + "\n"


@settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=60),
    derandomize="PUBLISH_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(mutated())
def test_mutated_specs_fail_cleanly(zygote: Zygote, spec_text: tuple[Path, str]) -> None:
    case, text = spec_text
    with tempfile.TemporaryDirectory() as tmp:
        spec, outside = prepare(case, Path(tmp))
        if case.parent.name == "good":
            shutil.copytree(case.parent / "data", spec / "data", dirs_exist_ok=True)
        (spec / "publish.yaml").write_text(text, encoding="utf-8")
        before = snapshot(outside)
        for command in ("validate", "render", "plan"):
            outcome = zygote.run([command, "."], spec)
            shown = (
                f"{case.name} {command}: exit {outcome.code}\n{text[:2000]}\n{outcome.err[-2000:]}"
            )
            assert outcome.code in (0, 1), shown
            assert "Traceback" not in outcome.err + outcome.out, shown
            assert outcome.code == 0 or outcome.err.strip(), shown
            assert outcome.cpu < MAX_SECONDS, shown
            assert outcome.rss_mb < MAX_RSS_MB, shown
        assert snapshot(outside) == before
        assert not (spec / "pwned").exists()
