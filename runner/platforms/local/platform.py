"""Jobs run in-process with polars; results are published with our own loaders.

A job's inputs become tables named by the spec's ``inputs`` keys; the recipe is polars
SQL over them, run lazily and streamed into the result files. The output schema comes
from the lazy query's schema, so the planner knows it before anything runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from runner.errors import PlatformError
from runner.plan.words import plural
from runner.platforms.base import ApiCall, CancelEvent, ConnectionResult, JobRun, RunProgress
from runner.platforms.local.ahead import StageAhead
from runner.platforms.local.avro_blocks import AvroReadError
from runner.platforms.local.inputs import INPUT_EXTENSIONS, inferring, marked_columns, scan_input
from runner.platforms.local.logical import carried
from runner.platforms.local.preview import Preview, PreviewStore
from runner.platforms.local.shape import InputShapeError, checked_sha256, json_problem
from runner.results import (
    EXTENSIONS,
    ResultsCancelled,
    ResultSchema,
    ResultSet,
    normalise_format,
    schema_of,
    write_results,
)
from runner.spec.inputs import InputRefused, check_input, input_roots
from runner.spec.model import Connection, Job, Spec, Target
from runner.spec.secrets import Secret
from runner.state.files import check_no_links, make_dirs, remove_tree
from runner.state.model import JobRunRecord
from runner.targets.base import Progress, PublishRequest, PublishResult, TableRef
from runner.targets.pool import TargetPool

_POLARS_ERRORS = (pl.exceptions.PolarsError, pl.exceptions.PanicException)


def _polars_message(exc: BaseException) -> str:
    """The first paragraph of a polars error (without the plan dump that follows)."""
    text = str(exc).strip() or type(exc).__name__
    return text.split("\n\n", 1)[0].strip()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _below(root: Path, path: Path) -> bool:
    """Whether ``path`` lies inside ``root`` once links are resolved (state can be edited)."""
    return path.resolve().is_relative_to(root.resolve())


def _fingerprint_value(value: Any) -> Any:
    return value.fingerprint if isinstance(value, Secret) else value


class LocalPlatform:
    """The ``local`` platform of :mod:`runner.platforms.base`."""

    type = "local"

    def __init__(self, spec: Spec, state_dir: Path) -> None:
        self.spec = spec
        self.state_dir = state_dir
        self._targets = TargetPool(spec.base_dir)

    # --- plan time --------------------------------------------------------------------
    def connection_fingerprint(self, connection: Connection) -> str:
        data = {
            "vendor": connection.vendor,
            "id": connection.id,
            "host": connection.host,
            "port": connection.port,
            "database": connection.database,
            "username": connection.username,
            "password": _fingerprint_value(connection.password),
            "params": {k: _fingerprint_value(v) for k, v in sorted(connection.params.items())},
        }
        return hashlib.sha256(_canonical(data).encode()).hexdigest()

    def _input_path(self, job: Job, table: str) -> Path:
        roots = input_roots(self.spec.base_dir, self.spec.inputs_root)
        try:
            return check_input(self.spec.base_dir, roots, job.inputs[table])
        except InputRefused as exc:
            raise PlatformError(f"{job.address}: input {table}: {exc}") from None

    def job_fingerprint(self, job: Job) -> str:
        definition = {
            "inputs": dict(sorted(job.inputs.items())),
            "recipe": job.recipe,
            "outputs": list(job.outputs),
        }
        digest = hashlib.sha256(_canonical(definition).encode())
        for table in sorted(job.inputs):
            path = self._input_path(job, table)
            try:
                with inferring(path):  # a plan that runs the job asks for its schema next
                    sha = checked_sha256(path, job.inputs[table])
            except InputShapeError as exc:
                raise PlatformError(f"{job.address}: input {table}: {exc}") from None
            digest.update(f"\0{table}\0{sha}".encode())
        return digest.hexdigest()

    def _marks(self, job: Job, query_inputs: Mapping[str, pl.LazyFrame]) -> dict[str, str]:
        """Result columns that carry ``json`` or a wide decimal from an input (as text)."""
        inputs = {
            table: (frame.collect_schema(), marked_columns(self._input_path(job, table)))
            for table, frame in query_inputs.items()
        }
        return carried(job.recipe, inputs)

    def _query(self, job: Job, *, schema_only: bool) -> pl.LazyFrame:
        return self._query_marked(job, schema_only=schema_only)[0]

    def _query_marked(
        self, job: Job, *, schema_only: bool, staging: Path | None = None
    ) -> tuple[pl.LazyFrame, dict[str, str]]:
        if not job.inputs:
            raise PlatformError(
                f"{job.address}: a local job needs inputs (table name -> file); "
                "wrangledDataset runs only on the trifacta platform"
            )
        frames: dict[str, pl.LazyFrame] = {}
        for table in job.inputs:
            path = self._input_path(job, table)
            try:
                frames[table] = scan_input(path, schema_only=schema_only, staging=staging)
                frames[table].collect_schema()  # a JSON file is read here: name its input
            except AvroReadError as exc:
                raise PlatformError(
                    f"{job.address}: input {table}: cannot read {job.inputs[table]}: {exc}"
                ) from None
            except OSError as exc:
                raise PlatformError(
                    f"{job.address}: input {table}: cannot read {job.inputs[table]}: "
                    f"{exc.strerror or exc}"
                ) from None
            except ValueError as exc:
                raise PlatformError(f"{job.address}: input {table}: {exc}") from None
            except _POLARS_ERRORS as exc:
                found = json_problem(path, job.inputs[table]) or (
                    f"cannot read {job.inputs[table]}: {_polars_message(exc)}"
                )
                raise PlatformError(f"{job.address}: input {table}: {found}") from None
        if not job.recipe:
            if len(frames) != 1:
                raise PlatformError(
                    f"{job.address}: a recipe is needed to combine {len(frames)} inputs "
                    f"({', '.join(sorted(frames))})"
                )
            return next(iter(frames.values())), self._marks(job, frames)
        try:
            query = pl.SQLContext(frames=frames, eager=False).execute(job.recipe)
            query.collect_schema()
        except _POLARS_ERRORS as exc:
            raise PlatformError(f"{job.address}: recipe: {_polars_message(exc)}") from None
        return query, self._marks(job, frames)

    def result_schema(self, job: Job) -> ResultSchema | None:
        query, marks = self._query_marked(job, schema_only=True)
        try:
            return schema_of(query.collect_schema(), marks)
        except _POLARS_ERRORS as exc:
            raise PlatformError(f"{job.address}: recipe: {_polars_message(exc)}") from None

    def has_results(self, run: JobRunRecord, fmt: str) -> bool:
        recorded = run.results.get(normalise_format(fmt))
        if recorded is None:
            return False
        # only files under the folder of every job's results: a state file can be edited
        root = self.results_dir("job", "run").parent.parent
        files = [self.state_dir / f for f in recorded.get("files", ())]
        return all(f.is_file() and _below(root, f) for f in files)

    def check_connection(self, connection: Connection, remote_id: int | None = None) -> str | None:
        """Nothing to test remotely: plan describes every table through the connection."""
        return None

    def prune_results(self, keep: Mapping[str, str]) -> None:
        """Delete the result folders of runs other than ``keep`` (job -> run id)."""
        root = self.state_dir / "results"
        check_no_links(self.state_dir, root)
        if not root.is_dir():
            return
        for job_dir in root.iterdir():
            if job_dir.is_symlink() or not job_dir.is_dir():
                continue  # never followed: a link here could lead out of the state folder
            for run_dir in job_dir.iterdir():
                if keep.get(job_dir.name) != run_dir.name and (
                    run_dir.is_symlink() or run_dir.is_dir()
                ):
                    remove_tree(root, run_dir)

    def check(self, spec: Spec) -> list[str]:
        problems: list[str] = []
        for job in spec.jobs.values():
            if not job.inputs:
                problems.append(
                    f"{job.address}: a local job needs inputs (table name -> file); "
                    "wrangledDataset runs only on the trifacta platform"
                )
            elif not job.recipe and len(job.inputs) > 1:
                problems.append(
                    f"{job.address}: a recipe is needed to combine {len(job.inputs)} inputs"
                )
            for table, file in job.inputs.items():
                if not file.lower().endswith(INPUT_EXTENSIONS):
                    problems.append(
                        f"{job.address}: input {table}: cannot read {file}; the extension "
                        f"must be one of {', '.join(INPUT_EXTENSIONS)}"
                    )
            for fmt in job.outputs:
                if normalise_format(fmt) not in EXTENSIONS:
                    problems.append(
                        f"{job.address}: output {fmt} is not written by the local platform; "
                        f"use {', '.join(sorted(EXTENSIONS))}"
                    )
        for target in spec.targets.values():
            source = spec.jobs.get(target.job)
            fmt = normalise_format(target.input_format)
            if source is not None and fmt not in {normalise_format(f) for f in source.outputs}:
                problems.append(
                    f"{target.address}: inputFormat {target.input_format} is not among "
                    f"{source.address}'s outputs ({', '.join(source.outputs)}); add it there"
                )
            conn = spec.connections.get(target.connection)
            if conn is not None and conn.vendor is None:
                problems.append(
                    f"{target.address}: {conn.address} has no vendor; the local platform "
                    "publishes with its own loaders and needs vendor and its settings"
                )
        return problems

    def connection_calls(self, connection: Connection, remote_id: int | None) -> list[ApiCall]:
        return []

    def job_calls(
        self,
        job: Job,
        run_id: str,
        *,
        publications: Sequence[tuple[Target, Connection, int | None]] = (),
    ) -> list[ApiCall]:
        return []

    def publish_calls(
        self, target: Target, connection: Connection, *, connection_id: int | None = None
    ) -> list[ApiCall]:
        return []

    # --- apply time -------------------------------------------------------------------
    def ensure_connection(self, connection: Connection, remote_id: int | None) -> ConnectionResult:
        return ConnectionResult()

    def results_dir(self, job: str, run_id: str) -> Path:
        return self.state_dir / "results" / job / run_id

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
        run_dir = self.results_dir(job.name, run_id)
        remove_tree(self.state_dir, run_dir)
        make_dirs(self.state_dir, run_dir)
        # Avro inputs are staged as Arrow IPC here (pruned with the run's folder if left)
        staging = run_dir.parent / f".inputs-{run_id}"
        try:
            return self._run(job, run_id, fingerprint, cancel, say, run_dir, staging)
        finally:
            remove_tree(self.state_dir, staging)

    def _run(
        self,
        job: Job,
        run_id: str,
        fingerprint: str,
        cancel: CancelEvent,
        say: Callable[[str], None],
        run_dir: Path,
        staging: Path,
    ) -> JobRun:
        store = PreviewStore(self.state_dir)
        preview = store.load(job.name, fingerprint, verify=job.outputs)
        if preview is not None:
            results = store.materialise(preview, run_dir, job.outputs)
            say("the results previewed at plan (the job did not run again)")
        else:
            say("reading inputs")
            results = self._write_results(job, run_dir, job.outputs, cancel, say, staging)
        first = next(iter(results.values()))
        say(plural(first.rows, "row"))
        return JobRun(
            job=job.name,
            run_id=run_id,
            fingerprint=fingerprint,
            results=results,
            rows=first.rows,
            schema=first.schema,
            details={"results_dir": str(run_dir), "previewed": preview is not None},
        )

    def _write_results(
        self,
        job: Job,
        folder: Path,
        formats: Sequence[str],
        cancel: CancelEvent | None,
        say: Callable[[str], None],
        staging: Path,
        **written: Any,  # write_results' on_parquet, internal_parquet
    ) -> dict[str, ResultSet]:
        """Run the recipe into ``folder`` in ``formats``; nothing is left behind on failure."""
        make_dirs(self.state_dir, staging)
        query, marks = self._query_marked(job, schema_only=False, staging=staging)
        if cancel is not None and cancel.is_set():
            raise PlatformError(f"{job.address}: cancelled before it ran")
        say(f"writing {', '.join(formats)}")
        try:
            return write_results(query, folder, formats, cancel=cancel, logical=marks, **written)
        except ResultsCancelled:
            remove_tree(self.state_dir, folder)
            raise PlatformError(
                f"{job.address}: cancelled; its partial results were removed"
            ) from None
        except _POLARS_ERRORS as exc:
            remove_tree(self.state_dir, folder)
            for table in job.inputs:  # a JSON record past those read for the schema
                found = json_problem(self._input_path(job, table), job.inputs[table])
                if found:
                    raise PlatformError(f"{job.address}: input {table}: {found}") from None
            raise PlatformError(f"{job.address}: recipe: {_polars_message(exc)}") from None
        except OSError as exc:
            remove_tree(self.state_dir, folder)
            raise PlatformError(
                f"{job.address}: cannot write results under {folder}: {exc}"
            ) from None

    # --- preview (plan time; side-effect free but the preview store and StageAhead) -----
    def preview(self, job: Job, fingerprint: str) -> Preview:
        """The job's results for this fingerprint, run now unless the store has them."""
        store = PreviewStore(self.state_dir)
        found = store.load(job.name, fingerprint)
        if found is not None:
            return found
        staged = store.staging(job.name)
        inputs = staged.parent / f".inputs-{staged.name}"
        ahead = StageAhead(self.spec, job, self._targets)  # in publish apply SPEC only
        internal = "parquet" not in {normalise_format(f) for f in job.outputs}
        try:
            formats = [*job.outputs, "parquet"]
            results = self._write_results(
                job,
                staged,
                formats,
                None,
                lambda _: None,
                inputs,
                on_parquet=ahead,
                internal_parquet=internal,
            )
            ahead.written(results)
        except BaseException:
            remove_tree(self.state_dir, staged)
            raise
        finally:
            remove_tree(self.state_dir, inputs)
        return store.save(job.name, fingerprint, staged, results)

    def recorded_results(self, record: JobRunRecord) -> dict[str, ResultSet] | None:
        """The result sets of a recorded run, when all their files are still here."""
        results = {k: ResultSet.from_json(v, self.state_dir) for k, v in record.results.items()}
        if not results or not all(f.is_file() for r in results.values() for f in r.files):
            return None
        return results

    def publish(
        self,
        target: Target,
        connection: Connection,
        run: JobRun,
        cancel: CancelEvent,
        progress: Progress | None = None,
        *,
        connection_id: int | None = None,
    ) -> PublishResult:
        fmt = normalise_format(target.input_format)
        results = run.results.get(fmt) or run.results.get(target.input_format)
        if results is None:
            wrote = ", ".join(sorted(run.results)) or "nothing"
            raise PlatformError(
                f"{target.address}: run {run.run_id} of job.{run.job} has no {fmt} results "
                f"(it wrote {wrote}); add {fmt} to the job's outputs and run it again"
            )
        if cancel.is_set():
            raise PlatformError(f"{target.address}: cancelled before publishing")

        def report(rows: int) -> None:
            # called by the target after each batch, inside its transaction: raising rolls back
            if progress is not None and not cancel.is_set():
                progress(rows)
            if cancel.is_set():
                raise PlatformError(
                    f"{target.address}: cancelled while loading; the table was left as it was"
                )

        request = PublishRequest(
            target=target.name,
            ref=TableRef.of(target),
            action=target.action,
            results=results,
            run_id=run.run_id,
            key=tuple(target.key),
            on_schema_change=target.on_schema_change,
            locked=lambda: _not_cancelled(cancel, target),
        )
        return self._targets.get(connection).publish(request, report)

    def close(self) -> None:
        self._targets.close()


def _not_cancelled(cancel: CancelEvent, target: Target) -> None:
    """Refuse to load once the table's lock is held when apply was interrupted meanwhile."""
    if cancel.is_set():
        raise PlatformError(
            f"{target.address}: not loaded: apply was interrupted while it waited for the "
            "table's lock; the table was left as it was"
        )
