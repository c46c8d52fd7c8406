"""Shared fixtures: real database servers (skip on a laptop without them, fail in CI)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import spark_server

PG_HOST = os.environ.get("PUBLISH_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("PUBLISH_TEST_PG_PORT", "5432"))
MYSQL_HOST = os.environ.get("PUBLISH_TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("PUBLISH_TEST_MYSQL_PORT", "3306"))
REQUIRE_SERVICES = os.environ.get("PUBLISH_REQUIRE_SERVICES") == "1"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip when the server is not there, unless PUBLISH_REQUIRE_SERVICES=1 (CI): then fail."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} and PUBLISH_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(f"{message}; start it to run this test")


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema in database `test` on the local PostgreSQL, dropped afterwards."""
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", dbname="test", autocommit=True
    ) as c:
        c.execute(f'create schema "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(
            host=PG_HOST, port=PG_PORT, user="postgres", dbname="test", autocommit=True
        ) as c:
            c.execute(f'drop schema if exists "{schema}" cascade')


@pytest.fixture
def pg_db(pg_schema: str) -> Iterator[Any]:
    """An autocommit connection to database `test` whose search_path is ``pg_schema``."""
    import psycopg

    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", dbname="test", autocommit=True
    ) as c:
        c.execute(f'set search_path to "{pg_schema}"')
        yield c


@pytest.fixture
def mysql_database() -> Iterator[str]:
    """A fresh database on the local MariaDB, dropped afterwards."""
    require_service("MariaDB", MYSQL_HOST, MYSQL_PORT)
    import pymysql

    name = f"t_{uuid.uuid4().hex[:10]}"
    conn = pymysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="", autocommit=True
    )
    try:
        with conn.cursor() as cur:
            cur.execute(f"create database `{name}`")
        yield name
    finally:
        with conn.cursor() as cur:
            cur.execute(f"drop database if exists `{name}`")
        conn.close()


#: the run folder of the shared Spark server, held by the config that made it
_SPARK_RUN_DIR = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """The controller (or the only process) names the run folder of the shared Spark server."""
    if not hasattr(config, "workerinput"):
        run_dir = spark_server.begin_run()
        if run_dir is not None:
            config.stash[_SPARK_RUN_DIR] = run_dir


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how long the shared Spark server took to start (it counts against CI's time)."""
    run_dir = terminalreporter.config.stash.get(_SPARK_RUN_DIR, None)
    started = spark_server.started_in(run_dir) if run_dir is not None else None
    if started is not None:
        terminalreporter.write_line(
            f"spark: one local Spark Connect server, started in {started:.1f} s"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    """The controller stops the shared Spark server, after every worker is done."""
    run_dir = config.stash.get(_SPARK_RUN_DIR, None)
    if run_dir is not None:
        spark_server.end_run(run_dir)
        del config.stash[_SPARK_RUN_DIR]


@pytest.fixture(scope="session")
def spark_url() -> str:
    """The URL of the run's local Spark Connect server (one per run, started on first use).

    Skipped with the reason when Java or pyspark is missing; failed instead when
    PUBLISH_REQUIRE_SERVICES=1 (CI).
    """
    reason = spark_server.missing()
    if reason is not None:
        if REQUIRE_SERVICES:
            pytest.fail(f"Spark: {reason} and PUBLISH_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(f"Spark: {reason}")
    return spark_server.shared_url()
