"""The Postgres target, and the Redshift target's INSERT path, against the local PostgreSQL."""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest
from _warehouse_data import make_results

from runner.errors import TargetError
from runner.results import ResultSet
from runner.spec.model import Connection
from runner.spec.secrets import Secret
from runner.targets import _common
from runner.targets.base import ColumnInfo, PublishRequest, TableRef
from runner.targets.postgres import PostgresTarget
from runner.targets.redshift import RedshiftTarget

pytestmark = pytest.mark.postgres

HOST = os.environ.get("PUBLISH_TEST_PG_HOST", "127.0.0.1")
PORT = int(os.environ.get("PUBLISH_TEST_PG_PORT", "5432"))
CONN = Connection(
    name="pg", vendor="postgres", host=HOST, port=PORT, database="test", username="postgres"
)
_runs = itertools.count()


@pytest.fixture(params=["postgres", "redshift"])
def target(request: pytest.FixtureRequest, pg_schema: str) -> Iterator[PostgresTarget]:
    t = PostgresTarget(CONN) if request.param == "postgres" else RedshiftTarget(CONN)
    yield t
    t.close()


@pytest.fixture
def db(pg_schema: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(
        host=HOST, port=PORT, user="postgres", dbname="test", autocommit=True
    ) as c:
        c.execute(f'set search_path to "{pg_schema}"')
        yield c


def publish(
    t: PostgresTarget,
    schema: str,
    results: ResultSet,
    action: str,
    *,
    table: str = "orders",
    key: tuple[str, ...] = (),
    run_id: str | None = None,
    name: str = "out",
) -> Any:
    ref = TableRef("pg", (schema,), table)
    run = run_id or f"run-{next(_runs)}"
    return t.publish(PublishRequest(name, ref, action, results, run, key))


def rows(db: psycopg.Connection[Any], table: str = "orders") -> list[tuple[Any, ...]]:
    return db.execute(f'select * from "{table}" order by 1').fetchall()


def frame(ids: range, tag: str = "a") -> pl.DataFrame:
    return pl.DataFrame({"id": list(ids), "name": [f"{tag}{i}" for i in ids]})


def test_types_round_trip(target: PostgresTarget, pg_schema: str, db: Any, tmp_path: Path) -> None:
    utc = dt.UTC
    long = "x" * (100_000 if target.vendor == "postgres" else 65_535)  # redshift varchar(max)
    data = {
        "id": [1, 2, 3],
        "s": ["plain", "", None],  # '' and NULL stay apart
        "long": [long, 'quote " comma , newline \n end', None],
        "flag": [True, False, None],
        "amount": pl.Series(
            [decimal.Decimal("12.34"), None, decimal.Decimal("-0.01")], dtype=pl.Decimal(12, 2)
        ),
        "at": [dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=utc), None, None],
        "local": [dt.datetime(2024, 5, 1, 1, 2, 3, 456789), None, None],
        "day": [dt.date(2024, 2, 29), None, None],
        "f": [1.5, None, float("inf")],
        "small": pl.Series([1, None, -3], dtype=pl.Int16),
    }
    if target.vendor == "postgres":
        data["blob"] = [b"\x00\xff", b"", None]
        data["t"] = [dt.time(1, 2, 3, 456), None, None]
    results = make_results(tmp_path / "r", pl.DataFrame(data))
    result = publish(target, pg_schema, results, "create")
    assert result.rows_loaded == 3 and result.rows_after == 3
    got = rows(db)
    assert [r[1] for r in got] == ["plain", "", None]
    assert got[0][2] == long and got[1][2] == 'quote " comma , newline \n end'
    assert [r[3] for r in got] == [True, False, None]
    assert [r[4] for r in got] == [decimal.Decimal("12.34"), None, decimal.Decimal("-0.01")]
    assert got[0][5] == dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=utc)
    assert got[0][6] == dt.datetime(2024, 5, 1, 1, 2, 3, 456789)
    assert got[0][7] == dt.date(2024, 2, 29)
    assert got[2][8] == float("inf")
    if target.vendor == "postgres":
        assert [r[10] for r in got] == [b"\x00\xff", b"", None]
        assert got[0][11] == dt.time(1, 2, 3, 456)
    types = {c.name: c.sql_type for c in result.columns}
    assert types["at"] == "timestamp with time zone"
    assert types["amount"] == "numeric(12,2)"
    assert types["s"] == ("text" if target.vendor == "postgres" else "character varying(65535)")


