"""Offsets of a rendered recipe mapped back to the spec file (issue 11.6)."""

from __future__ import annotations

from pathlib import Path

from runner.spec.model import Position
from runner.spec.recipe_places import place, raw_column


def test_columns_move_by_what_each_template_added() -> None:
    raw = "select {{ a }}, x from {{ t }} where y"
    rendered = "select 12345, x from orders where y"
    assert raw_column(raw, rendered, rendered.index("x")) == raw.index("x")
    assert raw_column(raw, rendered, rendered.index("y")) == raw.index("y")
    assert raw_column(raw, rendered, rendered.index("345")) == raw.index("{{ a }}")
    assert raw_column(raw, "something else entirely", 3) is None


def test_block_one_line_and_quoted_scalars(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "jobs:\n"
        "  a:\n"
        "    recipe: |\n"
        "      select id,\n"
        "        amout from t\n"
        "  b:\n"
        '    recipe: "select amout from t"\n'
        "  c:\n"
        "    recipe: >\n"
        "      select amout\n"
        "      from t\n"
    )
    block = "select id,\n  amout from t\n"
    assert place(Position(str(spec), 3, 13), block, block, block.index("amout")) == Position(
        str(spec), 5, 9
    )
    line = "select amout from t"
    assert place(Position(str(spec), 7, 13), line, line, 7) == Position(str(spec), 7, 21)
    folded = "select amout from t\n"  # folded blocks fall back to the value's position
    assert place(Position(str(spec), 9, 13), folded, folded, 7) == Position(str(spec), 9, 13)
