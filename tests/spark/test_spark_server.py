"""The shared test server's helper: why it cannot start, and its run folder's lifecycle."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests import spark_server


def test_missing_java_is_the_reason_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(spark_server.URL_ENV, raising=False)
    monkeypatch.setattr(spark_server, "java_home", lambda: None)
    monkeypatch.setattr(spark_server, "spark_home", lambda: Path("/somewhere"))
    reason = spark_server.missing()
    assert reason is not None and "no Java runtime" in reason
    monkeypatch.setattr(spark_server, "spark_home", lambda: None)
    reason = spark_server.missing()
    assert reason is not None and "start-connect-server.sh" in reason
    monkeypatch.setenv(spark_server.URL_ENV, "sc://elsewhere:15002")
    assert spark_server.missing() is None  # a running server needs neither


def test_the_run_folder_holds_one_server_and_end_run_stops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(spark_server.RUN_DIR_ENV, raising=False)
    monkeypatch.delenv(spark_server.URL_ENV, raising=False)
    run_dir = spark_server.begin_run()
    assert run_dir is not None and os.environ[spark_server.RUN_DIR_ENV] == str(run_dir)
    assert spark_server.begin_run() is None  # a worker (or a nested run) makes none
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    (run_dir / "server.json").write_text(
        json.dumps({"url": "sc://127.0.0.1:1", "pid": sleeper.pid, "seconds": 1.5})
    )
    assert spark_server.shared_url() == "sc://127.0.0.1:1"  # read, not started again
    assert spark_server.started_in(run_dir) == 1.5
    spark_server.end_run(run_dir)
    with pytest.raises(ProcessLookupError):  # its process group is gone (and reaped)
        os.killpg(sleeper.pid, 0)
    sleeper.wait(timeout=5)
    assert not run_dir.exists() and spark_server.RUN_DIR_ENV not in os.environ
