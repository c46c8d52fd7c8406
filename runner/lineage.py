"""OpenLineage run events for every job run and publication of an apply.

With the optional extra (``pip install 'publish-runner[lineage]'``, openlineage-python) and an
OpenLineage configuration (``OPENLINEAGE_URL``, ``OPENLINEAGE_CONFIG``, ``openlineage.yml`` in
the working folder or ``~/.openlineage/``, or ``OPENLINEAGE__TRANSPORT__*`` variables), apply
emits for each step that runs a job or publishes to a table:

- ``START`` when it starts, ``COMPLETE`` when it finishes, ``FAIL`` (with the error message)
  when it fails, ``ABORT`` when Ctrl-C stopped it;
- job runs: the input files as input datasets, the result files as output datasets;
- publications: the result files as inputs, the target table as output, with the
  ``schema`` facet (columns and types) and the row count.

Datasets are named as the OpenLineage naming spec says (``postgres://host:port`` +
``database.schema.table``, ``mysql://host:port`` + ``database.table``, ``file`` + path).
No secret, user name or password ever goes into an event. ``OPENLINEAGE_DISABLED=true``
turns it off; ``OPENLINEAGE_NAMESPACE`` names the jobs' namespace (default ``publish``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner import __version__
from runner.apply.executor import Events, StepResult
from runner.plan.model import Change
from runner.results import ResultSet
from runner.spec.model import Spec, Target
from runner.spec.secrets import redact
from runner.state.model import State

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import InputDataset, OutputDataset

log = logging.getLogger("runner.lineage")

PRODUCER = f"https://pypi.org/project/publish-runner/{__version__}"
DEFAULT_PORTS = {"postgres": 5432, "redshift": 5439, "mysql": 3306}


def configured(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> bool:
    """Whether the standard OpenLineage configuration asks for events (and does not disable them)."""
    env = os.environ if environ is None else environ
    if env.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OPENLINEAGE_URL") or env.get("OPENLINEAGE_CONFIG"):
        return True
    if any(k.startswith("OPENLINEAGE__TRANSPORT") for k in env):
        return True
    files = [
        (cwd or Path.cwd()) / "openlineage.yml",
        Path.home() / ".openlineage" / "openlineage.yml",
    ]
    return any(f.is_file() for f in files)


def lineage_events(spec: Spec, state: Callable[[], State], state_dir: Path) -> LineageEvents | None:
    """The lineage observer of an apply, or None when lineage is not configured.

    Configured without the extra installed: one warning saying what to install.
    """
    if not configured():
        return None
    try:
        from openlineage.client import OpenLineageClient
    except ImportError:
        log.warning(
            "OpenLineage is configured but openlineage-python is not installed: "
            "pip install 'publish-runner[lineage]'; no lineage events are sent"
        )
        return None
    return LineageEvents(OpenLineageClient(), spec, state, state_dir)


# --- dataset names ----------------------------------------------------------------------------


def table_dataset(spec: Spec, target: Target) -> tuple[str, str]:
    """(namespace, name) of a target's table, per the OpenLineage naming spec."""
    conn = spec.connections[target.connection]
    vendor = conn.vendor
    if vendor == "sqlite":
        db = Path(conn.database or "")
        db = db if db.is_absolute() else (spec.base_dir / db).resolve()
        return f"sqlite://{db.as_posix()}", ".".join((*(target.path or ("main",)), target.table))
    if vendor in DEFAULT_PORTS:
        authority = f"{conn.host}:{conn.port or DEFAULT_PORTS[vendor]}"
        if vendor == "mysql":
            database = target.path[0] if target.path else conn.database
            return f"mysql://{authority}", f"{database}.{target.table}"
        schema = target.path[0] if target.path else "public"
        return f"{vendor}://{authority}", f"{conn.database}.{schema}.{target.table}"
    # a Trifacta connection adopted by id: the platform knows the database, we know the id
    return f"{_platform_namespace(spec)}/connections/{conn.id}", ".".join(
        (*target.path, target.table)
    )


