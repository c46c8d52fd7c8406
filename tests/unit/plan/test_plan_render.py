"""Plan renderers: exact text, markdown for PR comments within its budget, json as is."""

from __future__ import annotations

import json
import re

import pytest
from plan_fixtures import big_plan, drift_plan, empty_plan, example_plan, trifacta_plan

from runner.plan.model import Change, Plan, SchemaChange
from runner.plan.render import MARKDOWN_LIMIT, render_plan
from runner.plan.render_markdown import esc, render_markdown
from runner.spec.secrets import Secret

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _one_change_plan(*changes: Change) -> Plan:
    return Plan(
        spec_name="sales",
        spec_path="sales.yaml",
        spec_sha256="",
        rendered_sha256="",
        environment="default",
        lineage=None,
        serial=0,
        changes=changes,
    )


# --- text ----------------------------------------------------------------------------------


def test_text_of_the_example_plan() -> None:
    plan = example_plan()
    assert render_plan(plan, "text") == (
        "Plan: 2 to create, 2 to update, 0 to replace, 0 to forget, 1 to run (1 destructive).\n"
        "\n"
        "  + connection.warehouse: create\n"
        "      reason: new connection\n"
        "      details:\n"
        "        database: warehouse.db\n"
        "        vendor: sqlite\n"
        "\n"
        "  > job.orders_clean: run\n"
        "      reason: the job's recipe changed since its latest run\n"
        "      run id: run-0001\n"
        "      fingerprint: sha256:0a1b2c3d4e5f6a7b\n"
        "\n"
        "  ~ target.orders_out: truncateAndLoad into warehouse.main.orders (destructive)\n"
        "      reason: job.orders_clean has a new run\n"
        "      depends on: connection.warehouse, job.orders_clean\n"
        "      existing rows: about 1,204\n"
        "      incoming rows: known after the job runs\n"
        "      consequence: all rows are replaced; the table's grants and views are kept\n"
        "      schema changes:\n"
        "        + column note text (additive)\n"
        "        - column legacy (destructive)\n"
        "        ~ column amount numeric(10,2) -> double precision (destructive)\n"
        "      run id: run-0001\n"
        "\n"
        "  + target.customers_out: createAndLoad into warehouse.main.customers\n"
        "      reason: first publication of this target\n"
        "      depends on: job.orders_clean\n"
        "      existing rows: none, the table does not exist yet\n"
        "      incoming rows: 310\n"
        "      consequence: the table is created and loaded\n"
        "      run id: run-0001\n"
        "\n"
        "  ~ target.events_out: upsert into warehouse.main.events\n"
        "      reason: job.orders_clean has a new run\n"
        "      depends on: job.orders_clean\n"
        "      existing rows: 50\n"
        "      incoming rows: 12\n"
        "      consequence: new keys are inserted, existing keys updated\n"
        "      run id: run-0001\n"
        "\n"
        "Spec sales (publish_specs/sales.yaml), environment default, state serial 7 "
        f"(lineage 3f2b9c1e-5d4a-4c3b-9a8e-7f6d5c4b3a21), plan {plan.plan_id}.\n"
        "Markers: + create, ~ update or load into an existing table, - forget, "
        "-/+ drop and recreate, > run a job.\n"
    )


def test_text_of_a_plan_with_nothing_to_do() -> None:
    plan = empty_plan()
    assert render_plan(plan, "text") == (
        "No changes. Every target holds the results of its job's latest run.\n"
        "\n"
        "Spec sales (publish_specs/sales.yaml), environment default, state serial 7 "
        f"(lineage 3f2b9c1e-5d4a-4c3b-9a8e-7f6d5c4b3a21), plan {plan.plan_id}.\n"
    )


def test_text_lists_drift_apart_after_no_changes() -> None:
    text = render_plan(drift_plan(), "text")
    head, _, rest = text.partition("\n\nObjects changed outside publish (drift):\n")
    assert head == (
        "No changes to apply: every target was published from its job's latest run, but some "
        "tables changed outside publish since (drift, listed below).\n"
        "Drift: 3 objects changed outside publish, listed below."
    )
    assert rest.startswith(
        "  target.events_out: columns changed: column extra was added outside publish\n"
        '      recorded: ["id","kind"]\n'
        '      actual: ["id","kind","extra"]\n'
        "  target.events_out: rows changed: warehouse.main.events holds 48 rows; "
        "state recorded 50\n"
        "      recorded: 50\n"
        "      actual: 48\n"
        "  target.orders_out: table dropped: warehouse.main.orders no longer exists\n"
        '      recorded: {"rows":1204}\n'
        "\n"
    )


