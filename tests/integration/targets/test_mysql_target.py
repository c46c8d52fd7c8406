"""The MySQL/MariaDB target against the local MariaDB (LOAD DATA and the INSERT fallback)."""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pymysql
import pytest
from _warehouse_data import make_results

from runner.errors import TargetError
from runner.results import ResultSet
from runner.spec.model import Connection
from runner.spec.secrets import Secret
from runner.targets import _common
from runner.targets.base import ColumnInfo, PublishRequest, TableRef
from runner.targets.mysql import MysqlTarget, quote
from runner.targets.mysql import target as target_module

pytestmark = pytest.mark.mysql

HOST = os.environ.get("PUBLISH_TEST_MYSQL_HOST", "127.0.0.1")
PORT = int(os.environ.get("PUBLISH_TEST_MYSQL_PORT", "3306"))
CONN = Connection(name="my", vendor="mysql", host=HOST, port=PORT, username="root")
_runs = itertools.count()


@pytest.fixture(params=["load_data", "inserts"])
def target(request: pytest.FixtureRequest, mysql_database: str) -> Iterator[MysqlTarget]:
    t = MysqlTarget(CONN, local_infile=request.param == "load_data")
    yield t
    t.close()


@pytest.fixture
def db(mysql_database: str) -> Iterator[Any]:
    c = pymysql.connect(host=HOST, port=PORT, user="root", database=mysql_database, autocommit=True)
    yield c.cursor()
    c.close()


def publish(
    t: MysqlTarget,
    database: str,
    results: ResultSet,
    action: str,
    *,
    table: str = "orders",
    key: tuple[str, ...] = (),
    run_id: str | None = None,
) -> Any:
    ref = TableRef("my", (database,), table)
    run = run_id or f"run-{next(_runs)}"
    return t.publish(PublishRequest("out", ref, action, results, run, key))


def rows(db: Any, table: str = "orders") -> list[tuple[Any, ...]]:
    db.execute(f"select * from {quote(table)} order by 1")
    return list(db.fetchall())


def frame(ids: range, tag: str = "a") -> pl.DataFrame:
    return pl.DataFrame({"id": list(ids), "name": [f"{tag}{i}" for i in ids]})


def test_types_round_trip(
    target: MysqlTarget, mysql_database: str, db: Any, tmp_path: Path
) -> None:
    data = pl.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "s": ["plain", "", None, "NULL"],  # '' and NULL and the word NULL stay apart
            "long": ["x" * 100_000, 'q " c , n \n \\N end', None, None],
            "flag": [True, False, None, None],
            "amount": pl.Series(
                [decimal.Decimal("12.34"), None, decimal.Decimal("-0.01"), None],
                dtype=pl.Decimal(12, 2),
            ),
            "at": [dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=dt.UTC), None, None, None],
            "day": [dt.date(2024, 2, 29), None, None, None],
            "blob": [b'\x00\xff,"\n', b"", None, None],
        }
    )
    result = publish(target, mysql_database, make_results(tmp_path / "r", data), "create")
    assert result.rows_after == 4
    got = rows(db)
    assert [r[1] for r in got] == ["plain", "", None, "NULL"]
    assert got[0][2] == "x" * 100_000 and got[1][2] == 'q " c , n \n \\N end'
    assert [r[3] for r in got] == [1, 0, None, None]
    assert [r[4] for r in got][:3] == [decimal.Decimal("12.34"), None, decimal.Decimal("-0.01")]
    assert got[0][5] == dt.datetime(2024, 5, 1, 12, 30, 15, 123456)  # stored as UTC
    assert got[0][6] == dt.date(2024, 2, 29)
    assert [r[7] for r in got][:3] == [b'\x00\xff,"\n', b"", None]
    types = {c.name: c.sql_type for c in result.columns}
    assert types == {
        "id": "bigint", "s": "longtext", "long": "longtext", "flag": "tinyint(1)",
        "amount": "decimal(12,2)", "at": "datetime(6)", "day": "date", "blob": "longblob",
    }  # fmt: skip


