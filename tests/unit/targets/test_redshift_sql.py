"""The SQL the Redshift target sends, captured by a recording connection (no server)."""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from psycopg import sql

from runner.errors import TargetError
from runner.results import ResultSet, schema_of
from runner.spec.model import Connection
from runner.targets.base import PublishRequest, TableRef
from runner.targets.redshift import RedshiftTarget

Responder = Callable[[str], list[tuple[Any, ...]]]


class RecordingCursor:
    def __init__(self, log: list[str], respond: Responder) -> None:
        self.log, self.respond, self.rows = log, respond, list[tuple[Any, ...]]()

    def execute(self, query: Any, params: Any = None) -> RecordingCursor:
        text = query.as_string(None) if isinstance(query, sql.Composable) else str(query)
        text = " ".join(text.split())
        self.log.append(text if params is None else f"{text} -- {len(params)} params")
        self.rows = self.respond(text.lower())
        # what the server reports an INSERT stored: one row per VALUES tuple
        self.rowcount = text.count("(%s,") if text.startswith("insert into") else -1
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def __enter__(self) -> RecordingCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class RecordingConnection:
    closed = False

    def __init__(self, respond: Responder) -> None:
        self.log: list[str] = []
        self.respond = respond

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self.log, self.respond)

    def execute(self, query: Any, params: Any = None) -> RecordingCursor:
        return self.cursor().execute(query, params)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.log.append("BEGIN")
        try:
            yield
        except BaseException:
            self.log.append("ROLLBACK")
            raise
        self.log.append("COMMIT")

    def rollback(self) -> None:
        self.log.append("ROLLBACK")

    def close(self) -> None:
        self.closed = True


def responder(existing: bool, rows: int = 3) -> Responder:
    """A catalog in which table s.t (id, name, at) exists or not."""

    def respond(text: str) -> list[tuple[Any, ...]]:
        if "information_schema.columns" in text and existing:
            return [
                ("t", "id", "bigint", True, None, 64, 0),
                ("t", "name", "character varying", True, 65535, None, None),
                ("t", "at", "timestamp with time zone", True, None, None, None),
            ]
        if text.startswith("select count(*)") or "pg_last_copy_count" in text:
            return [(rows,)]
        return []

    return respond


@pytest.fixture
def results(tmp_path: Path) -> ResultSet:
    frame = pl.DataFrame(
        {
            "id": [1, 2, 3],
            "name": ["a", "", None],
            "at": [dt.datetime(2024, 1, 1, tzinfo=dt.UTC)] * 3,
        }
    )
    path = tmp_path / "part-0.parquet"
    frame.write_parquet(path)
    return ResultSet("parquet", (path,), schema_of(frame.schema), 3, "x")


def target(existing: bool, **params: str) -> tuple[RedshiftTarget, RecordingConnection]:
    conn = RecordingConnection(responder(existing))
    t = RedshiftTarget(
        Connection(name="rs", vendor="redshift", host="example", database="dev", params=params)
    )
    t._conn = conn
    return t, conn


def publish(t: RedshiftTarget, results: ResultSet, action: str, key: tuple[str, ...] = ()) -> None:
    t.publish(PublishRequest("out", TableRef("rs", ("s",), "t"), action, results, "run-1", key))


def data_step(log: list[str]) -> list[str]:
    """The statements of the publish transaction (the last BEGIN ... COMMIT)."""
    begin = len(log) - 1 - log[::-1].index("BEGIN")
    assert log[-1] == "COMMIT"
    return log[begin:]


@pytest.mark.parametrize("action", ["create", "load", "truncateAndLoad", "dropAndLoad", "upsert"])
def test_no_truncate_or_append_and_one_transaction(action: str, results: ResultSet) -> None:
    t, conn = target(existing=action != "create")
    publish(t, results, action, key=("id",))
    step = data_step(conn.log)
    text = "\n".join(conn.log).lower()
    assert "truncate" not in text
    assert "append" not in text
    assert "copy" not in text  # no COPY FROM STDIN on Redshift
    assert any(s.startswith('insert into "s"."_publish_ledger"') for s in step)
    assert step.count("BEGIN") == 1


