"""The postgres state backend through the whole CLI: apply, an empty next plan, the lock."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.cli.helpers import BASIC, publish, write_spec
from tests.conftest import PG_HOST, PG_PORT

STATE = """\
state:
  backend: postgres
  url: "{{ secret('PUBLISH_TEST_STATE_URL') }}"
"""


def test_apply_with_state_in_postgres(
    tmp_path: Path,
    pg_schema: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"postgresql://postgres:s3cr%23t@{PG_HOST}:{PG_PORT}/test?options=-csearch_path%3D{pg_schema}"
    monkeypatch.setenv("PUBLISH_TEST_STATE_URL", url)
    spec = write_spec(tmp_path, BASIC.replace("connections:", STATE + "connections:", 1))
    r = publish(capsys, "apply", "--auto-approve", str(spec))
    assert r.code == 0, r.err + r.out
    r = publish(capsys, "plan", "--detailed-exitcode", str(spec))
    assert r.code == 0, r.err + r.out
    assert not list(tmp_path.glob(".publish/*.state.json"))  # nothing in a local file
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="test") as conn:
        serials = conn.execute(
            f'select max(serial) from "{pg_schema}".publish_state where spec = %s', ("shop",)
        ).fetchone()
    assert serials is not None and serials[0] >= 4
    r = publish(capsys, "state", "list", str(spec))
    assert "target.orders_out" in r.out.split()
    assert "s3cr#t" not in r.out + r.err and url not in r.out + r.err