def test_every_action(target: MysqlTarget, mysql_database: str, db: Any, tmp_path: Path) -> None:
    first = make_results(tmp_path / "1", frame(range(1, 4)))
    more = make_results(tmp_path / "2", frame(range(4, 6), "b"))
    overlap = make_results(tmp_path / "3", frame(range(3, 7), "u"))
    name = mysql_database

    with pytest.raises(TargetError, match="does not exist"):
        publish(target, name, first, "load")
    assert publish(target, name, first, "create").rows_after == 3
    with pytest.raises(TargetError, match="already exists"):
        publish(target, name, first, "create")
    assert publish(target, name, more, "load").rows_after == 5
    assert publish(target, name, more, "createAndLoad").rows_after == 7
    assert publish(target, name, first, "truncateAndLoad").rows_after == 3
    assert rows(db) == [(1, "a1"), (2, "a2"), (3, "a3")]
    assert publish(target, name, overlap, "upsert", key=("id",)).rows_after == 6
    assert rows(db) == [(1, "a1"), (2, "a2"), (3, "u3"), (4, "u4"), (5, "u5"), (6, "u6")]
    assert publish(target, name, more, "dropAndLoad").rows_after == 2
    assert rows(db) == [(4, "b4"), (5, "b5")]
    for i, action in enumerate(["createAndLoad", "truncateAndLoad", "dropAndLoad", "upsert"]):
        res = publish(target, name, first, action, table=f"new{i}", key=("id",))
        assert res.rows_after == 3 and rows(db, f"new{i}") == rows(db, "new0")
    db.execute("select count(*) from information_schema.TABLES where TABLE_SCHEMA = %s "
               "and TABLE_NAME like '\\_pub\\_%%'", (name,))  # fmt: skip
    assert db.fetchone() == (0,)


def test_truncate_and_load_keeps_views_and_definition(
    target: MysqlTarget, mysql_database: str, db: Any, tmp_path: Path
) -> None:
    db.execute("create table orders (id bigint primary key, name varchar(20) not null default 'z')")
    db.execute("insert into orders values (1, 'old')")
    db.execute("create view v_orders as select * from orders where id > 1")
    new = make_results(tmp_path / "n", frame(range(5, 9)))
    publish(target, mysql_database, new, "truncateAndLoad")
    db.execute("select count(*) from v_orders")
    assert db.fetchone() == (4,)
    db.execute("show create table orders")
    ddl = db.fetchone()[1].lower()
    assert "primary key (`id`)" in ddl and "varchar(20) not null default 'z'" in ddl


def test_ledger_makes_a_repeat_a_no_op(
    target: MysqlTarget, mysql_database: str, db: Any, tmp_path: Path
) -> None:
    results = make_results(tmp_path / "1", frame(range(1, 4)))
    for action in ("createAndLoad", "truncateAndLoad"):
        publish(target, mysql_database, results, action, run_id=f"same-{action}")
        again = publish(target, mysql_database, results, "createAndLoad", run_id=f"same-{action}")
        assert again.already_published and again.rows_after == 3
    assert len(rows(db)) == 3


@pytest.mark.parametrize(
    ("ddl", "value", "message"),
    [
        ("name varchar(10)", "x" * 11, "Data (too long|truncated) for column 'name' at row 5"),
        ("name decimal(5,2)", "12345.5", "Out of range value for column 'name' at row 5"),
    ],
)
def test_a_value_that_does_not_fit_names_row_and_column(
    target: MysqlTarget,
    mysql_database: str,
    db: Any,
    tmp_path: Path,
    ddl: str,
    value: str,
    message: str,
) -> None:
    db.execute(f"create table orders (id bigint not null, {ddl})")
    db.execute("insert into orders values (1, '1')")
    names = ["1"] * 6
    names[4] = value
    results = make_results(tmp_path / "r", pl.DataFrame({"id": range(10, 16), "name": names}))
    for action in ("load", "truncateAndLoad", "upsert", "createAndLoad"):
        with pytest.raises(TargetError) as err:
            publish(target, mysql_database, results, action, key=("id",))
        text = str(err.value)
        assert (
            re.search(message, text) and "at row 5, column 'name'" in text and "target.out" in text
        )
        assert rows(db) == [(1, decimal.Decimal("1.00") if "decimal" in ddl else "1")]