def test_every_action(target: PostgresTarget, pg_schema: str, db: Any, tmp_path: Path) -> None:
    first = make_results(tmp_path / "1", frame(range(1, 4)))
    more = make_results(tmp_path / "2", frame(range(4, 6), "b"))
    overlap = make_results(tmp_path / "3", frame(range(3, 7), "u"))

    with pytest.raises(
        TargetError, match="does not exist and load appends to one; use createAndLoad"
    ):
        publish(target, pg_schema, first, "load")
    assert publish(target, pg_schema, first, "create").rows_after == 3
    with pytest.raises(TargetError, match="already exists"):
        publish(target, pg_schema, first, "create")
    assert publish(target, pg_schema, more, "load").rows_after == 5
    assert publish(target, pg_schema, more, "createAndLoad").rows_after == 7
    assert publish(target, pg_schema, first, "truncateAndLoad").rows_after == 3
    assert rows(db) == [(1, "a1"), (2, "a2"), (3, "a3")]
    result = publish(target, pg_schema, overlap, "upsert", key=("id",))
    assert result.rows_after == 6
    assert rows(db) == [(1, "a1"), (2, "a2"), (3, "u3"), (4, "u4"), (5, "u5"), (6, "u6")]
    publish(target, pg_schema, overlap, "upsert", key=("id",))  # same again: same table
    assert len(rows(db)) == 6
    assert publish(target, pg_schema, more, "dropAndLoad").rows_after == 2
    assert rows(db) == [(4, "b4"), (5, "b5")]
    # actions on a missing table create it
    for i, action in enumerate(["createAndLoad", "truncateAndLoad", "dropAndLoad", "upsert"]):
        res = publish(target, pg_schema, first, action, table=f"new{i}", key=("id",))
        assert res.rows_after == 3 and rows(db, f"new{i}") == rows(db, "new0")
    # no staging tables are left behind
    left = db.execute(
        "select count(*) from pg_tables where schemaname = %s and tablename like '\\_pub\\_%%'",
        (pg_schema,),
    ).fetchone()
    assert left == (0,)


def test_truncate_and_load_keeps_views_and_grants(
    target: PostgresTarget, pg_schema: str, db: Any, tmp_path: Path
) -> None:
    publish(target, pg_schema, make_results(tmp_path / "1", frame(range(1, 4))), "create")
    db.execute("create view big as select * from orders where id > 1")
    db.execute("drop role if exists publish_reader")
    db.execute("create role publish_reader")
    try:
        db.execute("grant select on orders to publish_reader")
        publish(
            target, pg_schema, make_results(tmp_path / "2", frame(range(5, 9))), "truncateAndLoad"
        )
        assert db.execute("select count(*) from big").fetchone() == (4,)
        grant = db.execute(
            "select has_table_privilege('publish_reader', 'orders', 'select')"
        ).fetchone()
        assert grant == (True,)
    finally:
        db.execute("drop view big")
        db.execute("revoke all on orders from publish_reader")
        db.execute("drop role publish_reader")


def test_drop_and_load_refuses_when_views_depend(
    target: PostgresTarget, pg_schema: str, db: Any, tmp_path: Path
) -> None:
    publish(target, pg_schema, make_results(tmp_path / "1", frame(range(1, 4))), "create")
    db.execute("create view v_orders as select id from orders")
    with pytest.raises(TargetError, match=rf"views depend on it \({pg_schema}\.v_orders\)"):
        publish(target, pg_schema, make_results(tmp_path / "2", frame(range(5, 9))), "dropAndLoad")
    assert rows(db) == [(1, "a1"), (2, "a2"), (3, "a3")]


def test_ledger_makes_a_repeat_a_no_op(
    target: PostgresTarget, pg_schema: str, db: Any, tmp_path: Path
) -> None:
    results = make_results(tmp_path / "1", frame(range(1, 4)))
    publish(target, pg_schema, results, "createAndLoad", run_id="run-x")
    again = publish(target, pg_schema, results, "createAndLoad", run_id="run-x")
    assert again.already_published and again.rows_loaded == 0 and again.rows_after == 3
    assert len(rows(db)) == 3
    ledger = db.execute("select run_id, target, action, rows from _publish_ledger").fetchall()
    assert ledger == [("run-x", "out", "createAndLoad", 3)]
    # another target name with the same run publishes
    publish(target, pg_schema, results, "createAndLoad", run_id="run-x", name="other")
    assert len(rows(db)) == 6