def test_truncate_and_load_is_delete_then_insert(results: ResultSet) -> None:
    t, conn = target(existing=True)
    publish(t, results, "truncateAndLoad")
    step = data_step(conn.log)
    delete = step.index('delete from "s"."t"')
    insert = next(i for i, s in enumerate(step) if s.startswith('insert into "s"."t"'))
    assert delete < insert
    assert step[insert].endswith("-- 9 params")  # 3 rows x 3 columns, one multi-row INSERT
    assert step[insert].count("(%s, %s, %s)") == 3


def test_upsert_deletes_matching_keys_then_inserts(results: ResultSet) -> None:
    t, conn = target(existing=True)
    publish(t, results, "upsert", key=("id",))
    step = data_step(conn.log)
    stage = next(s for s in step if s.startswith("create temp table"))
    assert '(like "s"."t")' in stage
    delete = next(s for s in step if s.startswith('delete from "s"."t" using'))
    assert '"s"."t"."id" = "_pub_stg_t_' in delete
    assert any(s.startswith('insert into "s"."t" ("id", "name", "at") select') for s in step)
    assert "on conflict" not in "\n".join(step)


def test_drop_and_load_swaps_by_rename_in_the_transaction(results: ResultSet) -> None:
    t, conn = target(existing=True)
    publish(t, results, "dropAndLoad")
    step = data_step(conn.log)
    create = next(i for i, s in enumerate(step) if s.startswith('create table "s"."_pub_new_t_'))
    drop = step.index('drop table "s"."t"')
    rename = next(i for i, s in enumerate(step) if s.startswith('alter table "s"."_pub_new_t_'))
    assert create < drop < rename
    assert step[rename].endswith('rename to "t"')
    assert "varchar(65535)" in step[create]


def test_locks_the_ledger_not_an_advisory_lock(results: ResultSet) -> None:
    t, conn = target(existing=True)
    publish(t, results, "load")
    text = "\n".join(conn.log)
    assert 'lock table "s"."_publish_ledger"' in text
    assert "pg_advisory" not in text


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.deleted: list[str] = []

    def put_object(self, Bucket: str, Key: str, Body: bytes) -> None:
        self.objects[f"{Bucket}/{Key}"] = Body

    def delete_object(self, Bucket: str, Key: str) -> None:
        self.deleted.append(f"{Bucket}/{Key}")


def s3_target(s3: FakeS3) -> tuple[RedshiftTarget, RecordingConnection]:
    t, conn = target(
        existing=True, s3Staging="s3://bucket/stage", iamRole="arn:aws:iam::1:role/load"
    )
    t.s3_client_factory = lambda: s3
    return t, conn


def test_s3_staging_copies_gzip_csv_parts_by_manifest(results: ResultSet) -> None:
    s3 = FakeS3()
    t, conn = s3_target(s3)
    publish(t, results, "truncateAndLoad")
    copy = next(s for s in conn.log if s.startswith("copy "))
    part, manifest = s3.objects  # in upload order
    m = re.fullmatch(
        r"bucket/stage/publish/run-1/out-[0-9a-f]{32}/", part[: -len("part-00000.csv.gz")]
    )
    assert m and part.endswith("/part-00000.csv.gz")
    assert manifest == part.replace("part-00000.csv.gz", "manifest.json")
    assert copy.startswith(
        f'copy "s"."t" ("id", "name", "at") from \'s3://{manifest}\' '
        "iam_role 'arn:aws:iam::1:role/load' manifest "
    )
    assert "gzip" in copy
    assert json.loads(s3.objects[manifest]) == {
        "entries": [{"url": f"s3://{part}", "mandatory": True}]
    }
    lines = gzip.decompress(s3.objects[part]).decode().splitlines()
    assert lines == [  # strings quoted, NULL an empty unquoted field
        '1,"a","2024-01-01 00:00:00"',
        '2,"","2024-01-01 00:00:00"',
        '3,,"2024-01-01 00:00:00"',
    ]
    assert s3.deleted == [part, manifest]  # its own keys, nothing else
    step = data_step(conn.log)
    assert step.index('delete from "s"."t"') < step.index(copy)


