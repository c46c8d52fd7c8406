"""Rendering: sandbox, strict undefined, env(), secret(), vars precedence, environments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner.errors import SpecError
from runner.spec.load import parse_text
from runner.spec.render import Rendered, render
from runner.spec.secrets import Secret


def _render(text: str, **kwargs: Any) -> Rendered:
    return render(parse_text(text, "s.yaml"), **kwargs)


def _value(text: str, **kwargs: Any) -> Any:
    result = _render(text, **kwargs)
    assert result.issues == []
    return result.data["a"]


def _problem(text: str, **kwargs: Any) -> str:
    result = _render(text, **kwargs)
    (issue,) = result.issues
    return str(issue)


SPEC_VARS = "vars: {x: spec, y: spec, z: spec, w: spec}\n"


def test_precedence_cli_over_files_over_environment_over_spec(tmp_path: Path) -> None:
    first = tmp_path / "one.yaml"
    first.write_text("x: file1\ny: file1\nz: file1\n")
    second = tmp_path / "two.yaml"
    second.write_text("x: file2\ny: file2\n")
    text = (
        SPEC_VARS
        + "environments: {prod: {vars: {x: env, y: env, z: env, w: env}}}\n"
        + "a: '{{ vars.x }} {{ vars.y }} {{ vars.z }} {{ vars.w }}'\n"
    )
    assert _value(text) == "spec spec spec spec"
    assert _value(text, environment="prod") == "env env env env"
    assert _value(text, environment="prod", var_files=[first, second]) == "file2 file2 file1 env"
    assert (
        _value(text, environment="prod", var_files=[first, second], cli_vars={"x": "cli"})
        == "cli file2 file1 env"
    )


def test_var_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "vars.yaml"
    bad.write_text("a: 1\na: 2\n")
    with pytest.raises(SpecError) as info:
        _render("a: x\n", var_files=[bad])
    assert str(info.value).startswith(f"{bad}:2:1: $.a: duplicate key 'a'")


def test_vars_are_plain_values_not_templates() -> None:
    assert _value("vars: {t: '{{ 1 + 1 }}'}\na: '{{ vars.t }}'\n") == "{{ 1 + 1 }}"


def test_keys_are_never_rendered() -> None:
    result = _render("'{{ 1 + 1 }}': '{{ 1 + 1 }}'\n")
    assert result.data == {"{{ 1 + 1 }}": "2"}


def test_environment_name_and_default() -> None:
    text = "environments: {prod: {}}\na: '{{ environment }}'\n"
    assert _value(text) == "default"
    assert _value(text, environment="prod") == "prod"


def test_env_function(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPEC_TEST_HOST", "db.example")
    monkeypatch.delenv("SPEC_TEST_MISSING", raising=False)
    assert _value("a: \"{{ env('SPEC_TEST_HOST') }}\"\n") == "db.example"
    assert _value("a: \"{{ env('SPEC_TEST_MISSING', 'fallback') }}\"\n") == "fallback"
    assert _problem("b: 1\na: \"{{ env('SPEC_TEST_MISSING') }}\"\n") == (
        "s.yaml:2:4: $.a: environment variable SPEC_TEST_MISSING is not set; set it or give a "
        "default: env('SPEC_TEST_MISSING', 'value')"
    )


def test_env_values_are_never_rendered_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPEC_TEST_TEMPLATE", "{{ 7 * 7 }}")
    assert _value("a: \"x{{ env('SPEC_TEST_TEMPLATE') }}\"\n") == "x{{ 7 * 7 }}"


def test_secret_becomes_a_secret_with_its_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPEC_TEST_USER", "u-ser")
    monkeypatch.setenv("SPEC_TEST_PASS", "p{{ 7 * 7 }}#@/%")
    value = _value(
        "a: \"postgresql://{{ secret('SPEC_TEST_USER') }}:{{ secret('SPEC_TEST_PASS') }}@h\"\n"
    )
    assert isinstance(value, Secret)
    assert value.names == ("SPEC_TEST_PASS", "SPEC_TEST_USER")
    assert value.reveal() == "postgresql://u-ser:p{{ 7 * 7 }}#@/%@h"  # never rendered again
    assert str(value) == "***"


def test_missing_and_empty_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPEC_TEST_NOPE", raising=False)
    monkeypatch.setenv("SPEC_TEST_EMPTY", "")
    assert _problem("a: \"{{ secret('SPEC_TEST_NOPE') }}\"\n") == (
        "s.yaml:1:4: $.a: secret('SPEC_TEST_NOPE'): environment variable SPEC_TEST_NOPE is not set"
    )
    assert "is empty" in _problem("a: \"{{ secret('SPEC_TEST_EMPTY') }}\"\n")


def test_secret_mangled_by_a_filter_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPEC_TEST_PASS", "abcdef-secret")
    assert "changed by a filter" in _problem("a: \"{{ secret('SPEC_TEST_PASS')|reverse }}\"\n")


def test_strict_undefined() -> None:
    assert _problem("a: '{{ nothing }}'\n") == (
        "s.yaml:1:4: $.a: template error: 'nothing' is undefined; define it under vars or pass "
        "--var NAME=VALUE"
    )
    assert "has no attribute 'nope'" in _problem("vars: {x: 1}\na: '{{ vars.nope }}'\n")


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ ''|attr('format') }}",
        "{{ ('{0.__class__}'|attr('format'))(1) }}",
        "{{ 'x'.format_map }}",
        "{{ '{0.__class__}'.format(1) }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ vars.__class__ }}",
    ],
)
def test_sandbox_escapes_are_refused(template: str) -> None:
    text = 'vars: {x: 1}\na: "' + template.replace('"', '\\"') + '"\n'
    issue = _problem(text)
    assert issue.startswith("s.yaml:2:4: $.a: template refused by the sandbox: access to ")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 'x' * 10**9 }}", "'*' would make 1,000,000,000 characters (at most 1,000,000)"),
        ("{{ [1] * 10**9 }}", "'*' would make 1,000,000,000 characters (at most 1,000,000)"),
        ("{{ 9 ** (9 ** 9) }}", "9 ** 387420489 would make 1,549,681,956 bits (at most 4,096)"),
    ],
)
def test_templates_cannot_exhaust_memory(template: str, message: str) -> None:
    assert message in _problem(f'a: "{template}"\n')
    assert _value("a: \"{{ 'ab' * 3 }}-{{ 2 ** 10 }}\"\n") == "ababab-1024"


def test_syntax_error_and_other_failures() -> None:
    assert "template syntax error" in _problem("a: '{% for %}'\n")
    assert "ZeroDivisionError" in _problem("a: '{{ 1 / 0 }}'\n")


def test_every_failing_template_is_reported() -> None:
    result = _render("a: '{{ x }}'\nb: ['{{ y }}', ok]\n")
    assert [i.path for i in result.issues] == ["$.a", "$.b[0]"]
    assert result.failed == {"$.a", "$.b[0]"}


def test_simple_lookups_match_jinja() -> None:
    text = (
        "vars: {n: 5, f: 1.5, s: x, d: {k: v}}\n"
        "a: '{{vars.n}}-{{ vars.f }}-{{ vars.s }}-{{ vars.d.k }}'\n"
    )
    assert _value(text) == "5-1.5-x-v"
    assert _value("vars: {b: true}\na: '{{ vars.b }}'\n") == "True"  # through Jinja


def test_templated_paths_are_recorded() -> None:
    result = _render("vars: {p: 1}\nc: {port: '{{ vars.p }}', host: h}\n")
    assert result.templated == {("c", "port")}


ENV_SPEC = """\
environments:
  prod:
    protect: true
    targets:
      a: {action: truncateAndLoad}
    connections:
      db: {database: prod.db}
  dev: {}