def test_describe_one_query_per_database(
    target: MysqlTarget, mysql_database: str, db: Any, monkeypatch: Any
) -> None:
    db.execute("create table a (id int primary key, v decimal(12,2), s varchar(10), f tinyint(1))")
    db.execute("insert into a values (1, 1, 'x', 1), (2, 2, 'y', 0)")
    db.execute("create table b (t datetime(6) not null)")
    refs = [TableRef("my", (mysql_database,), n) for n in ("a", "b", "missing")]
    info = target.describe(refs)
    a, b = info[refs[0]], info[refs[1]]
    assert info[refs[2]] is None and a is not None and b is not None
    assert [c.sql_type for c in a.columns] == ["int", "decimal(12,2)", "varchar(10)", "tinyint(1)"]
    assert (a.rows, a.rows_estimated, a.primary_key, b.rows) == (2, False, ("id",), 0)
    assert b.columns == (ColumnInfo("t", "datetime(6)", False),)
    assert target.introspection_queries == 2
    monkeypatch.setattr(_common, "EXACT_COUNT_LIMIT", 0)
    a2 = target.describe(refs[:1])[refs[0]]
    assert a2 is not None and a2.rows_estimated


def test_type_matches(target: MysqlTarget) -> None:
    def ok(sql_type: str, logical: str) -> bool:
        return target.type_matches(ColumnInfo("c", sql_type), logical)

    assert ok("bigint", "int32") and ok("int(11)", "int32") and not ok("int", "int64")
    assert not ok("int unsigned", "int32") and ok("tinyint(1)", "boolean")
    assert ok("decimal(12,2)", "decimal(10,2)") and not ok("decimal(5,2)", "decimal(10,2)")
    assert ok("varchar(10)", "string") and ok("longtext", "string") and not ok("blob", "string")
    assert ok("datetime(6)", "timestamptz") and not ok("datetime", "timestamp")


def test_identifiers_with_backticks(
    target: MysqlTarget, mysql_database: str, db: Any, tmp_path: Path
) -> None:
    data = pl.DataFrame({"we`ird": [1], "na;me": ["x"]})
    publish(target, mysql_database, make_results(tmp_path / "r", data), "create", table="t`x")
    assert rows(db, "t`x") == [(1, "x")]


def test_connection_errors_name_the_connection_not_the_password() -> None:
    secret = Secret("my-s3cr3t-#/?@pw", names=["MY_PASSWORD"])
    conn = Connection(name="wh", vendor="mysql", host=HOST, port=PORT, username="nobody",
                      password=secret)  # fmt: skip
    with pytest.raises(TargetError) as err:
        MysqlTarget(conn).describe([TableRef("wh", ("test",), "x")])
    assert f"connection.wh ({HOST}:{PORT})" in str(err.value)
    assert "s3cr3t" not in str(err.value)


def test_load_with_a_duplicate_key_fails_and_keeps_the_table(
    target: MysqlTarget, mysql_database: str, db: Any, tmp_path: Path
) -> None:
    db.execute("create table orders (id bigint primary key, name varchar(20))")
    db.execute("insert into orders values (2, 'old')")
    results = make_results(tmp_path / "r", frame(range(1, 4)))
    with pytest.raises(TargetError, match="Duplicate entry '2'"):
        publish(target, mysql_database, results, "load")
    assert rows(db) == [(2, "old")]