def test_text_of_a_trifacta_plan_shows_drop_and_recreate_and_api_calls() -> None:
    text = render_plan(trifacta_plan(), "text")
    assert text.startswith(
        "Plan: 0 to create, 0 to update, 1 to replace, 0 to forget, 1 to run (1 destructive).\n"
    )
    assert (
        "-/+ target.orders_out: dropAndLoad into redshift_prod.public.orders (destructive)\n"
        in text
    )
    assert "      existing rows: 88,000\n" in text
    assert (
        "      api calls:\n"
        "        PUT /v4/jobGroups/{jobGroupId}/publish "
        '{"action":"dropAndLoad","connection":{"id":2},"inputFormat":"avro",'
        '"path":["public"],"table":"orders"}\n'
        "        GET /v4/jobGroups/{jobGroupId}/status\n"
    ) in text
    assert (
        '        POST /v4/jobGroups {"overrides":{"profiler":false},'
        '"wrangledDataset":{"id":28629}}\n'
    ) in text


def test_text_markers_for_update_and_delete_and_pulled_in() -> None:
    plan = _one_change_plan(
        Change("connection.pg", "update", "host changed", details={"host": ["a", "b"]}),
        Change("job.old", "forget", "removed from the spec"),
    )
    plan = Plan(**{**plan.__dict__, "pulled_in": ("job.b", "connection.a")})
    text = render_plan(plan, "text")
    assert "\n  ~ connection.pg: update\n" in text
    assert "\n  - job.old: forget\n" in text
    assert text.startswith("Plan: 0 to create, 1 to update, 0 to replace, 1 to forget, 0 to run.")
    assert "Pulled in because selected objects need them: connection.a, job.b\n" in text
    assert "no state yet" in text


def test_text_cuts_long_api_bodies() -> None:
    body = {"rows": ["x" * 50] * 20}
    plan = _one_change_plan(
        Change("job.j", "run", "r", api_calls=({"method": "POST", "path": "/v4/x", "body": body},))
    )
    line = next(ln for ln in render_plan(plan, "text").splitlines() if "POST /v4/x" in ln)
    assert line.endswith("...")
    assert len(line.strip()) == len("POST /v4/x ") + 300


def test_colour_only_when_asked() -> None:
    for plan in (example_plan(), drift_plan(), trifacta_plan()):
        plain = render_plan(plan, "text")
        coloured = render_plan(plan, "text", color=True)
        assert "\x1b[" not in plain
        assert ANSI.search(coloured)
        assert ANSI.sub("", coloured) == plain
    coloured = render_plan(example_plan(), "text", color=True)
    assert "\x1b[31m\x1b[1m(destructive)" in coloured  # red
    assert "\x1b[32m\x1b[1m  +" in coloured  # green
    for fmt in ("markdown", "json"):
        assert "\x1b[" not in render_plan(example_plan(), fmt, color=True)


def test_text_shows_control_characters_of_values_escaped() -> None:
    plan = _one_change_plan(
        Change(
            "target.t",
            "publish",
            "r",
            publish_action="load",
            table="c.s.\x1b[31mred\x07",
            rows_existing=1,
            consequence="line one\nline two",
        )
    )
    text = render_plan(plan, "text")
    assert "\x1b" not in text and "\x07" not in text
    assert "c.s.\\x1b[31mred\\x07" in text
    assert "consequence: line one\\x0aline two\n" in text


# --- markdown ------------------------------------------------------------------------------


