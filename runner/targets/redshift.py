"""Amazon Redshift target: the Postgres target with Redshift's rules.

Redshift speaks the Postgres protocol, so this reuses :class:`PostgresTarget` (one
transaction per publish holding the load, the action and the ledger row) and overrides
its documented hooks for what Redshift does differently:

- no ``COPY FROM STDIN``: rows arrive by ``COPY ... FROM 's3://...' MANIFEST`` of gzip
  CSV parts when the connection has ``params.s3Staging`` (``s3://bucket/prefix``) and
  ``params.iamRole`` (needs boto3, which is not a dependency). Each publish writes its
  parts under a folder of its own, ``<prefix>/publish/<run id>/<target>-<uuid4>/``
  (the targets of a run publish in parallel), plus a ``manifest.json`` listing exactly
  those parts, which the COPY loads (never "whatever is under a prefix"); afterwards it
  deletes only its own keys. Without S3 staging rows arrive by multi-row
  ``INSERT ... VALUES`` batches (slow: Redshift itself calls single-row inserts
  prohibitively slow; configure S3 staging for big results);
- ``TRUNCATE`` commits the transaction it runs in and ``ALTER TABLE APPEND`` cannot run
  in one, so neither is used: truncateAndLoad is ``DELETE`` + insert, dropAndLoad is
  CREATE + insert + DROP + RENAME, upsert is ``DELETE ... USING`` staging + ``INSERT``,
  all inside the one transaction (Redshift enforces no unique keys, so there is no
  ON CONFLICT);
- no advisory locks: ``LOCK`` on the ledger table serialises publishes in a schema;
- catalog from ``information_schema.columns`` (no ``unnest ... with ordinality`` on the
  leader node), exact ``count(*)`` for every table (columnar counts are cheap);
- types: strings are ``varchar(65535)`` (varchar(max)), binary is ``varbyte``.
"""

from __future__ import annotations

import gzip
import importlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import psycopg
from psycopg import sql

from runner.errors import TargetError
from runner.spec.model import Connection
from runner.spec.secrets import reveal
from runner.targets import _common as common
from runner.targets.base import ColumnInfo, PublishRequest, TableInfo, TableRef
from runner.targets.frames import batches, prepare
from runner.targets.postgres import Copy, PostgresTarget
from runner.targets.postgres_types import DIALECT as PG_DIALECT
from runner.targets.postgres_types import csv_bytes, pg_type_matches

NAME_LIMIT = 127
#: bind parameters per INSERT statement (Redshift and Postgres allow 32767+)
MAX_PARAMS = 30_000
MAX_ROWS_PER_INSERT = 5_000

DIALECT = replace(
    PG_DIALECT,
    vendor="redshift",
    types={
        **PG_DIALECT.types,
        "string": "varchar(65535)",
        "json": "varchar(65535)",  # JSON text
        "binary": "varbyte",
    },
    name_bytes=NAME_LIMIT,
    max_precision=38,
    title="Redshift",
    fold_case=True,  # names are lower-cased, quoted or not
)


def s3_folder(prefix: str, run_id: str, target: str) -> str:
    """``<prefix>/publish/<run id>/<target>-<uuid4>/``: one publish attempt's own folder.

    The run id and target name are reduced to characters safe in an S3 key; the uuid
    keeps two attempts (or two targets whose names reduce alike) apart.
    """

    def safe(part: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.=-]", "_", part)[:100] or "_"

    own = f"{safe(target)}-{uuid.uuid4().hex}"
    return "/".join(p for p in (prefix.strip("/"), "publish", safe(run_id), own) if p) + "/"


def manifest_json(bucket: str, keys: Sequence[str]) -> bytes:
    """A COPY manifest naming exactly ``keys`` (every one must be there)."""
    entries = [{"url": f"s3://{bucket}/{key}", "mandatory": True} for key in keys]
    return json.dumps({"entries": entries}).encode()


_COLUMNS = """
    select table_name, column_name, data_type, is_nullable = 'YES',
           character_maximum_length, numeric_precision, numeric_scale
      from information_schema.columns
     where table_schema = {} and table_name in ({})
     order by table_name, ordinal_position
"""


