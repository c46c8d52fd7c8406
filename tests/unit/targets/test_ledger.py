"""The ledger row written in a transaction of its own retries a deadlock victim (MySQL)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pymysql
import pytest

from runner.targets import _ledger
from runner.targets.mysql.swap import DEADLOCK
from runner.targets.mysql.types import DIALECT


@dataclass
class Request:
    run_id: str = "r1"
    target: str = "out"
    action: str = "truncateAndLoad"
    ref: Any = None


class Connection:
    def __init__(self) -> None:
        self.log: list[str] = []

    def begin(self) -> None:
        self.log.append("begin")

    def commit(self) -> None:
        self.log.append("commit")

    def rollback(self) -> None:
        self.log.append("rollback")


class Cursor:
    """Fails the first ``failures`` inserts with ``error``."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.connection = Connection()
        self.failures = failures
        self.error = error
        self.inserts = 0

    def execute(self, sql: str, params: Any = None) -> None:
        if sql.lstrip().lower().startswith("insert"):
            self.inserts += 1
            if self.inserts <= self.failures:
                raise self.error


def write(cur: Cursor) -> None:
    from runner.targets.base import TableRef

    request = Request(ref=TableRef("my", ("db",), "t"))
    _ledger.write_alone(cur, "`db`.`_publish_ledger`", DIALECT.ledger, request, 3, DEADLOCK)


def test_a_deadlock_victim_is_retried_until_it_commits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ledger.time, "sleep", lambda s: None)
    cur = Cursor(2, pymysql.OperationalError(DEADLOCK, "Deadlock found when trying to get lock"))
    write(cur)
    assert cur.inserts == 3
    assert cur.connection.log == ["begin", "rollback", "begin", "rollback", "begin", "commit"]


def test_a_deadlock_five_times_in_a_row_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ledger.time, "sleep", lambda s: None)
    cur = Cursor(5, pymysql.OperationalError(DEADLOCK, "Deadlock found"))
    with pytest.raises(pymysql.OperationalError):
        write(cur)
    assert cur.inserts == 5


def test_other_errors_are_not_retried() -> None:
    cur = Cursor(1, pymysql.OperationalError(1146, "Table doesn't exist"))
    with pytest.raises(pymysql.OperationalError):
        write(cur)
    assert cur.inserts == 1 and cur.connection.log == ["begin", "rollback"]