connections:
  db: {vendor: sqlite, database: dev.db}
targets:
  a: {table: a, action: create, path: [x, y]}
  b: {table: b, protect: false}
"""


def test_environment_overlay_is_deep_merged_with_positions() -> None:
    result = _render(ENV_SPEC, environment="prod")
    assert result.data["connections"]["db"] == {"vendor": "sqlite", "database": "prod.db"}
    assert result.data["targets"]["a"] == {
        "table": "a",
        "action": "truncateAndLoad",
        "path": ["x", "y"],
        "protect": True,
    }
    assert result.data["targets"]["b"]["protect"] is False  # set by the target itself
    assert "environments" not in result.data
    assert result.positions["$.targets.a.action"].line == 5
    assert result.positions["$.targets.a.protect"].line == 3
    assert result.positions["$.targets.a.table"].line == 12


def test_environment_overlay_does_not_touch_the_document() -> None:
    doc = parse_text(ENV_SPEC, "s.yaml")
    render(doc, environment="prod")
    assert doc.data["targets"]["a"]["action"] == "create"
    assert "protect" not in doc.data["targets"]["a"]


def test_unknown_environment_lists_the_known_ones() -> None:
    with pytest.raises(SpecError) as info:
        _render(ENV_SPEC, environment="staging")
    assert str(info.value) == (
        "s.yaml:1:1: $.environments: unknown environment 'staging'; known: dev, prod"
    )
    with pytest.raises(SpecError, match="none are defined"):
        _render("a: 1\n", environment="prod")