def _type_of(data_type: str, length: int | None, precision: int | None, scale: int | None) -> str:
    t = data_type.lower()
    if t in ("character varying", "character") and length:
        return f"{t}({length})"
    if t == "numeric" and precision:
        return f"numeric({precision},{scale or 0})"
    return t


class RedshiftTarget(PostgresTarget):
    vendor = "redshift"
    dialect = DIALECT
    name_limit = NAME_LIMIT
    STAGE_LIKE = "create temp table {} (like {})"

    def __init__(self, connection: Connection, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self.s3_staging = str(reveal(connection.params.get("s3Staging")) or "") or None
        self.iam_role = str(reveal(connection.params.get("iamRole")) or "") or None
        #: returns a boto3-like S3 client; replaced in tests
        self.s3_client_factory = self._boto3_client

    def open_connection(self) -> psycopg.Connection[Any]:
        kwargs = self._connect_kwargs()
        if self.connection.port is None:
            kwargs["port"] = 5439
        conn = psycopg.connect(**kwargs)
        conn.execute(f"set statement_timeout to {int(self.statement_timeout * 1000)}")
        conn.execute("set timezone to 'UTC'")
        return conn

    def type_matches(self, column: ColumnInfo, logical: str) -> bool:
        if logical == "binary":
            return column.sql_type.startswith(("varbyte", "binary varying"))
        return pg_type_matches(column.sql_type, logical)

    # -- catalog (no unnest ... with ordinality on the leader node) ---------------------

    def _columns(
        self, cur: psycopg.Cursor[Any], schema: str, tables: Sequence[str]
    ) -> dict[str, list[ColumnInfo]]:
        cur.execute(
            sql.SQL(_COLUMNS).format(
                sql.Literal(schema), sql.SQL(", ").join(map(sql.Literal, tables))
            )
        )
        out: dict[str, list[ColumnInfo]] = {}
        for table, name, typ, nullable, length, precision, scale in cur.fetchall():
            column = ColumnInfo(
                str(name), _type_of(str(typ), length, precision, scale), bool(nullable)
            )
            out.setdefault(str(table), []).append(column)
        return out

    def describe_schema(self, schema: str, refs: list[TableRef]) -> dict[TableRef, TableInfo]:
        names = sorted({r.table for r in refs})
        with self.conn.cursor() as cur:
            cols = self._columns(cur, schema, names)
            self._counted()
            counts = self._count(cur, schema, sorted(cols))
        return {
            ref: TableInfo(ref=ref, columns=tuple(cols[ref.table]), rows=counts[ref.table])
            for ref in refs
            if ref.table in cols
        }

    def table_in(self, cur: psycopg.Cursor[Any], ref: TableRef) -> TableInfo | None:
        cols = self._columns(cur, self._schema(ref), [ref.table]).get(ref.table)
        return TableInfo(ref, tuple(cols), -1, True) if cols else None

    def ledger_lock(self, conn: psycopg.Connection[Any], ref: TableRef) -> None:
        """No advisory locks on Redshift; a collision is caught and ignored."""

    def lock(self, cur: psycopg.Cursor[Any], ref: TableRef) -> None:
        cur.execute(sql.SQL("lock table {}").format(self._ident(ref, "_publish_ledger")))

    # -- loading ------------------------------------------------------------------------

    def copy_rows(self, cur: psycopg.Cursor[Any], job: Copy) -> int:
        """No COPY FROM STDIN on Redshift: S3 COPY when configured, else INSERTs."""
        if job.before is not None:
            job.before()
        if self.s3_staging:
            return self._load_s3(cur, job)
        return self._load_inserts(cur, job)

    def _load_inserts(self, cur: psycopg.Cursor[Any], job: Copy) -> int:
        request = job.request
        schema = request.results.schema
        names = sql.SQL(", ").join(map(sql.Identifier, schema.names))
        one = sql.SQL("({})").format(
            sql.SQL(", ").join(
                sql.SQL("to_varbyte(%s, 'hex')") if c.type == "binary" else sql.SQL("%s")
                for c in schema.columns
            )
        )
        per = max(1, min(MAX_ROWS_PER_INSERT, MAX_PARAMS // max(len(schema.columns), 1)))
        rows = 0
        for frame in batches(request):
            prepared = prepare(frame, binary_prefix="")
            for start in range(0, len(prepared), per):
                chunk = prepared.slice(start, per)
                values = [v for row in chunk.iter_rows() for v in row]
                statement = sql.SQL("insert into {} ({}) values {}").format(
                    job.table, names, sql.SQL(", ").join([one] * len(chunk))
                )
                try:
                    cur.execute(statement, values)
                except psycopg.Error as exc:
                    raise TargetError(
                        f"target.{request.target}: {request.action} into {request.ref} failed "
                        f"in rows {rows + 1}-{rows + len(chunk)}: "
                        f"{exc.diag.message_primary or exc}; the table is unchanged"
                    ) from None
                rows += max(cur.rowcount, 0)
            if job.progress is not None:
                job.progress(rows)
        return rows

    def _boto3_client(self) -> Any:
        try:
            boto3 = importlib.import_module("boto3")
        except ImportError:
            raise TargetError(
                f"{common.where(self.connection)}: params.s3Staging is set, which loads through "
                "S3 with boto3; install it (pip install boto3) or remove s3Staging to load "
                "with batched INSERTs"
            ) from None
        region = reveal(self.connection.params.get("region"))
        return boto3.client("s3", region_name=region) if region else boto3.client("s3")

    def _s3_place(self) -> tuple[str, str]:
        assert self.s3_staging is not None
        if not self.iam_role:
            raise TargetError(
                f"{common.where(self.connection)}: params.s3Staging needs params.iamRole "
                "(the role Redshift assumes to read the bucket)"
            )
        if not self.s3_staging.startswith("s3://"):
            raise TargetError(
                f"{common.where(self.connection)}: s3Staging must be s3://bucket/prefix"
            )
        bucket, _, prefix = self.s3_staging[5:].partition("/")
        return bucket, prefix

    def _load_s3(self, cur: psycopg.Cursor[Any], job: Copy) -> int:
        request, progress = job.request, job.progress
        bucket, prefix = self._s3_place()
        client = self.s3_client_factory()
        folder = s3_folder(prefix, request.run_id, request.target)
        keys: list[str] = []
        rows = 0
        try:
            for i, frame in enumerate(batches(request)):
                key = f"{folder}part-{i:05d}.csv.gz"
                keys.append(key)  # before the upload: a failed put may have left an object
                client.put_object(Bucket=bucket, Key=key, Body=gzip.compress(csv_bytes(frame), 5))
                rows += len(frame)
                if progress is not None:
                    progress(rows)
            if not keys:
                return 0  # nothing to COPY (an empty manifest is an error)
            manifest = f"{folder}manifest.json"
            keys.append(manifest)
            client.put_object(Bucket=bucket, Key=manifest, Body=manifest_json(bucket, keys[:-1]))
            names = sql.SQL(", ").join(map(sql.Identifier, request.results.schema.names))
            cur.execute(
                sql.SQL(
                    "copy {} ({}) from {} iam_role {} manifest format as csv gzip null as '' "
                    "timeformat 'auto' dateformat 'auto' acceptinvchars"
                ).format(
                    job.table,
                    names,
                    sql.Literal(f"s3://{bucket}/{manifest}"),
                    sql.Literal(self.iam_role),
                )
            )
            cur.execute("select pg_last_copy_count()")
            row = cur.fetchone()
            return int(row[0]) if row else 0
        finally:
            for key in keys:
                try:
                    client.delete_object(Bucket=bucket, Key=key)
                except Exception:  # noqa: S112 - cleanup is best effort
                    continue

    def merge(
        self,
        cur: psycopg.Cursor[Any],
        request: PublishRequest,
        stage: sql.Identifier,
        types: Mapping[str, str],
    ) -> None:
        """Redshift enforces no unique keys: delete the staged keys, then insert."""
        target = self._ident(request.ref)
        match = sql.SQL(" and ").join(
            sql.SQL("{}.{} = {}.{}").format(target, sql.Identifier(k), stage, sql.Identifier(k))
            for k in request.key
        )
        cols = sql.SQL(", ").join(map(sql.Identifier, request.results.schema.names))
        cur.execute(sql.SQL("delete from {} using {} where {}").format(target, stage, match))
        cur.execute(
            sql.SQL("insert into {} ({}) select {} from {}").format(target, cols, cols, stage)
        )
        cur.execute(sql.SQL("drop table {}").format(stage))
