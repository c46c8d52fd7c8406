"""docs/python.md's Airflow task and Dagster asset run, with small stand-ins for both libraries.

The stand-ins provide only the decorators and classes the examples use, with the meaning
they have there: Airflow tasks run in dependency order once the DAG function has built them,
and a short-circuit task that returns False skips what follows; a Dagster asset is called
with a context whose ``log`` is a logger.
"""

from __future__ import annotations

import logging
import re
import shutil
import sqlite3
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "python.md"


def snippet(name: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    m = re.search(rf"<!-- test: {name} -->\n```python\n(.*?)```", text, re.S)
    assert m, f"docs/python.md has no python block marked test: {name}"
    return m.group(1)


# --- an Airflow stand-in ------------------------------------------------------------------------


@dataclass(eq=False)
class Node:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    short_circuit: bool
    upstream: list[Node] = field(default_factory=list)
    state: str = "none"
    value: Any = None

    def __rshift__(self, other: Node) -> Node:
        other.upstream.append(self)
        return other


class Airflow:
    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.runs: list[list[Node]] = []

    def _task(self, short_circuit: bool) -> Callable[..., Any]:
        def decorate(fn: Callable[..., Any]) -> Callable[..., Node]:
            def call(*args: Any) -> Node:
                node = Node(fn, args, short_circuit)
                node.upstream += [a for a in args if isinstance(a, Node)]
                self.nodes.append(node)
                return node

            return call

        return decorate

    def task(self, fn: Callable[..., Any] | None = None, **_: Any) -> Any:
        return self._task(False)(fn) if fn is not None else self._task(False)

    def dag(self, **_: Any) -> Callable[[Callable[[], None]], Callable[[], None]]:
        def decorate(build: Callable[[], None]) -> Callable[[], None]:
            def run() -> None:
                self.nodes = []
                build()
                for node in self.nodes:  # built in dependency order
                    if any(u.state != "success" for u in node.upstream):
                        node.state = "skipped"
                        continue
                    args = [a.value if isinstance(a, Node) else a for a in node.args]
                    node.value = node.fn(*args)
                    node.state = "skipped" if node.short_circuit and not node.value else "success"
                self.runs.append(self.nodes)

            return run

        return decorate

    def modules(self) -> dict[str, types.ModuleType]:
        airflow = types.ModuleType("airflow")
        decorators = types.ModuleType("airflow.decorators")

        def task(fn: Callable[..., Any] | None = None, **kw: Any) -> Any:
            return self.task(fn, **kw)

        task.short_circuit = self._task(True)  # type: ignore[attr-defined]
        decorators.task = task  # type: ignore[attr-defined]
        decorators.dag = self.dag  # type: ignore[attr-defined]
        pendulum = types.ModuleType("pendulum")
        pendulum.datetime = lambda *a, **k: (a, k)  # type: ignore[attr-defined]
        return {"airflow": airflow, "airflow.decorators": decorators, "pendulum": pendulum}


# --- a Dagster stand-in -------------------------------------------------------------------------


def dagster_module() -> types.ModuleType:
    dagster = types.ModuleType("dagster")

    class AssetExecutionContext:
        def __init__(self) -> None:
            self.log = logging.getLogger("dagster.test")

    @dataclass
    class MaterializeResult:
        metadata: dict[str, Any]

    class MetadataValue:
        @staticmethod
        def md(text: str) -> str:
            return text

    def asset(**_: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return lambda fn: fn

    for obj in (AssetExecutionContext, MaterializeResult, MetadataValue, asset):
        setattr(dagster, obj.__name__, obj)
    return dagster


@pytest.fixture
def quickstart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    src = ROOT / "publish_specs" / "quickstart"
    dest = tmp_path / "publish_specs" / "quickstart"
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".publish", "*.db", "*.db-*"))
    monkeypatch.chdir(tmp_path)
    return dest


def _count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as c:
        return int(c.execute(f"select count(*) from {table}").fetchone()[0])


def test_airflow_example_applies_then_short_circuits(
    quickstart: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = Airflow()
    for name, module in fake.modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    namespace: dict[str, Any] = {}
    exec(compile(snippet("airflow"), str(DOC), "exec"), namespace)  # runs the DAG once

    (first,) = fake.runs
    assert [n.state for n in first] == ["success", "success", "success"]
    assert first[2].value["summary"].endswith("0 failed, 0 skipped")
    assert _count(quickstart / "warehouse.db", "orders_latest") > 0

    namespace["publish_quickstart"]()  # the next day: nothing changed
    second = fake.runs[1]
    assert second[0].value is False
    assert [n.state for n in second] == ["success", "skipped", "skipped"]


def test_dagster_example_materialises_the_asset(
    quickstart: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    dagster = dagster_module()
    monkeypatch.setitem(sys.modules, "dagster", dagster)
    namespace: dict[str, Any] = {}
    exec(compile(snippet("dagster"), str(DOC), "exec"), namespace)

    with caplog.at_level(logging.INFO, logger="dagster.test"):
        result = namespace["orders_latest"](dagster.AssetExecutionContext())  # type: ignore[attr-defined]
    assert result.metadata["plan_id"]
    assert "- `target.orders_latest`: done" in result.metadata["steps"]
    assert "target.orders_latest: done" in caplog.text
    assert _count(quickstart / "warehouse.db", "orders_latest") > 0
    with sqlite3.connect(quickstart / "warehouse.db") as c:  # only the selected target
        tables = {r[0] for r in c.execute("select name from sqlite_master where type='table'")}
    assert "orders_rebuilt" not in tables