@pytest.mark.parametrize(
    ("ddl", "value", "column", "message"),
    [
        ("name varchar(10)", "x" * 11, "name", "too long"),
        ("name numeric(5,2)", "12345.5", "name", "overflow"),
    ],
)
def test_a_value_that_does_not_fit_names_row_and_column(
    target: PostgresTarget,
    pg_schema: str,
    db: Any,
    tmp_path: Path,
    ddl: str,
    value: str,
    column: str,
    message: str,
) -> None:
    db.execute(f"create table orders (id bigint not null, {ddl})")
    db.execute("insert into orders values (1, '1')")
    names = ["1"] * 6
    names[4] = value
    results = make_results(tmp_path / "r", pl.DataFrame({"id": range(10, 16), "name": names}))
    for action in ("load", "truncateAndLoad", "upsert"):
        with pytest.raises(TargetError) as err:
            publish(target, pg_schema, results, action, key=("id",))
        text = str(err.value)
        assert "target.out" in text and message in text and "the table is unchanged" in text
        if target.vendor == "postgres":
            assert f"at row 5, column '{column}'" in text
        else:
            assert "in rows 1-6" in text
        assert db.execute("select count(*) from orders").fetchone() == (1,)


def test_not_null_violation_names_row(
    target: PostgresTarget, pg_schema: str, db: Any, tmp_path: Path
) -> None:
    db.execute("create table orders (id bigint not null, name text)")
    results = make_results(tmp_path / "r", pl.DataFrame({"id": [1, 2, None], "name": "abc"}))
    with pytest.raises(TargetError, match="null value") as err:
        publish(target, pg_schema, results, "load")
    if target.vendor == "postgres":
        assert "at row 3, column 'id'" in str(err.value)