def test_markdown_of_the_example_plan() -> None:
    md = render_plan(example_plan(), "markdown")
    lines = md.splitlines()
    assert lines[0] == "## Plan for sales (environment default)"
    assert lines[2:10] == [
        "| | Action | Count |",
        "| :---: | :--- | ---: |",
        "| <code>+</code> | create | 2 |",
        "| <code>&#126;</code> | update | 2 |",
        "| <code>-/+</code> | replace | 0 |",
        "| <code>-</code> | forget | 0 |",
        "| <code>&#62;</code> | run | 1 |",
        "|  | **destructive** | 1 |",
    ]
    assert (
        "### Destructive changes (1)\n\n"
        "- <code>&#126;</code> <code>target.orders&#95;out</code>: truncateAndLoad into "
        "<code>warehouse.main.orders</code>, existing rows: about 1,204\n\n### Changes\n"
    ) in md
    assert md.count("<details>") == md.count("</details>") == 5
    assert (
        "<details><summary><code>&#126;</code> target.orders&#95;out: truncateAndLoad into "
        "warehouse.main.orders <b>(destructive)</b></summary>\n\n"
        "- **reason:** job.orders&#95;clean has a new run\n"
    ) in md
    assert (
        "  - <code>&#126; column amount numeric(10,2) -&#62; double precision (destructive)" in md
    )
    assert "### Drift" not in md
    assert md.index("### Destructive changes") < md.index("### Changes")


def test_markdown_no_changes_and_drift() -> None:
    md = render_plan(drift_plan(), "markdown")
    assert "**No changes to apply: every target was published from its job's latest run" in md
    assert "### Drift (3): objects changed outside publish\n\n" in md
    assert "- <code>target.orders&#95;out</code>: table dropped: " in md
    assert "<details>" not in md


def test_markdown_of_2000_targets_fits_a_pull_request_comment() -> None:
    plan = big_plan(2000)
    md = render_plan(plan, "markdown")
    assert len(md) < MARKDOWN_LIMIT
    lines = md.splitlines()
    assert lines[0].startswith("## Plan for ")
    assert lines[1] == ""
    assert lines[2] == "| | Action | Count |"
    assert "| <code>-/+</code> | replace | 667 |" in lines
    assert "|  | **destructive** | 667 |" in lines
    assert "**Plan: 267 to create, 1,066 to update, 667 to replace, 0 to forget, 200 to run " in md
    assert "Drift: 21 objects changed outside publish, listed below." in md[:1000]
    # the destructive list is cut with a count, and so are the details
    shown = re.findall(r"^- <code>-/\+</code> ", md, flags=re.M)
    cut = re.search(r"^- \.\.\. and ([\d,]+) more destructive changes; run `publish show", md, re.M)
    assert cut and len(shown) + int(cut.group(1).replace(",", "")) == 667
    details = md.count("<details>")
    assert details == md.count("</details>") > 10
    note = re.search(
        r"^\.\.\. ([\d,]+) more changes not shown; run `publish show PLANFILE` for the full plan",
        md,
        re.M,
    )
    assert note and details + int(note.group(1).replace(",", "")) == len(plan.changes)
    # destructive changes are the details kept first
    first = md.index("<details>")
    assert "<b>(destructive)</b>" in md[first : md.index("</summary>", first)]
    # drift survives the cut, in its own section
    assert "### Drift (21): objects changed outside publish" in md


def test_markdown_keeps_the_summary_when_even_it_is_too_long() -> None:
    plan = big_plan(300)
    md = render_markdown(plan, limit=8_000)
    assert len(md) < 8_000
    assert md.startswith("## Plan for sales (environment default)\n\n| | Action | Count |\n")
    assert re.search(r"^- \.\.\. and [\d,]+ more destructive changes", md, re.M)
    assert re.search(r"^\.\.\. [\d,]+ more changes not shown", md, re.M)


def test_markdown_cuts_long_lists_inside_one_change() -> None:
    diff = tuple(SchemaChange(f"c{i}", "added", None, "text", "additive") for i in range(120))
    plan = _one_change_plan(
        Change(
            "target.wide",
            "publish",
            "r",
            publish_action="createAndLoad",
            table="w.main.wide",
            rows_existing=5,
            schema_diff=diff,
        )
    )
    md = render_plan(plan, "markdown")
    assert md.count("<code>+ column c") == 50
    assert "  - ... and 70 more; run `publish show PLANFILE` for the full plan\n" in md
    assert len(render_plan(plan, "text").splitlines()) > 120  # text shows everything


HOSTILE = (
    "evil</summary></details>\n\n# Owned | x | y |\n<script>alert(1)</script>"
    "*bold* _it_ [link](http://example.com) `code` @octocat ~~gone~~ \\ &amp; ![i](x)"
)


