"""Safe YAML loading that keeps the line and column of every value.

The file is *composed* into YAML nodes by a SafeLoader subclass (libyaml's when present;
its nodes keep their marks) and the nodes are turned into plain Python data here, not by
PyYAML's constructor, so that:

- only the core tags are accepted (``!!python/...`` and any other tag is refused);
- a duplicate key is an error naming both lines;
- aliases are expanded with a budget of :data:`MAX_NODES` values, so a "billion laughs"
  file fails fast in bounded memory instead of expanding when walked;
- timestamps and dates stay the strings they were written as;
- every value's position is recorded under its JSON path (``$.targets.x.table``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runner.errors import SpecError, SpecIssue
from runner.spec import paths
from runner.spec.gcpause import gc_paused
from runner.spec.model import Position

#: the most values an expanded document may hold (aliases count each time they are used)
MAX_NODES = 100_000
#: the most bytes of text an expanded document may hold (an alias of a long string counts
#: its length each time it is used: 500 KB of aliases must not become 4 GB when walked)
MAX_EXPANDED_BYTES = 16 * 1024 * 1024
#: the largest spec or variables file read
MAX_FILE_BYTES = 16 * 1024 * 1024
#: the longest integer literal (digits and signs); quote longer ones to make them strings
MAX_INT_DIGITS = 100
#: the deepest nesting of mappings and sequences
MAX_DEPTH = 64

_BaseLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SpecLoader(_BaseLoader):  # type: ignore[misc]
    """SafeLoader (C when available) used only to compose nodes; nothing is constructed."""


_TAG = "tag:yaml.org,2002:"
_MERGE = _TAG + "merge"
_KEY_TAGS = frozenset(_TAG + t for t in ("str", "int", "bool", "float", "null", "timestamp"))
_SCALARS = yaml.constructor.SafeConstructor()


@dataclass
class Document:
    """A loaded YAML document: plain data plus where each JSON path was written."""

    label: str  # the file as the user named it (used in every message)
    data: dict[str, Any]
    positions: dict[str, Position] = field(default_factory=dict)
    #: where each mapping key was written (for "unknown key" messages)
    key_positions: dict[str, Position] = field(default_factory=dict)


class _Budget(Exception):
    pass


class _BytesBudget(_Budget):
    pass


class _Composer:
    def __init__(self, label: str) -> None:
        self.label = label
        self.nodes = 0
        self.bytes = 0
        self.issues: list[SpecIssue] = []
        self.positions: dict[str, Position] = {}
        self.key_positions: dict[str, Position] = {}

    def pos(self, node: yaml.Node) -> Position:
        mark = node.start_mark
        return Position(self.label, mark.line + 1, mark.column + 1)

    def issue(self, node: yaml.Node, path: str, message: str) -> None:
        p = self.pos(node)
        self.issues.append(SpecIssue(self.label, p.line, p.column, path, message))

    def build(self, node: yaml.Node, path: str, depth: int, stack: tuple[int, ...]) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Budget
        if depth > MAX_DEPTH:
            self.issue(node, path, f"nested more than {MAX_DEPTH} levels deep")
            return None
        if path not in self.positions:
            self.positions[path] = self.pos(node)
        tag = node.tag or ""
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path, tag)
        if id(node) in stack:
            self.issue(node, path, "an alias refers to itself (recursive anchors are not allowed)")
            return None
        inner = (*stack, id(node))
        if isinstance(node, yaml.SequenceNode):
            if tag != _TAG + "seq":
                self.issue(node, path, _tag_message(tag))
                return None
            return [
                self.build(item, paths.child(path, i), depth + 1, inner)
                for i, item in enumerate(node.value)
            ]
        if isinstance(node, yaml.MappingNode):
            if tag != _TAG + "map":
                self.issue(node, path, _tag_message(tag))
                return None
            return self.mapping(node, path, depth, inner)
        self.issue(node, path, "unsupported YAML node")  # pragma: no cover - yaml has 3 kinds
        return None

    def scalar(self, node: yaml.ScalarNode, path: str, tag: str) -> Any:
        self.bytes += len(node.value)
        if self.bytes > MAX_EXPANDED_BYTES:
            raise _BytesBudget
        kind = tag[len(_TAG) :] if tag.startswith(_TAG) else None
        if kind in ("str", "timestamp"):
            return str(node.value)
        if kind == "int":
            if len(node.value) > MAX_INT_DIGITS:
                self.issue(
                    node,
                    path,
                    f"an integer of {len(node.value)} characters is too long (at most "
                    f"{MAX_INT_DIGITS}); quote it if it is meant as text",
                )
                return None
            return _SCALARS.construct_yaml_int(node)
        if kind == "float":
            return _SCALARS.construct_yaml_float(node)
        if kind == "bool":
            return _SCALARS.construct_yaml_bool(node)
        if kind == "null":
            return None
        self.issue(node, path, _tag_message(tag))
        return None

    def _entries(self, node: yaml.MappingNode) -> Iterator[tuple[yaml.Node, yaml.Node]]:
        """Key/value pairs, with ``<<`` merge keys expanded (explicit keys win)."""
        if all(k.tag != _MERGE for k, _ in node.value):
            yield from node.value
            return
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        for key, value in node.value:
            if key.tag == _MERGE:
                sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
                for src in sources:
                    if not isinstance(src, yaml.MappingNode):
                        continue  # reported by the caller through a type error below
                    merged.extend(src.value)
        explicit = [(k, v) for k, v in node.value if k.tag != _MERGE]
        names = {k.value for k, _ in explicit if isinstance(k, yaml.ScalarNode)}
        seen: set[str] = set()
        for key, value in merged:
            self.nodes += 1
            if self.nodes > MAX_NODES:
                raise _Budget
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if name is None or name in names or name in seen:
                continue
            seen.add(name)
            yield key, value
        yield from explicit

    def mapping(
        self, node: yaml.MappingNode, path: str, depth: int, stack: tuple[int, ...]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key, value in node.value:
            if key.tag == _MERGE and not (
                isinstance(value, yaml.MappingNode)
                or (
                    isinstance(value, yaml.SequenceNode)
                    and all(isinstance(v, yaml.MappingNode) for v in value.value)
                )
            ):
                self.issue(value, path, "a '<<' merge key needs a mapping or a list of mappings")
        for key, value in self._entries(node):
            if not isinstance(key, yaml.ScalarNode) or key.tag not in _KEY_TAGS:
                self.issue(key, path, "keys must be plain strings")
                continue
            name = str(key.value)
            line = key.start_mark.line + 1
            sub = paths.child(path, name)
            if name in first_line:
                self.issue(
                    key,
                    sub,
                    f"duplicate key '{name}' (first defined on line {first_line[name]}, "
                    f"again on line {line}); keep one",
                )
                continue
            first_line[name] = line
            key_pos = self.pos(key)
            if sub not in self.key_positions:
                self.key_positions[sub] = key_pos
            if sub not in self.positions:
                scalar = isinstance(value, yaml.ScalarNode)
                self.positions[sub] = self.pos(value) if scalar else key_pos
            out[name] = self.build(value, sub, depth + 1, stack)
        return out


def _expanded(root: yaml.Node, limit: int, leaf: Callable[[yaml.Node], int], own: int) -> int:
    """The weight of ``root`` once aliases are expanded: ``leaf`` per scalar, ``own`` per
    collection (stops adding past ``limit``).

    Shared (aliased) nodes are weighed once and memoised, so this runs in time proportional
    to the file, not to its expansion.
    """
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if not isinstance(node, yaml.CollectionNode):
            return leaf(node)
        if depth > MAX_DEPTH:
            return own
        sizes[id(node)] = 0  # a recursive alias counts as nothing here; build() reports it
        total = own
        for item in node.value:
            if isinstance(item, tuple):
                total += size(item[0], depth + 1) + size(item[1], depth + 1)
            else:
                total += size(item, depth + 1)
            if total > limit:
                break
        sizes[id(node)] = total
        return total

    return size(root, 0)


def expanded_size(root: yaml.Node, limit: int = MAX_NODES) -> int:
    """How many values ``root`` holds once aliases are expanded (stops counting past ``limit``)."""
    return _expanded(root, limit, lambda _node: 1, own=1)


def expanded_bytes(root: yaml.Node, limit: int = MAX_EXPANDED_BYTES) -> int:
    """How many bytes of text ``root`` holds once aliases are expanded (stops past ``limit``)."""
    return _expanded(
        root, limit, lambda node: len(node.value) if isinstance(node.value, str) else 0, own=0
    )


def _tag_message(tag: str) -> str:
    shown = tag.replace(_TAG, "!!")
    return (
        f"the YAML tag '{shown}' is not allowed; a spec holds only plain strings, numbers, "
        "booleans, lists and mappings"
    )


def _decode(raw: bytes, label: str) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise SpecError(
            [
                SpecIssue(
                    label,
                    line,
                    column,
                    paths.ROOT,
                    f"the file is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8",
                )
            ]
        ) from None


def _yaml_issue(exc: yaml.YAMLError, label: str) -> SpecIssue:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        text = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        if mark is not None:
            return SpecIssue(label, mark.line + 1, mark.column + 1, paths.ROOT, f"YAML: {text}")
        return SpecIssue(label, None, None, paths.ROOT, f"YAML: {text}")
    return SpecIssue(label, None, None, paths.ROOT, f"YAML: {exc}")


def parse_text(text: str, label: str, *, what: str = "a spec") -> Document:
    """Parse YAML text into a :class:`Document`; raises SpecError with every issue found."""
    with gc_paused():
        return _parse_text(text, label, what)


def _parse_text(text: str, label: str, what: str) -> Document:
    try:
        root = yaml.compose(text, Loader=SpecLoader)
    except yaml.YAMLError as exc:
        raise SpecError([_yaml_issue(exc, label)]) from None
    except RecursionError:
        raise SpecError(
            [SpecIssue(label, None, None, paths.ROOT, "YAML: nested too deeply")]
        ) from None
    if root is None:
        raise SpecError(
            [SpecIssue(label, None, None, paths.ROOT, f"the file is empty; it should hold {what}")]
        )
    composer = _Composer(label)
    if not isinstance(root, yaml.MappingNode) or root.tag != _TAG + "map":
        p = composer.pos(root)
        kind = "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
        raise SpecError(
            [
                SpecIssue(
                    label,
                    p.line,
                    p.column,
                    paths.ROOT,
                    f"the top level must be a mapping of keys (such as 'version:' and 'name:'), "
                    f"not {kind}",
                )
            ]
        )
    try:
        if "&" in text:  # no anchor, no alias: the file's own size is the bound
            if expanded_size(root) > MAX_NODES:
                raise _Budget
            if expanded_bytes(root) > MAX_EXPANDED_BYTES:
                raise _BytesBudget
        data = composer.build(root, paths.ROOT, 0, ())
    except _BytesBudget:
        raise SpecError(
            [
                SpecIssue(
                    label,
                    None,
                    None,
                    paths.ROOT,
                    f"the document expands to more than {MAX_EXPANDED_BYTES // (1024 * 1024)} MB "
                    "of text through YAML aliases; refusing it (an alias bomb?)",
                )
            ]
        ) from None
    except _Budget:
        raise SpecError(
            [
                SpecIssue(
                    label,
                    None,
                    None,
                    paths.ROOT,
                    f"the document expands to more than {MAX_NODES} values through YAML "
                    "aliases; refusing it (an alias bomb?)",
                )
            ]
        ) from None
    except RecursionError:
        raise SpecError(
            [SpecIssue(label, None, None, paths.ROOT, "YAML: nested too deeply")]
        ) from None
    if composer.issues:
        raise SpecError(composer.issues)
    assert isinstance(data, dict)
    return Document(label, data, composer.positions, composer.key_positions)


def load_file(path: Path, label: str | None = None, *, what: str = "a spec") -> Document:
    """Read and parse a YAML file; ``label`` is how messages name it (default: ``path``)."""
    label = label if label is not None else str(path)
    try:
        raw = read_limited(path)
    except FileNotFoundError:
        raise SpecError([SpecIssue(label, None, None, paths.ROOT, "no such file")]) from None
    except IsADirectoryError:
        raise SpecError(
            [SpecIssue(label, None, None, paths.ROOT, "is a folder, not a file")]
        ) from None
    except OSError as exc:
        raise SpecError(
            [SpecIssue(label, None, None, paths.ROOT, f"cannot read: {exc.strerror}")]
        ) from None
    return parse_bytes(raw, label, what=what)


def read_limited(path: Path) -> bytes:
    """A spec or variables file's bytes: a regular file of at most :data:`MAX_FILE_BYTES`.

    OSError for a file that is not regular (a FIFO would block forever) or too big.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(21, "is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise OSError(0, f"is {file_kind(info.st_mode)}, not a regular file")
        raw = fh.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise OSError(0, f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    return raw


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words (for refusals)."""
    kinds = (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISLNK, "a symbolic link"),
    )
    for test, words in kinds:
        if test(mode):
            return words
    return "a special file"


def parse_bytes(raw: bytes, label: str, *, what: str = "a spec") -> Document:
    """Decode (UTF-8, an optional BOM) and parse a YAML file's bytes."""
    text = _decode(raw, label)
    if not text.strip():
        raise SpecError(
            [SpecIssue(label, None, None, paths.ROOT, f"the file is empty; it should hold {what}")]
        )
    return parse_text(text, label, what=what)