def test_describe_one_query_per_schema(
    target: PostgresTarget, pg_schema: str, db: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    db.execute("create table a (id bigint primary key, v numeric(12,2), s varchar(10))")
    db.execute("insert into a select g, g, 'x' from generate_series(1, 50) g")
    db.execute("create table b (t timestamptz not null)")
    db.execute("analyze a")
    refs = [TableRef("pg", (pg_schema,), n) for n in ("a", "b", "missing")]
    info = target.describe(refs)
    assert info[refs[2]] is None
    a, b = info[refs[0]], info[refs[1]]
    assert a is not None and b is not None
    assert (a.rows, a.rows_estimated, b.rows) == (50, False, 0)
    assert [c.sql_type for c in a.columns] == ["bigint", "numeric(12,2)", "character varying(10)"]
    assert b.columns == (ColumnInfo("t", "timestamp with time zone", False),)
    assert target.introspection_queries == 2  # catalog + one UNION ALL of counts
    if target.vendor == "postgres":
        assert a.primary_key == ("id",)
        monkeypatch.setattr(_common, "EXACT_COUNT_LIMIT", 10)
        a2 = target.describe(refs[:1])[refs[0]]
        assert a2 is not None and a2.rows_estimated and a2.rows == 50


def test_type_matches(target: PostgresTarget) -> None:
    def ok(sql_type: str, logical: str) -> bool:
        return target.type_matches(ColumnInfo("c", sql_type), logical)

    assert ok("bigint", "int32") and ok("integer", "int32") and not ok("integer", "int64")
    assert ok("numeric(12,2)", "decimal(10,2)") and not ok("numeric(5,2)", "decimal(10,2)")
    assert ok("text", "string") and ok("character varying(10)", "string")
    assert ok("double precision", "float32") and not ok("real", "float64")
    assert not ok("timestamp without time zone", "timestamptz")
    assert ok("timestamp with time zone", "timestamptz")


def test_connection_errors_name_the_connection_not_the_password() -> None:
    secret = Secret("s3cr3t-#/?@pw", names=["PG_PASSWORD"])
    conn = Connection(
        name="wh",
        vendor="postgres",
        host="127.0.0.1",
        port=1,
        database="test",
        username="postgres",
        password=secret,
    )
    t = PostgresTarget(conn, connect_timeout=2)
    with pytest.raises(TargetError) as err:
        t.describe([TableRef("wh", ("public",), "x")])
    assert "connection.wh (127.0.0.1:1)" in str(err.value)
    assert "s3cr3t" not in str(err.value)


def test_parallel_publishes_through_one_target(
    target: PostgresTarget, pg_schema: str, db: Any, tmp_path: Path
) -> None:
    """The executor publishes several tables of one connection at once, from threads."""
    from concurrent.futures import ThreadPoolExecutor

    results = make_results(tmp_path / "r", frame(range(1, 2001)))
    with ThreadPoolExecutor(4) as pool:
        done = list(
            pool.map(
                lambda i: publish(target, pg_schema, results, "truncateAndLoad", table=f"p{i}"),
                range(4),
            )
        )
    assert [d.rows_after for d in done] == [2000] * 4
    assert [len(rows(db, f"p{i}")) for i in range(4)] == [2000] * 4


SPEC = """\
version: 1
name: warehouses
connections:
  pg: {{vendor: postgres, host: {pg_host}, port: {pg_port}, database: test, username: postgres}}
  maria: {{vendor: mysql, host: {my_host}, port: {my_port}, database: {my_db}, username: root}}
jobs:
  orders_clean:
    inputs: {{orders: data/orders.csv}}
    recipe: select id, customer, amount from orders where amount is not null
targets:
  pg_orders: {{job: orders_clean, connection: pg, path: [{pg_schema}], table: orders,
               action: truncateAndLoad}}
  pg_upsert: {{job: orders_clean, connection: pg, path: [{pg_schema}], table: orders_u,
               action: upsert, key: [id]}}
  maria_orders: {{job: orders_clean, connection: maria, path: [{my_db}], table: orders,
                  action: dropAndLoad}}
  maria_upsert: {{job: orders_clean, connection: maria, path: [{my_db}], table: orders_u,
                  action: upsert, key: [id]}}
"""


@pytest.mark.mysql
def test_apply_publishes_to_postgres_and_mariadb_then_plan_is_empty(
    pg_schema: str, mysql_database: str, db: Any, tmp_path: Path, capsys: Any
) -> None:
    from runner.cli import run

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text("id,customer,amount\n1,a,1.5\n2,b,\n3,c,2\n")
    spec = tmp_path / "publish.yaml"
    spec.write_text(
        SPEC.format(
            pg_host=HOST, pg_port=PORT, pg_schema=pg_schema, my_db=mysql_database,
            my_host=os.environ.get("PUBLISH_TEST_MYSQL_HOST", "127.0.0.1"),
            my_port=os.environ.get("PUBLISH_TEST_MYSQL_PORT", "3306"),
        )
    )  # fmt: skip
    code = run(["apply", str(spec), "--auto-approve", "--allow-destructive"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert rows(db) == [(1, "a", 1.5), (3, "c", 2.0)]
    assert rows(db, "orders_u") == [(1, "a", 1.5), (3, "c", 2.0)]
    code = run(["plan", str(spec), "--detailed-exitcode", "--allow-destructive"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert "No changes" in out.out


def test_describe_while_other_threads_publish(
    target: PostgresTarget, pg_schema: str, tmp_path: Path
) -> None:
    """describe() and publish() at once through one target: whole tables, old or new."""
    from concurrent.futures import ThreadPoolExecutor

    old = make_results(tmp_path / "old", frame(range(1, 1001)))
    new = make_results(tmp_path / "new", frame(range(1, 2001), "b"))
    tables = [f"d{i}" for i in range(3)]
    for t in tables:
        publish(target, pg_schema, old, "createAndLoad", table=t)
    refs = [TableRef("pg", (pg_schema,), t) for t in tables]
    with ThreadPoolExecutor(4) as pool:
        loads = [
            pool.submit(publish, target, pg_schema, new, "truncateAndLoad", table=t) for t in tables
        ]
        looks = [pool.submit(target.describe, refs) for _ in range(6)]
        assert [f.result(timeout=120).rows_after for f in loads] == [2000] * 3
        seen = [f.result(timeout=120) for f in looks]
    for infos in seen:
        assert {info.rows for info in infos.values() if info is not None} <= {1000, 2000}
        assert all(info is not None for info in infos.values())
    assert {i.rows for i in target.describe(refs).values() if i is not None} == {2000}