def test_parallel_publishes_through_one_target(
    target: MysqlTarget, mysql_database: str, db: Any, tmp_path: Path
) -> None:
    """The executor publishes several tables of one connection at once, from threads."""
    from concurrent.futures import ThreadPoolExecutor

    results = make_results(tmp_path / "r", frame(range(1, 2001)))
    with ThreadPoolExecutor(4) as pool:
        done = list(
            pool.map(
                lambda i: publish(target, mysql_database, results, "upsert", table=f"p{i}",
                                  key=("id",)),
                range(4),
            )
        )  # fmt: skip
    assert [d.rows_after for d in done] == [2000] * 4
    assert [len(rows(db, f"p{i}")) for i in range(4)] == [2000] * 4


def test_describe_while_other_threads_publish(
    target: MysqlTarget, mysql_database: str, tmp_path: Path
) -> None:
    """describe() and publish() at once through one target: whole tables, old or new."""
    from concurrent.futures import ThreadPoolExecutor

    old = make_results(tmp_path / "old", frame(range(1, 1001)))
    new = make_results(tmp_path / "new", frame(range(1, 2001), "b"))
    tables = [f"d{i}" for i in range(3)]
    for t in tables:
        publish(target, mysql_database, old, "createAndLoad", table=t)
    refs = [TableRef("my", (mysql_database,), t) for t in tables]
    before = target.introspection_queries
    with ThreadPoolExecutor(4) as pool:
        loads = [
            pool.submit(publish, target, mysql_database, new, "truncateAndLoad", table=t)
            for t in tables
        ]
        looks = [pool.submit(target.describe, refs) for _ in range(6)]
        assert [f.result(timeout=120).rows_after for f in loads] == [2000] * 3
        seen = [f.result(timeout=120) for f in looks]
    for infos in seen:
        # a table holds the old rows or the new ones; information_schema may miss a table
        # for the instant of the RENAME swap (MariaDB lists tables outside its locks)
        assert {info.rows for info in infos.values() if info is not None} <= {1000, 2000}
    # each describe: one catalog query, and one count query when it found a table;
    # counted from every thread without losing one
    expected = sum(1 + any(i is not None for i in infos.values()) for infos in seen)
    assert target.introspection_queries - before == expected


# -- foreign keys and triggers: no RENAME swap that would strand them -------------------


def pub_tables(db: Any, database: str) -> list[str]:
    db.execute("select TABLE_NAME from information_schema.TABLES where TABLE_SCHEMA = %s "
               "and TABLE_NAME like '\\_pub\\_%%'", (database,))  # fmt: skip
    return [r[0] for r in db.fetchall()]


def references(db: Any, database: str, child: str) -> list[str]:
    db.execute("select REFERENCED_TABLE_NAME from information_schema.REFERENTIAL_CONSTRAINTS "
               "where CONSTRAINT_SCHEMA = %s and TABLE_NAME = %s", (database, child))  # fmt: skip
    return [r[0] for r in db.fetchall()]


def parent_and_child(db: Any, on_delete: str = "restrict") -> None:
    db.execute("create table orders (id bigint primary key, name varchar(20)) engine=InnoDB")
    db.execute("insert into orders values (1, 'old'), (2, 'old')")
    db.execute("create table items (id int primary key, order_id bigint, foreign key (order_id) "
               f"references orders (id) on delete {on_delete}) engine=InnoDB")  # fmt: skip


