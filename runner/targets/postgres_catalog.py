"""The catalog queries of the PostgreSQL target."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

#: columns, row estimate, size, primary key and unique keys (plain columns of each unique
#: index other than the primary key, not partial) of named tables of one schema
CATALOG = """
    select c.relname, a.attname, lower(format_type(a.atttypid, a.atttypmod)),
           not a.attnotnull, c.reltuples::bigint, pg_relation_size(c.oid),
           coalesce((select array_agg(pa.attname::text order by k.ord)
                       from pg_index i
                       cross join unnest(i.indkey) with ordinality as k(attnum, ord)
                       join pg_attribute pa
                         on pa.attrelid = i.indrelid and pa.attnum = k.attnum
                      where i.indrelid = c.oid and i.indisprimary), '{}'),
           coalesce((select json_agg(u.cols)
                       from (select array_agg(pa.attname::text order by k.ord) as cols
                               from pg_index i
                               cross join unnest(i.indkey) with ordinality as k(attnum, ord)
                               join pg_attribute pa
                                 on pa.attrelid = i.indrelid and pa.attnum = k.attnum
                              where i.indrelid = c.oid and i.indisunique
                                and not i.indisprimary and i.indpred is null
                                and i.indexprs is null
                              group by i.indexrelid) u), '[]')
      from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
      join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
     where n.nspname = %s and c.relname = any(%s) and c.relkind in ('r','p','v','m','f')
     order by c.relname, a.attnum
"""

_TABLE_OID = """(select c.oid from pg_class c join pg_namespace n on n.oid = c.relnamespace
                  where n.nspname = %s and c.relname = %s)"""


def dependent_views(cur: Any, schema: str, table: str) -> list[str]:
    """``schema.view`` of every view that depends on the table."""
    cur.execute(
        f"""
        select distinct vn.nspname || '.' || v.relname
          from pg_depend d
          join pg_rewrite r on r.oid = d.objid
          join pg_class v on v.oid = r.ev_class
          join pg_namespace vn on vn.oid = v.relnamespace
         where d.refobjid = {_TABLE_OID}
           and v.oid <> d.refobjid
         order by 1
        """,
        (schema, table),
    )
    return [str(r[0]) for r in cur.fetchall()]


def unique_keys(cur: Any, schema: str, table: str) -> list[list[str]]:
    """The sorted columns of each unique, non-partial index of the table."""
    cur.execute(
        f"""
        select array_agg(a.attname::text order by k.ord)
          from pg_index i
          cross join unnest(i.indkey) with ordinality as k(attnum, ord)
          join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
         where i.indrelid = {_TABLE_OID}
           and i.indisunique and i.indpred is null
         group by i.indexrelid
        """,
        (schema, table),
    )
    return [sorted(r[0]) for r in cur.fetchall()]


def leftover_tables(cur: Any, schema: str, size: int, prefixes: tuple[str, str]) -> list[str]:
    """Tables of the schema named ``size`` characters long, starting with a prefix."""
    a, b = prefixes
    cur.execute(
        """
        select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = %s and c.relkind = 'r' and length(c.relname) = %s
           and (left(c.relname, %s) = %s or left(c.relname, %s) = %s)
        """,
        (schema, size, len(a), a, len(b), b),
    )
    return [str(r[0]) for r in cur.fetchall()]


def small_enough(reltuples: int, size: int, limit: int) -> bool:
    """Whether a table's catalog estimate is small enough to count it exactly."""
    if reltuples >= 0:
        return reltuples < limit
    return size < 64 * 1024 * 1024  # never analysed: count it when it is small on disk


def retype_error(conn: Any, table: sql.Composable, column: str, to_type: str) -> str | None:
    """PostgreSQL's words when a value of ``column`` (or its type) cannot become
    ``to_type`` as ``ALTER COLUMN ... TYPE ... USING col::type`` converts it, else None.

    Reads every value of the column (the ALTER would too), in no transaction of its own.
    """
    query = sql.SQL("select count({col}::{typ}) from {table}").format(
        col=sql.Identifier(column), typ=sql.SQL(to_type), table=table
    )
    try:
        with conn.cursor() as cur:
            cur.execute(query)
    except psycopg.Error as exc:
        return str(exc.diag.message_primary or exc).strip()
    return None
