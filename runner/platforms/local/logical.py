"""Which result columns carry an input column's text logical type (``json``, wide decimals).

Frames carry JSON and decimals wider than 38 digits as text, so the polars dtype alone
says ``string``. To know whether a recipe's output column is still the input's JSON
(``select *``, a join, a filter) or new text computed from it, the recipe's schema is
computed once more over zero-row inputs whose marked columns have an extension dtype:
polars carries it through pass-through expressions only. A recipe that computes on a
marked column makes that probe fail; its output columns are then plain text.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from runner.quiet import quiet_stderr

_EXTENSION = "publish.logical"


def _probe_frame(schema: pl.Schema, marks: Mapping[str, str]) -> pl.LazyFrame:
    dtypes = {
        name: pl.Extension(_EXTENSION, pl.String, marks[name]) if name in marks else dtype
        for name, dtype in schema.items()
    }
    return pl.DataFrame(schema=dtypes).lazy()


def carried(
    recipe: str | None, inputs: Mapping[str, tuple[pl.Schema, Mapping[str, str]]]
) -> dict[str, str]:
    """Output column -> logical type, for outputs that pass a marked input column through.

    ``inputs`` maps each table to its schema and its marked columns (name -> logical).
    """
    if not any(marks for _, marks in inputs.values()):
        return {}
    if not recipe:
        if len(inputs) != 1:
            return {}
        return dict(next(iter(inputs.values()))[1])
    frames = {table: _probe_frame(schema, marks) for table, (schema, marks) in inputs.items()}
    try:
        with quiet_stderr():
            # run, not only typed: polars types string functions of an extension column
            # as the extension, but running them fails, which is the answer wanted here
            schema = pl.SQLContext(frames=frames, eager=False).execute(recipe).collect().schema
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException, TypeError, ValueError):
        return {}
    out: dict[str, str] = {}
    for name, dtype in schema.items():
        if isinstance(dtype, pl.BaseExtension) and dtype.ext_name() == _EXTENSION:
            meta = dtype.ext_metadata()
            if meta:
                out[name] = meta
    return out