def test_truncate_and_load_of_a_referenced_table_deletes_and_inserts(
    target: MysqlTarget, mysql_database: str, db: Any, tmp_path: Path
) -> None:
    parent_and_child(db)
    new = make_results(tmp_path / "n", frame(range(5, 8)))
    assert publish(target, mysql_database, new, "truncateAndLoad").rows_after == 3
    assert rows(db) == [(5, "a5"), (6, "a6"), (7, "a7")]
    assert references(db, mysql_database, "items") == ["orders"]  # not an orphaned old table
    assert pub_tables(db, mysql_database) == []
    # a row referenced by another table cannot be deleted: the table keeps its rows
    db.execute("insert into items values (1, 6)")
    with pytest.raises(TargetError) as err:
        publish(target, mysql_database, make_results(tmp_path / "m", frame(range(6, 9))),
                "truncateAndLoad")  # fmt: skip
    assert "rows of another table reference them" in str(err.value)
    assert "`items`" in str(err.value) and "The table is unchanged" in str(err.value)
    assert rows(db) == [(5, "a5"), (6, "a6"), (7, "a7")]
    # and the next publish works (nothing left behind by the failed one)
    db.execute("delete from items")
    publish(target, mysql_database, new, "truncateAndLoad")
    assert references(db, mysql_database, "items") == ["orders"]


def test_truncate_and_load_checks_the_tables_own_foreign_keys(
    target: MysqlTarget, mysql_database: str, db: Any, tmp_path: Path
) -> None:
    parent_and_child(db)
    db.execute("insert into items values (10, 1)")
    good = pl.DataFrame({"id": [20, 21], "order_id": [2, None]})
    publish(target, mysql_database, make_results(tmp_path / "g", good), "truncateAndLoad",
            table="items")  # fmt: skip
    assert rows(db, "items") == [(20, 2), (21, None)]
    assert references(db, mysql_database, "items") == ["orders"]  # LIKE would have lost it
    bad = pl.DataFrame({"id": [30, 31], "order_id": [1, 99]})
    with pytest.raises(TargetError, match="foreign key constraint fails") as err:
        publish(target, mysql_database, make_results(tmp_path / "b", bad), "truncateAndLoad",
                table="items")  # fmt: skip
    assert "the table is unchanged" in str(err.value)
    assert rows(db, "items") == [(20, 2), (21, None)]


def test_truncate_and_load_keeps_triggers(
    target: MysqlTarget, mysql_database: str, db: Any, tmp_path: Path
) -> None:
    db.execute("create table orders (id bigint primary key, name varchar(20))")
    db.execute("create table audit (n int)")
    db.execute("create trigger orders_ins after insert on orders for each row "
               "insert into audit values (new.id)")  # fmt: skip
    db.execute("insert into orders values (1, 'old')")
    publish(target, mysql_database, make_results(tmp_path / "n", frame(range(5, 7))),
            "truncateAndLoad")  # fmt: skip
    assert rows(db) == [(5, "a5"), (6, "a6")]
    db.execute("select n from audit order by n")
    assert [r[0] for r in db.fetchall()] == [1, 5, 6]  # the trigger is still on the table
    assert pub_tables(db, mysql_database) == []


def test_truncate_and_load_refuses_when_deletes_would_cascade(
    target: MysqlTarget, mysql_database: str, db: Any, tmp_path: Path
) -> None:
    parent_and_child(db, on_delete="cascade")
    db.execute("insert into items values (1, 1)")
    with pytest.raises(TargetError, match=r"\.items \(on delete cascade\)"):
        publish(target, mysql_database, make_results(tmp_path / "n", frame(range(5, 7))),
                "truncateAndLoad")  # fmt: skip
    assert rows(db) == [(1, "old"), (2, "old")] and rows(db, "items") == [(1, 1)]


def test_drop_and_load_refuses_a_table_other_tables_reference(
    target: MysqlTarget, mysql_database: str, db: Any, tmp_path: Path
) -> None:
    parent_and_child(db)
    with pytest.raises(TargetError) as err:
        publish(target, mysql_database, make_results(tmp_path / "n", frame(range(5, 7))),
                "dropAndLoad")  # fmt: skip
    text = str(err.value)
    assert f"foreign keys of {mysql_database}.items reference it" in text
    assert "The table is unchanged" in text
    assert rows(db) == [(1, "old"), (2, "old")]
    assert references(db, mysql_database, "items") == ["orders"]
    assert pub_tables(db, mysql_database) == []
    # a table whose only foreign keys are its own is replaced
    publish(target, mysql_database, make_results(tmp_path / "l", pl.DataFrame({"id": [7]})),
            "dropAndLoad", table="items")  # fmt: skip
    assert rows(db, "items") == [(7,)] and references(db, mysql_database, "items") == []


