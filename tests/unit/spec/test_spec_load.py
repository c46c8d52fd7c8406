"""Loading YAML safely: positions, duplicate keys, alias bombs, tags, bad files."""

from __future__ import annotations

import signal
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.errors import SpecError
from runner.spec import load
from runner.spec.load import MAX_NODES, expanded_size, load_file, parse_text
from runner.spec.model import Position


def _issues(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_text(text, "s.yaml")
    return [str(i) for i in info.value.issues]


def _laughs(levels: int = 9) -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for i in range(levels - 1):
        name = chr(98 + i)
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    return text


@pytest.fixture
def one_second() -> Iterator[None]:
    """Fail (instead of hanging) when the code under test takes more than a second."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError("took more than a second")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(1)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_positions_of_values_and_keys() -> None:
    doc = parse_text("a:\n  b: 1\n  c: [x, y]\n", "s.yaml")
    assert doc.data == {"a": {"b": 1, "c": ["x", "y"]}}
    assert doc.positions["$.a.b"] == Position("s.yaml", 2, 6)
    assert doc.positions["$.a.c[1]"] == Position("s.yaml", 3, 10)
    assert doc.key_positions["$.a.c"] == Position("s.yaml", 3, 3)


def test_duplicate_key_names_both_lines() -> None:
    assert _issues("a: 1\nb:\n  c: 1\n  c: 2\n") == [
        "s.yaml:4:3: $.b.c: duplicate key 'c' (first defined on line 3, again on line 4); keep one"
    ]


def test_every_duplicate_is_reported() -> None:
    assert len(_issues("a: 1\na: 2\nb: 1\nb: 2\n")) == 2


def test_anchors_aliases_and_merge_keys_work() -> None:
    doc = parse_text("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\nd: *b\n", "s.yaml")
    assert doc.data["c"] == {"x": 1, "y": 3}
    assert doc.data["d"] == {"x": 1, "y": 2}
    assert doc.data["d"] is not doc.data["base"]  # expanded, not shared


def test_billion_laughs_fails_fast_in_bounded_memory(one_second: None) -> None:
    text = _laughs()
    assert len(text.encode()) < 1024
    tracemalloc.start()
    try:
        with pytest.raises(SpecError) as info:
            parse_text(text, "lol.yaml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "expands to more than 100000 values" in str(info.value)
    assert peak < 5_000_000


def test_expansion_budget_counts_through_aliases() -> None:
    import yaml

    root = yaml.compose(_laughs(4), Loader=load.SpecLoader)
    assert root is not None
    # levels: a = 1 + 9, b = 1 + 9a, c = 1 + 9b, d = 1 + 9c; root = 1 + 4 keys + a + b + c + d
    a = 10
    b = 1 + 9 * a
    c = 1 + 9 * b
    d = 1 + 9 * c
    assert expanded_size(root) == 1 + 4 + a + b + c + d == 8307
    big = yaml.compose(_laughs(9), Loader=load.SpecLoader)
    assert big is not None
    assert expanded_size(big) > MAX_NODES


def test_counter_stops_a_bomb_that_slips_past_the_size_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The second line of defence: building counts every value it makes, and stops."""
    monkeypatch.setattr(load, "expanded_size", lambda root, limit=MAX_NODES: 0)
    built: list[int] = []
    real_build = load._Composer.build

    def counting(self: load._Composer, *args: object) -> object:
        built.append(1)
        return real_build(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(load._Composer, "build", counting)
    with pytest.raises(SpecError, match="expands to more than"):
        parse_text(_laughs(), "lol.yaml")
    assert len(built) <= MAX_NODES + 1


def test_recursive_alias_is_refused() -> None:
    assert _issues("a: &a [1, *a]\n") == [
        "s.yaml:1:4: $.a[1]: an alias refers to itself (recursive anchors are not allowed)"
    ]


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object/apply:os.system ['true']\n",
        "a: !!python/object:os.system {}\n",
        "a: !!python/name:os.system\n",
        "a: !custom x\n",
        "a: !!binary aGVsbG8=\n",
        "a: !!set {x, y}\n",
    ],
)
def test_tags_are_refused(text: str) -> None:
    (issue,) = _issues(text)
    assert issue.startswith("s.yaml:1:4: $.a: the YAML tag '")
    assert "is not allowed" in issue


def test_timestamps_and_dates_stay_strings() -> None:
    doc = parse_text("d: 2024-01-03\nt: 2001-12-14t21:59:43.10-05:00\nn: 1.5\nb: yes\n", "s")
    assert doc.data == {"d": "2024-01-03", "t": "2001-12-14t21:59:43.10-05:00", "n": 1.5, "b": True}


def test_empty_file(tmp_path: Path) -> None:
    spec = tmp_path / "e.yaml"
    for content in ("", "\n\n  \n", "# only a comment\n"):
        spec.write_text(content)
        with pytest.raises(SpecError) as info:
            load_file(spec, "e.yaml")
        assert str(info.value) == "e.yaml: $: the file is empty; it should hold a spec"


def test_non_utf8_names_the_line(tmp_path: Path) -> None:
    spec = tmp_path / "latin1.yaml"
    spec.write_bytes(b"version: 1\nname: caf\xe9\n")
    with pytest.raises(SpecError) as info:
        load_file(spec, "latin1.yaml")
    assert str(info.value) == (
        "latin1.yaml:2:10: $: the file is not valid UTF-8 (byte 0xe9); save it as UTF-8"
    )


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    spec = tmp_path / "bom.yaml"
    spec.write_bytes(b"\xef\xbb\xbfname: x\n")
    assert load_file(spec).data == {"name": "x"}


@pytest.mark.parametrize(
    ("text", "kind"), [("- a\n- b\n", "a list"), ("just text\n", "a single value")]
)
def test_top_level_must_be_a_mapping(text: str, kind: str) -> None:
    assert _issues(text) == [
        "s.yaml:1:1: $: the top level must be a mapping of keys (such as 'version:' and "
        f"'name:'), not {kind}"
    ]


def test_yaml_syntax_error_has_a_position() -> None:
    (issue,) = _issues("a: [1, 2\nb: 3\n")
    assert issue.startswith("s.yaml:2:")
    assert "YAML:" in issue


def test_several_documents_are_refused() -> None:
    (issue,) = _issues("a: 1\n---\nb: 2\n")
    assert "single document" in issue


def test_deep_nesting_is_refused() -> None:
    (issue,) = _issues("a: " + "[" * 100 + "]" * 100 + "\n")
    assert "nested more than 64 levels" in issue


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file"):
        load_file(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match="is a folder"):
        load_file(tmp_path)


def test_non_string_keys_are_refused() -> None:
    (issue,) = _issues("? [a, b]\n: 1\n")
    assert "keys must be plain strings" in issue


def test_the_garbage_collector_is_paused_while_parsing_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Parsing runs without the cyclic collector; it is on again after, even after an error."""
    import gc

    seen: list[bool] = []
    compose = load.yaml.compose

    def watched(*args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        return compose(*args, **kwargs)

    monkeypatch.setattr(load.yaml, "compose", watched)
    assert gc.isenabled()
    assert parse_text("a: 1\n", "s.yaml").data == {"a": 1}
    assert _issues("a: 1\na: 2\n")[0].startswith("s.yaml:2:1: $.a: duplicate key 'a'")
    assert seen == [False, False] and gc.isenabled()
    gc.disable()
    try:
        parse_text("a: 1\n", "s.yaml")
        assert not gc.isenabled()  # left off when it was off
    finally:
        gc.enable()