def test_s3_staging_targets_of_one_run_do_not_share_a_folder(results: ResultSet) -> None:
    """The executor publishes a run's targets in parallel: each has its own folder and
    manifest, and cleaning up one never deletes the other's parts."""
    s3 = FakeS3()
    copies: list[str] = []
    for name in ("out", "out", "other"):  # two attempts of one target, and another target
        t, conn = s3_target(s3)
        t.publish(PublishRequest(name, TableRef("rs", ("s",), "t"), "load", results, "run-1"))
        copies += [s for s in conn.log if s.startswith("copy ")]
    folders = [k.rsplit("/", 1)[0] for k in s3.objects if k.endswith("manifest.json")]
    assert len(set(folders)) == 3
    assert [f.split("/")[-1].split("-")[0] for f in folders] == ["out", "out", "other"]
    assert all(f.startswith("bucket/stage/publish/run-1/") for f in folders)
    for folder, copy in zip(folders, copies, strict=True):
        assert f"from 's3://{folder}/manifest.json'" in copy and " manifest " in copy
        entries = json.loads(s3.objects[f"{folder}/manifest.json"])["entries"]
        assert [e["url"] for e in entries] == [f"s3://{folder}/part-00000.csv.gz"]
    assert sorted(s3.deleted) == sorted(s3.objects)  # each deleted once, by its owner


def test_s3_folder_names_are_safe_keys() -> None:
    from runner.targets.redshift import s3_folder

    a = s3_folder("/p/q/", "run 1/../x", "we ird/t")
    assert a.startswith("p/q/publish/run_1_.._x/we_ird_t-") and a.endswith("/")
    assert a != s3_folder("/p/q/", "run 1/../x", "we ird/t")


def test_s3_staging_without_boto3_says_to_install_it(
    results: ResultSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    real = importlib.import_module

    def no_boto3(name: str, *args: Any) -> Any:
        if name == "boto3":
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_boto3)
    t, conn = target(existing=True, s3Staging="s3://bucket/x", iamRole="arn:aws:iam::1:role/r")
    with pytest.raises(TargetError, match=r"install it \(pip install boto3\)"):
        publish(t, results, "load")
    assert "ROLLBACK" in conn.log


def test_types() -> None:
    t, _ = target(existing=False)
    assert t.sql_type("string") == "varchar(65535)"
    assert t.sql_type("binary") == "varbyte"
    assert t.sql_type("timestamptz") == "timestamp with time zone"
    assert t.sql_type("decimal(12,2)") == "numeric(12,2)"
    with pytest.raises(TargetError, match="at most 38"):
        t.sql_type("decimal(40,2)")


def test_staging_names_are_bounded_and_never_match_another_table() -> None:
    from runner.targets._common import staging_name, staging_prefix

    long = "x" * 200
    for limit in (63, 64, 127):
        name = staging_name("stg", long, "run-1", limit)
        assert len(name.encode()) <= limit
        assert name != staging_name("stg", long + "y", "run-1", limit)
        assert name != staging_name("stg", long, "run-2", limit)
    prefix, size = staging_prefix("stg", "orders", 63)
    mine = staging_name("stg", "orders", "run-1", 63)
    other = staging_name("stg", "orders_u", "run-1", 63)
    assert mine.startswith(prefix) and len(mine) == size
    assert not (other.startswith(prefix) and len(other) == size)
