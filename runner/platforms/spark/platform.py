"""Jobs run on a Spark cluster over Spark Connect; results are published with our own loaders.

Each job gets a Spark Connect session of its own: its inputs become temporary views
named by the spec's ``inputs`` keys, the recipe is Spark SQL over them, and the result is
written as Parquet part files to ``resultsPath``. The output schema comes from Spark's
analysis of the recipe (``DataFrame.schema`` runs nothing), so the plan shows it.
Everything after the run (plan, diff, checks, ledger, state, locks) is the local
platform's: targets read the part files as they read a local job's Parquet results.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runner.errors import PlatformError
from runner.plan.words import plural
from runner.platforms.base import CancelEvent, JobRun, RunProgress
from runner.platforms.local.inputs import file_sha256
from runner.platforms.local.platform import LocalPlatform
from runner.platforms.spark import inputs as spark_inputs
from runner.platforms.spark.results import (
    FileSystemOpener,
    RunLocation,
    fetch,
    prune_runs,
    result_set,
    results_root,
    run_location,
)
from runner.platforms.spark.schema import (
    conform_sql,
    duplicate_names,
    fields_of,
    quote,
    result_schema_of,
)
from runner.platforms.spark.session import SparkSession, connect, message_of, spark_errors
from runner.platforms.spark.url import ConnectUrl, parse_url
from runner.results import ResultSchema, normalise_format, remove_results
from runner.spec.model import SPARK_FORMATS, Connection, Job, Spec, Target
from runner.spec.secrets import redact

#: the view holding a recipe's result, conformed from there to the written types
RESULT_VIEW = "__publish_result"
Connector = Callable[[ConnectUrl, str], SparkSession]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class SparkPlatform(LocalPlatform):
    """The ``spark`` platform of :mod:`runner.platforms.base`."""

    type = "spark"

    def __init__(
        self,
        spec: Spec,
        state_dir: Path,
        *,
        connector: Connector = connect,
        opener: FileSystemOpener | None = None,
    ) -> None:
        super().__init__(spec, state_dir)
        self._connector = connector
        self._opener = opener

    # --- sessions -----------------------------------------------------------------------
    @property
    def url(self) -> ConnectUrl:
        return parse_url(self.spec.platform.url or "")

    @contextmanager
    def _session(self) -> Iterator[SparkSession]:
        session = self._connector(self.url, self.spec.platform.url or "")
        try:
            yield session
        finally:
            try:
                session.stop()
            except spark_errors():  # the server went away: nothing left to release
                pass

    def _fail(self, where: str, exc: BaseException) -> PlatformError:
        return PlatformError(redact(f"{where}: {message_of(exc)}"))

    def _inputs(self, job: Job) -> list[spark_inputs.SparkInput]:
        if not job.inputs:
            raise PlatformError(f"{job.address}: a spark job needs inputs (table name -> file)")
        items = []
        for table, file in job.inputs.items():
            local = None if spark_inputs.is_uri(file) else self._input_path(job, table)
            try:
                items.append(spark_inputs.spark_input(table, file, local))
            except ValueError as exc:
                raise PlatformError(f"{job.address}: input {table}: {exc}") from None
        return items

    def _frame(self, session: SparkSession, job: Job) -> tuple[Any, list[tuple[str, str]]]:
        """The job's conformed result (nothing runs) and its (name, Spark type) fields."""
        items = self._inputs(job)
        for item in items:
            try:
                spark_inputs.register(session, item)
            except spark_errors() as exc:
                raise self._input_error(job, item, exc) from None
        if not job.recipe and len(items) != 1:
            raise PlatformError(
                f"{job.address}: a recipe is needed to combine {len(items)} inputs "
                f"({', '.join(sorted(i.table for i in items))})"
            )
        query = job.recipe or f"select * from {quote(items[0].table)}"
        try:
            result = session.sql(query)
            fields = fields_of(result.schema)
        except spark_errors() as exc:
            raise self._fail(f"{job.address}: recipe", exc) from None
        twice = duplicate_names(fields)
        if twice:
            raise PlatformError(
                f"{job.address}: recipe: the result has more than one column named "
                f"{', '.join(twice)}; give each column its own name (as ...)"
            )
        try:
            result.createOrReplaceTempView(RESULT_VIEW)
            conformed = session.sql(conform_sql(RESULT_VIEW, fields))
        except spark_errors() as exc:
            raise self._fail(f"{job.address}: recipe", exc) from None
        return conformed, fields

    def _input_error(
        self, job: Job, item: spark_inputs.SparkInput, exc: BaseException
    ) -> PlatformError:
        message = message_of(exc)
        if item.source == "avro" and "avro" in message.lower():
            return PlatformError(
                f"{job.address}: input {item.table}: the cluster cannot read Avro (it has no "
                "spark-avro module); add org.apache.spark:spark-avro_2.13 to the server's "
                "spark.jars.packages, or give the input as Parquet, CSV or JSON"
            )
        shown = job.inputs[item.table]
        return PlatformError(
            redact(f"{job.address}: input {item.table}: cannot read {shown}: {message}")
        )

    # --- plan time ----------------------------------------------------------------------
    def job_fingerprint(self, job: Job) -> str:
        definition = {
            "inputs": dict(sorted(job.inputs.items())),
            "recipe": job.recipe,
            "outputs": list(job.outputs),
        }
        digest = hashlib.sha256(_canonical(definition).encode())
        remote = []
        for table in sorted(job.inputs):
            file = job.inputs[table]
            if spark_inputs.is_uri(file):
                remote.append((table, file))
            else:
                digest.update(f"\0{table}\0{file_sha256(self._input_path(job, table))}".encode())
        if remote:
            with self._session() as session:
                for table, file in remote:
                    try:
                        stamp = spark_inputs.remote_stamp(session, file)
                    except spark_errors() as exc:
                        raise self._fail(
                            f"{job.address}: input {table}: cannot list {file}", exc
                        ) from None
                    digest.update(f"\0{table}\0{_canonical(stamp)}".encode())
        return digest.hexdigest()

    def result_schema(self, job: Job) -> ResultSchema | None:
        with self._session() as session:
            _frame, fields = self._frame(session, job)
        return result_schema_of(fields)

    def prune_results(self, keep: Mapping[str, str]) -> None:
        """Delete the result folders of runs other than ``keep`` (job -> run id)."""
        if self._opener is None:
            prune_runs(self.spec, self.state_dir, dict(keep))
        else:
            prune_runs(self.spec, self.state_dir, dict(keep), self._opener)

    def check(self, spec: Spec) -> list[str]:
        problems: list[str] = []
        try:
            parse_url(spec.platform.url or "")
        except PlatformError as exc:
            problems.append(str(exc))
        try:
            results_root(spec)
        except PlatformError as exc:
            problems.append(str(exc))
        for job in spec.jobs.values():
            problems += self._check_job(job)
        for target in spec.targets.values():
            if normalise_format(target.input_format) != "parquet":
                problems.append(
                    f"{target.address}: inputFormat {target.input_format}: spark jobs write "
                    "parquet; publish inputFormat: parquet"
                )
            conn = spec.connections.get(target.connection)
            if conn is not None and conn.vendor is None:
                problems.append(
                    f"{target.address}: {conn.address} has no vendor; the spark platform "
                    "publishes with publish's own loaders and needs vendor and its settings"
                )
        return problems

    def _check_job(self, job: Job) -> list[str]:
        problems = []
        if not job.inputs:
            problems.append(f"{job.address}: a spark job needs inputs (table name -> file)")
        elif not job.recipe and len(job.inputs) > 1:
            problems.append(
                f"{job.address}: a recipe is needed to combine {len(job.inputs)} inputs"
            )
        for table, file in job.inputs.items():
            if spark_inputs.source_of(file) is None:
                problems.append(
                    f"{job.address}: input {table}: cannot read {file}; the extension must be "
                    "one of .csv .json .jsonl .ndjson .parquet .pqt .avro"
                )
        for fmt in job.outputs:
            if fmt not in SPARK_FORMATS:
                problems.append(
                    f"{job.address}: output {fmt}: spark jobs write parquet (a folder of part "
                    "files); use outputs: [parquet]"
                )
        return problems

    # --- apply time ---------------------------------------------------------------------
    def results_dir(self, job: str, run_id: str) -> Path:
        return self.location(job, run_id).local

    def location(self, job: str, run_id: str) -> RunLocation:
        return run_location(self.spec, self.state_dir, job, run_id)

    def run_job(
        self,
        job: Job,
        run_id: str,
        fingerprint: str,
        cancel: CancelEvent,
        progress: RunProgress | None = None,
        *,
        publications: Sequence[tuple[Target, Connection, int | None]] = (),
    ) -> JobRun:
        def say(message: str) -> None:
            if progress is not None:
                progress(message)

        if cancel.is_set():
            raise PlatformError(f"{job.address}: cancelled before it ran")
        where = self.location(job.name, run_id)
        remove_results(where.local)
        say(f"connecting to {self.url.shown}")
        with self._session() as session:
            frame, fields = self._frame(session, job)
            say(f"running on the cluster, writing parquet to {where.cluster}")
            self._write(session, frame, where, job, cancel)
        try:
            if where.remote is not None:
                say(f"copying the results to {where.local}")
                if self._opener is None:
                    fetch(where)
                else:
                    fetch(where, self._opener)
            results = result_set(where.local, result_schema_of(fields))
        except (PlatformError, OSError) as exc:
            raise PlatformError(f"{job.address}: {exc}") from None
        say(plural(results.rows, "row"))
        return JobRun(
            job=job.name,
            run_id=run_id,
            fingerprint=fingerprint,
            results={"parquet": results},
            rows=results.rows,
            schema=results.schema,
            details={"results_dir": str(where.local), "written_to": where.cluster},
        )

    def _write(
        self, session: SparkSession, frame: Any, where: RunLocation, job: Job, cancel: CancelEvent
    ) -> None:
        """Write the frame as Parquet; Ctrl-C interrupts the cluster's work."""
        done = threading.Event()

        def watch() -> None:
            while not done.wait(0.2):
                if cancel.is_set():
                    interrupt = getattr(session, "interruptAll", None)
                    if interrupt is not None:
                        try:
                            interrupt()
                        except spark_errors():
                            pass
                    return

        watcher = threading.Thread(target=watch, name=f"spark-cancel-{job.name}", daemon=True)
        watcher.start()
        try:
            frame.write.mode("overwrite").parquet(where.cluster)
        except spark_errors() as exc:
            remove_results(where.local)
            if cancel.is_set():
                raise PlatformError(
                    f"{job.address}: cancelled; the cluster's work was interrupted and its "
                    "partial results removed"
                ) from None
            raise self._fail(f"{job.address}: recipe", exc) from None
        finally:
            done.set()
            watcher.join()
        if cancel.is_set():
            remove_results(where.local)
            raise PlatformError(f"{job.address}: cancelled; its results were removed")