def test_a_failure_after_the_swap_says_the_rows_are_published(
    target: MysqlTarget, mysql_database: str, db: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """If the old table cannot be dropped after the RENAME, the error says what is where."""
    parent_and_child(db)
    monkeypatch.setattr(MysqlTarget, "can_swap", lambda self, cur, request: True)
    new = make_results(tmp_path / "n", frame(range(5, 7)))
    with pytest.raises(TargetError) as err:
        publish(target, mysql_database, new, "truncateAndLoad", run_id="swap-1")
    text = str(err.value)
    assert "unchanged" not in text
    assert "published" in text and "holds the 2 new rows" in text
    assert "could not be dropped" in text and "_pub_old_orders_" in text
    assert rows(db) == [(5, "a5"), (6, "a6")]
    again = publish(target, mysql_database, new, "truncateAndLoad", run_id="swap-1")
    assert again.already_published  # the ledger row was written before the DROP


# -- LOAD DATA LOCAL INFILE only where a server cannot abuse it ------------------------


def test_local_infile_decision() -> None:
    from runner.targets.mysql import local_infile_allowed as allowed

    for host in ("localhost", "127.0.0.1", "127.0.0.2", "127.255.0.9", "::1", "[::1]", None):
        assert allowed(host, {}), host
    for host in ("db.example.com", "10.0.0.5", "192.168.1.2", "::ffff:10.0.0.1", "localhost.evil"):
        assert not allowed(host, {}), host
    remote = "db.example.com"
    assert allowed(remote, {"ssl_verify_cert": "true"})
    assert allowed(remote, {"ssl_verify_identity": "true", "ssl_ca": "/ca.pem"})
    assert not allowed(remote, {"ssl_ca": "/ca.pem"})  # pymysql does not verify with only a CA
    assert not allowed(remote, {"ssl_verify_cert": "false"})
    assert not allowed(remote, {"ssl_verify_cert": "true", "ssl_disabled": "true"})
    assert allowed(remote, {"localInfile": "true"}) and allowed(remote, {"localInfile": True})
    assert not allowed("127.0.0.1", {"localInfile": "false"})
    assert allowed(remote, {"unix_socket": "/run/mysqld/mysqld.sock"})


def test_a_remote_host_without_tls_loads_by_inserts() -> None:
    remote = MysqlTarget(Connection(name="r", vendor="mysql", host="db.example.com"))
    assert remote.local_infile is False
    verified = Connection(name="r", vendor="mysql", host="db.example.com",
                          params={"ssl_verify_identity": "true"})  # fmt: skip
    assert MysqlTarget(verified).local_infile is True
    assert MysqlTarget(CONN).local_infile is True


def test_local_infile_off_never_offers_the_capability(
    mysql_database: str, db: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from pymysql.constants import CLIENT

    conn = Connection(name="my", vendor="mysql", host=HOST, port=PORT, username="root",
                      params={"localInfile": "false"})  # fmt: skip
    t = MysqlTarget(conn)

    def no_load_data(*args: Any) -> int:
        raise AssertionError("LOAD DATA used")

    monkeypatch.setattr(target_module, "load_data", no_load_data)
    monkeypatch.setattr(target_module, "rows_pipe", no_load_data)
    try:
        assert t.local_infile is False
        assert not t.conn.client_flag & CLIENT.LOCAL_FILES  # a rogue server cannot ask
        results = make_results(tmp_path / "r", frame(range(1, 4)))
        for action in ("createAndLoad", "load", "truncateAndLoad"):
            publish(t, mysql_database, results, action)
        assert len(rows(db)) == 3
    finally:
        t.close()
