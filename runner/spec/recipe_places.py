"""Where a character of a rendered recipe was written in the spec file (line and column).

A recipe is a YAML scalar, usually a literal block (``recipe: |``), and may hold templates
(``{{ vars.min_amount }}``). An offset in the rendered recipe is mapped back to the raw
recipe (the text around templates is copied as written, so the line stays and the column
moves by what the templates added), then to the file: in a literal block, recipe line i is
the block's line i and columns move by the block's indentation; a one-line scalar starts
at its position (after its quote). Anything else (folded blocks, multi-line quoted
scalars, templates that add lines) is placed at the recipe's first line.
"""

from __future__ import annotations

import re
from pathlib import Path

from runner.spec.model import Position

_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}")


def _line_col(text: str, offset: int) -> tuple[int, int]:
    """0-based line and column of ``offset`` in ``text``."""
    line = text.count("\n", 0, offset)
    return line, offset - (text.rfind("\n", 0, offset) + 1)


def raw_column(raw_line: str, rendered_line: str, column: int) -> int | None:
    """The column in ``raw_line`` of ``column`` in ``rendered_line`` (templates expanded)."""
    if raw_line == rendered_line:
        return column
    raw_at = rendered_at = 0
    for match in _TEMPLATE.finditer(raw_line):
        literal = raw_line[raw_at : match.start()]
        if rendered_line[rendered_at : rendered_at + len(literal)] != literal:
            return None
        if column < rendered_at + len(literal):
            return raw_at + column - rendered_at
        # the template's value ends where the next literal text starts
        nxt = _TEMPLATE.search(raw_line, match.end())
        following = raw_line[match.end() : nxt.start() if nxt else len(raw_line)]
        after = rendered_line.find(following, rendered_at + len(literal)) if following else -1
        value_end = after if after >= 0 else len(rendered_line)
        if column < value_end:
            return match.start()
        raw_at, rendered_at = match.end(), value_end
    tail = raw_line[raw_at:]
    if rendered_line[rendered_at:] != tail:
        return None
    return raw_at + column - rendered_at


def _source(file: str) -> list[str] | None:
    try:
        return Path(file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None


def place(start: Position, raw: str, rendered: str, offset: int | None) -> Position:
    """The spec position of ``offset`` in the rendered recipe (``start``: the value's)."""
    if offset is None:
        return start
    line, column = _line_col(rendered, min(offset, len(rendered)))
    raw_lines, rendered_lines = raw.split("\n"), rendered.split("\n")
    if len(raw_lines) != len(rendered_lines):
        return start
    found = raw_column(raw_lines[line], rendered_lines[line], column)
    source = _source(start.file)
    if found is None or source is None or start.line > len(source):
        return start
    head = source[start.line - 1][start.column - 1 :]
    if head.startswith("|"):
        body = source[start.line :]
        indent = next((len(s) - len(s.lstrip(" ")) for s in body if s.strip()), 0)
        return Position(start.file, start.line + 1 + line, indent + found + 1)
    if len(raw_lines) == 1:
        quoted = 1 if head[:1] in ("'", '"') else 0
        return Position(start.file, start.line, start.column + quoted + found)
    return start
