"""docs/spec.md is generated from the spec's JSON Schema: complete, documented and current."""

from __future__ import annotations

import copy
import re

import pytest

from runner import specdoc

SCHEMA = specdoc.load_schema()


def test_docs_spec_md_is_current() -> None:
    current = specdoc.DOC_FILE.read_text(encoding="utf-8")
    assert current == specdoc.render(SCHEMA), (
        "docs/spec.md is stale: run python -m runner.specdoc --write"
    )


def test_every_schema_property_has_a_description() -> None:
    assert specdoc.undocumented(SCHEMA) == []


def test_every_schema_property_appears_in_the_doc() -> None:
    doc = specdoc.DOC_FILE.read_text(encoding="utf-8")
    names = {path.rsplit(".", 1)[-1] for path, _ in specdoc.all_properties(SCHEMA)}
    assert len(names) > 30
    missing = [n for n in sorted(names) if not re.search(rf"`([\w]+\.)*{re.escape(n)}`", doc)]
    assert missing == []


def test_an_undocumented_property_fails_the_generator() -> None:
    schema = copy.deepcopy(SCHEMA)
    schema["$defs"]["target"]["properties"]["newKey"] = {"type": "string"}
    with pytest.raises(specdoc.UndocumentedError, match=r"target/properties|newKey"):
        specdoc.render(schema)


def test_a_new_documented_property_makes_the_doc_stale() -> None:
    schema = copy.deepcopy(SCHEMA)
    schema["$defs"]["target"]["properties"]["newKey"] = {
        "type": "string",
        "description": "A key added to the schema.",
    }
    page = specdoc.render(schema)
    assert "| `newKey` | string |" in page
    assert page != specdoc.DOC_FILE.read_text(encoding="utf-8")
    assert specdoc.main(["--check"]) == 0