def _platform_namespace(spec: Spec) -> str:
    return (spec.platform.url or "trifacta").rstrip("/")


def _file_dataset(path: Path) -> tuple[str, str]:
    return "file", path.resolve().as_posix()


def _fields(columns: Sequence[Sequence[str]]) -> list[Any]:
    from openlineage.client.facet_v2 import schema_dataset

    return [schema_dataset.SchemaDatasetFacetFields(name=str(n), type=str(t)) for n, t in columns]


def _schema_facet(columns: Sequence[Sequence[str]] | None) -> dict[str, Any]:
    from openlineage.client.facet_v2 import schema_dataset

    if not columns:
        return {}
    return {"schema": schema_dataset.SchemaDatasetFacet(fields=_fields(columns))}


class LineageEvents(Events):
    """Sends a START and a COMPLETE / FAIL / ABORT run event for each job run and publication."""

    def __init__(
        self,
        client: OpenLineageClient,
        spec: Spec,
        state: Callable[[], State],
        state_dir: Path,
        *,
        namespace: str | None = None,
    ) -> None:
        self.client = client
        self.spec = spec
        self.state = state
        self.state_dir = state_dir
        self.namespace = namespace or os.environ.get("OPENLINEAGE_NAMESPACE") or "publish"
        self._runs: dict[str, tuple[str, Change]] = {}
        self._lock = threading.Lock()

    # --- the Events hook --------------------------------------------------------------------
    def started(self, change: Change) -> None:
        if not self._traced(change):
            return
        from openlineage.client.uuid import generate_new_uuid

        run_id = str(generate_new_uuid())
        with self._lock:
            self._runs[change.address] = (run_id, change)
        self._emit("START", run_id, change)

    def finished(self, result: StepResult) -> None:
        with self._lock:
            entry = self._runs.pop(result.address, None)
        if entry is None:
            return  # skipped before it started, or not a job run / publication
        run_id, change = entry
        if result.status == "done":
            self._emit("COMPLETE", run_id, change)
        elif result.message == "interrupted":
            self._emit("ABORT", run_id, change)
        else:
            self._emit("FAIL", run_id, change, error=result.message)

    def close(self) -> None:
        self.client.close(timeout=10.0)

    # --- events -----------------------------------------------------------------------------
    def _traced(self, change: Change) -> bool:
        return (change.kind, change.action) in {("job", "run"), ("target", "publish")}

    def job_name(self, change: Change) -> str:
        return f"{self.spec.name}.{self.spec.environment}.{change.address}"

    def _emit(self, state: str, run_id: str, change: Change, *, error: str | None = None) -> None:
        from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

        final = state != "START"
        inputs, outputs = (
            self._job_datasets(change, final)
            if change.kind == "job"
            else self._publication_datasets(change, final)
        )
        event = RunEvent(
            eventType=RunState[state],
            eventTime=datetime.now(UTC).isoformat(),
            run=Run(runId=run_id, facets=self._run_facets(error)),
            job=Job(
                namespace=self.namespace,
                name=self.job_name(change),
                facets=self._job_facets(change),
            ),
            inputs=inputs,
            outputs=outputs,
            producer=PRODUCER,
        )
        self.client.emit(event)

    def _run_facets(self, error: str | None) -> dict[str, Any]:
        from openlineage.client.facet_v2 import error_message_run, processing_engine_run

        facets: dict[str, Any] = {
            "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                version=__version__, name="publish", openlineageAdapterVersion=__version__
            )
        }
        if error is not None:
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=redact(error), programmingLanguage="python"
            )
        return facets

    def _job_facets(self, change: Change) -> dict[str, Any]:
        from openlineage.client.facet_v2 import job_type_job, sql_job

        facets: dict[str, Any] = {
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH",
                integration="PUBLISH",
                jobType="JOB" if change.kind == "job" else "PUBLICATION",
            )
        }
        job = self.spec.jobs.get(change.name) if change.kind == "job" else None
        if job is not None and job.recipe:
            facets["sql"] = sql_job.SQLJobFacet(query=redact(job.recipe))
        return facets

    # --- datasets -----------------------------------------------------------------------------
    def _results(self, job: str) -> tuple[str, Mapping[str, ResultSet]]:
        record = self.state().jobs.get(job)
        if record is None:
            return "", {}
        results = {k: ResultSet.from_json(v, self.state_dir) for k, v in record.results.items()}
        return record.run_id, results

    def _result_dataset(
        self, results: ResultSet, run_id: str, output: bool
    ) -> InputDataset | OutputDataset:
        """A job's results in one format: one dataset across runs, the run as its version.

        Result files live in ``.../results/JOB/RUN/FORMAT/``: the dataset is named
        ``.../results/JOB/FORMAT`` and each run is a version of it (datasetVersion facet).
        """
        from openlineage.client.event_v2 import InputDataset, OutputDataset
        from openlineage.client.facet_v2 import dataset_version_dataset as version
        from openlineage.client.facet_v2 import output_statistics_output_dataset as stats

        folder = (
            Path(os.path.commonpath([str(f.parent) for f in results.files]))
            if results.files
            else self.state_dir
        )
        if run_id and folder.parent.name == run_id:
            folder = folder.parent.parent / folder.name
        namespace, name = _file_dataset(folder)
        facets = _schema_facet(results.schema.to_json())
        if run_id:
            facets["version"] = version.DatasetVersionDatasetFacet(datasetVersion=run_id)
        if not output:
            return InputDataset(namespace=namespace, name=name, facets=facets)
        out_facets: dict[str, Any] = {
            "outputStatistics": stats.OutputStatisticsOutputDatasetFacet(
                rowCount=results.rows, fileCount=len(results.files)
            )
        }
        return OutputDataset(namespace=namespace, name=name, facets=facets, outputFacets=out_facets)

    def _job_datasets(self, change: Change, final: bool) -> tuple[list[Any], list[Any]]:
        from openlineage.client.event_v2 import InputDataset

        job = self.spec.jobs[change.name]
        inputs: list[Any] = []
        for path in job.inputs.values():
            file = Path(path) if Path(path).is_absolute() else self.spec.base_dir / path
            namespace, name = _file_dataset(file)
            inputs.append(InputDataset(namespace=namespace, name=name))
        if job.wrangled_dataset is not None:
            inputs.append(
                InputDataset(
                    namespace=_platform_namespace(self.spec),
                    name=f"wrangledDatasets/{job.wrangled_dataset}",
                )
            )
        outputs: list[Any] = []
        if final:
            run_id, results = self._results(job.name)
            outputs = [self._result_dataset(r, run_id, True) for _, r in sorted(results.items())]
        return inputs, outputs

    def _publication_datasets(self, change: Change, final: bool) -> tuple[list[Any], list[Any]]:
        from openlineage.client.event_v2 import OutputDataset
        from openlineage.client.facet_v2 import output_statistics_output_dataset as stats

        target = self.spec.targets[change.name]
        run_id, all_results = self._results(target.job)
        results = all_results.get(target.input_format)
        inputs = [self._result_dataset(results, run_id, False)] if results is not None else []
        namespace, name = table_dataset(self.spec, target)
        record = self.state().publications.get(target.name) if final else None
        if record is None or record.run_id != change.run_id:  # START, or the publish failed
            return inputs, [OutputDataset(namespace=namespace, name=name)]
        output = OutputDataset(
            namespace=namespace,
            name=name,
            facets=_schema_facet(record.columns),
            outputFacets={
                "outputStatistics": stats.OutputStatisticsOutputDatasetFacet(
                    rowCount=record.rows_loaded
                )
            },
        )
        return inputs, [output]