def test_markdown_escapes_hostile_values() -> None:
    plan = _one_change_plan(
        Change(
            "target.t",
            "publish",
            HOSTILE,
            publish_action="dropAndLoad",
            table=HOSTILE,
            destructive=True,
            rows_existing=3,
            consequence=HOSTILE,
            details={"note": HOSTILE},
        )
    )
    md = render_plan(plan, "markdown")
    assert md.count("<details>") == md.count("</details>") == 1
    assert md.count("</summary>") == 1
    for raw in (
        "<script>",
        "*bold*",
        "_it_",
        "[link]",
        "`code`",
        "@octocat",
        "~~",
        "![i]",
        "&amp;",
    ):
        assert raw not in md, raw
    assert not re.search(r"^#+ Owned", md, re.M)
    assert "| x | y |" not in md
    # the value is still there, shown as itself
    assert esc(HOSTILE) in md
    assert "&#60;script&#62;alert(1)&#60;/script&#62;" in md
    # and no line of the body starts a block of its own
    table_rows = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert len(table_rows) == 8


def test_esc_is_one_line_and_reversible_by_html_unescape() -> None:
    import html

    value = "a<b>&c|d*e_f`g\\h[i]j~k#l@m!n{o}p$q \"r\" 's'"
    assert html.unescape(esc(value)) == value
    assert "\n" not in esc("a\nb\r\nc")


# --- json ----------------------------------------------------------------------------------


@pytest.mark.parametrize("builder", [example_plan, empty_plan, drift_plan, trifacta_plan])
def test_json_is_exactly_the_canonical_dump(builder: object) -> None:
    plan = builder()  # type: ignore[operator]
    out = render_plan(plan, "json")
    assert out == plan.dumps()
    assert json.loads(out)["plan_id"] == plan.plan_id


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown plan format 'yaml'"):
        render_plan(example_plan(), "yaml")  # type: ignore[arg-type]


# --- determinism and secrets ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_output_is_deterministic(fmt: str) -> None:
    for builder in (example_plan, drift_plan, trifacta_plan, lambda: big_plan(400)):
        first = render_plan(builder(), fmt, color=True)  # type: ignore[arg-type]
        second = render_plan(builder(), fmt, color=True)  # type: ignore[arg-type]
        assert first == second


def test_drift_and_details_order_do_not_depend_on_input_order() -> None:
    plan = drift_plan()
    reversed_plan = Plan(**{**plan.__dict__, "drift": tuple(reversed(plan.drift))})
    for fmt in ("text", "markdown"):
        a = render_plan(plan, fmt)
        b = render_plan(reversed_plan, fmt)
        # same text except the plan id, which hashes the drift in its given order
        assert a.replace(plan.plan_id, "ID") == b.replace(reversed_plan.plan_id, "ID")


SECRET_VALUE = 'pa55-W0rd/with&odd"chars'


def test_no_secret_value_in_any_output() -> None:
    secret = Secret(SECRET_VALUE, names=["PG_PASSWORD"])  # registers the value for redaction
    plan = _one_change_plan(
        Change(
            "connection.pg",
            "update",
            "the password changed",
            details={"password": secret.reference(), "nested": {"url": secret.reference()}},
            api_calls=(
                {
                    "method": "PATCH",
                    "path": "/v4/connections/2",
                    "body": {"credentials": [{"username": "postgres", "password": "***"}]},
                },
            ),
        ),
        # a value that leaked into a message by mistake is still masked by redaction
        Change("job.j", "run", f"token was {SECRET_VALUE}"),
    )
    outputs = {fmt: render_plan(plan, fmt) for fmt in ("text", "markdown", "json")}
    outputs["text-color"] = render_plan(plan, "text", color=True)
    escaped = SECRET_VALUE.replace("&", "&#38;")  # as markdown writes it
    for fmt, out in outputs.items():
        for form in (SECRET_VALUE, escaped, json.dumps(SECRET_VALUE)[1:-1]):
            assert form not in out, fmt
    assert "password: (sensitive: PG_PASSWORD)" in outputs["text"]
    assert 'nested: {"url":"(sensitive: PG_PASSWORD)"}' in outputs["text"]
    assert '"password":"***"' in outputs["text"]
    assert "token was ***" in outputs["text"]
    assert "(sensitive: PG&#95;PASSWORD)" in outputs["markdown"]
    assert json.loads(outputs["json"])["changes"][0]["details"]["password"] == secret.reference()
