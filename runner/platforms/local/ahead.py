"""A preview's rows handed to its job's targets as soon as they are written to parquet.

Targets that can (SQLite, see :mod:`runner.targets.sqlite_ahead`) start staging them in
a worker thread while the preview writes the job's other formats; the content hashes of
those formats, once written, tell the publish later in the same apply that the staged
rows are its rows. Outside ``publish apply SPEC`` the targets start nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.errors import PublishError
from runner.results import ResultSet, normalise_format
from runner.spec.model import Job, Spec
from runner.targets import sqlite_ahead
from runner.targets.base import PublishRequest, TableRef
from runner.targets.pool import TargetPool


class StageAhead:
    """``write_results``' ``on_parquet`` for a job's preview, then :meth:`written`."""

    def __init__(self, spec: Spec, job: Job, targets: TargetPool) -> None:
        self.spec, self.job, self.targets = spec, job, targets
        self.started: list[tuple[str, Any]] = []  # (format the target publishes, its staging)

    def __call__(self, parquet: ResultSet) -> bool:
        """Start the stagings; whether any reads the parquet file meanwhile."""
        if not sqlite_ahead.active():
            return False
        for target in self.spec.targets.values():
            connection = self.spec.connections.get(target.connection)
            if target.job != self.job.name or connection is None:
                continue
            try:
                start = getattr(self.targets.get(connection), "stage_ahead", None)
            except PublishError:
                continue  # the publish says why
            if start is None:
                continue
            request = PublishRequest(
                target=target.name,
                ref=TableRef.of(target),
                action=target.action,
                results=parquet,
                run_id="",
                key=tuple(target.key),
                on_schema_change=target.on_schema_change,
            )
            try:
                ahead = start(request)
            except Exception:  # noqa: S112 - a head start only: the publish stages the rows
                continue
            if ahead is not None:
                self.started.append((normalise_format(target.input_format), ahead))
        return bool(self.started)

    def written(self, results: Mapping[str, ResultSet]) -> None:
        """The preview's results: the hash of the format each target publishes."""
        for fmt, ahead in self.started:
            if fmt in results:
                ahead.bind(results[fmt].sha256)
