"""OpenLineage run events of executions, sent through the openlineage-python client.

Off unless ``assay.yaml`` has an ``openlineage:`` section or ``OPENLINEAGE_URL`` is set
(docs/openlineage.md). When on, an execution emits START once the catalog has recorded it as
started, and COMPLETE, FAIL or ABORT once it has recorded its end::

    runtime.lineage.started(runtime, execution, request.pipeline, staged)
    runtime.lineage.finished(runtime, execution, status, message, outputs)

The ``openlineage`` package is imported on the first event only, so ``assay --help`` and
executions without lineage pay nothing for it. A transport that fails never fails an execution:
it becomes one warning, and events are dropped for ``HOLD_OFF_SECONDS`` so that an unreachable
receiver does not hold up every execution that follows.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from assay import __version__
from assay.spec.settings import OpenLineageSettings, Settings

if TYPE_CHECKING:
    from assay.catalog.lifecycle import StagedFile, StartedExecution
    from assay.runtime.contract import PipelineContext
    from assay.runtime.finish import OutputRecord
    from assay.runtime.runtime import Runtime

#: the run state that ends a run, by the execution's final status
EVENT_TYPES = {"completed": "COMPLETE", "error": "FAIL", "stopped": "ABORT"}
#: after a send fails, events are dropped for this long rather than each waiting on the receiver
HOLD_OFF_SECONDS = 60.0
#: HTTP attempts after the first. NOTE: the client's default (5, backing off up to 4.8 s) would
#: hold an execution ~10 s per event while a receiver is down.
HTTP_RETRY = {"total": 2, "connect": 2, "read": 2, "backoff_factor": 0.3}
#: dataset names Assay gives version files: ``dataset://name/v1/<file>``
_VERSION_SCHEMES = ("dataset://", "model://")


def lineage_config(settings: Settings, environ: Mapping[str, str]) -> OpenLineageSettings | None:
    """Where events go: ``assay.yaml``'s ``openlineage:``, else ``OPENLINEAGE_URL``; None: off."""
    if environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return None  # the client's own switch
    configured = settings.openlineage
    if configured is None:
        url = environ.get("OPENLINEAGE_URL", "").strip()
        if not url:
            return None
        endpoint = environ.get("OPENLINEAGE_ENDPOINT", "").strip() or "api/v1/lineage"
        configured = OpenLineageSettings(transport="http", url=url, endpoint=endpoint)
    return configured if configured.transport is not None else None


@dataclass(frozen=True)
class _Run:
    """What a started execution's events say besides its state and outputs."""

    job: str
    inputs: tuple[StagedFile, ...]
    pipeline: PipelineContext | None


class LineageEmitter:
    """The run events of one runtime's executions; does nothing when lineage is off.

    Set up on first use from the runtime's settings and the environment. Executor threads share
    it: events leave one at a time, in order.
    """

    def __init__(self) -> None:
        self.config: OpenLineageSettings | None = None
        self.namespace = ""
        self.dropped = 0  # events not sent: a send failed less than HOLD_OFF_SECONDS before
        self._resolved = False
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}
        self._client: Any = None
        self._target = ""
        self._quiet_until = 0.0
        self._on_warning: Callable[[str], None] | None = None

    def started(
        self,
        runtime: Runtime,
        execution: StartedExecution,
        pipeline: PipelineContext | None,
        staged: Mapping[str, Sequence[StagedFile]],
    ) -> None:
        """START, after the catalog committed ``started``."""
        if not self._on(runtime):
            return
        job = f"{pipeline.pipeline}.{pipeline.node}" if pipeline is not None else execution.step
        run = _Run(job, tuple(f for files in staged.values() for f in files), pipeline)
        self._runs[execution.id] = run
        self._emit("START", execution, run, (), None)

    def finished(
        self,
        runtime: Runtime,
        execution: StartedExecution,
        status: str,
        message: str | None,
        outputs: Sequence[OutputRecord],
    ) -> None:
        """COMPLETE, FAIL or ABORT, after the catalog committed the end of a started execution."""
        if not self._on(runtime):
            return
        run = self._runs.pop(execution.id, None)
        if run is not None:  # an execution that never started has no run to end
            self._emit(EVENT_TYPES.get(status, "OTHER"), execution, run, outputs, message)

    def close(self) -> None:
        """Let go of the transport (an HTTP session); a later event opens it again."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _on(self, runtime: Runtime) -> bool:
        if not self._resolved:
            with self._lock:
                if not self._resolved:
                    self.config = lineage_config(runtime.settings, os.environ)
                    if self.config is not None:
                        self.namespace = self.config.namespace or runtime.project.name
                        self._on_warning = runtime.on_warning
                        self._target = _target(self.config, runtime)
                    self._resolved = True
        return self.config is not None

    def _emit(
        self,
        state: str,
        execution: StartedExecution,
        run: _Run,
        outputs: Sequence[OutputRecord],
        message: str | None,
    ) -> None:
        with self._lock:
            now = time.monotonic()
            if now < self._quiet_until:
                self.dropped += 1
                return
            try:
                if self._client is None:
                    assert self.config is not None
                    self._client = _client(self.config, self._target)
                self._client.emit(self._event(state, execution, run, outputs, message))
                return
            except Exception as exc:  # noqa: BLE001 - lineage must never fail an execution
                self._quiet_until = now + HOLD_OFF_SECONDS
                self.dropped += 1
                detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        warning = (
            f"OpenLineage: could not send the {state} event of execution #{execution.counter} "
            f"to {self._target}: {detail}; events are dropped for the next "
            f"{HOLD_OFF_SECONDS:.0f} s, executions go on"
        )
        if self._on_warning is not None:
            self._on_warning(warning)
        else:
            logging.getLogger(__name__).warning(warning)

    def _event(
        self,
        state: str,
        execution: StartedExecution,
        run: _Run,
        outputs: Sequence[OutputRecord],
        message: str | None,
    ) -> Any:
        from openlineage.client.constants import __version__ as client_version
        from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
        from openlineage.client.facet_v2 import error_message_run, processing_engine_run

        facets: dict[str, Any] = {
            "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                version=__version__, name="Assay", openlineageAdapterVersion=client_version
            )
        }
        if run.pipeline is not None:
            facets["parent"] = _parent(self.namespace, run.pipeline)
        if state == "FAIL" and message:
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=message, programmingLanguage="shell"
            )
        when = execution.started_at if state == "START" else execution.ended_at
        datasets = f"assay://{self.namespace}"
        return RunEvent(
            eventType=RunState(state),
            eventTime=_utc(when),
            run=Run(runId=execution.id, facets=facets),
            job=Job(namespace=self.namespace, name=run.job),
            inputs=[_input(datasets, f) for f in run.inputs],
            outputs=[_output(datasets, o) for o in outputs],
        )


def _target(config: OpenLineageSettings, runtime: Runtime) -> str:
    """Where events go, in words (for warnings) and, for a file, as its absolute path."""
    if config.transport == "file":
        return str(runtime.project.root / config.path)
    if config.transport == "http":
        return f"{str(config.url).rstrip('/')}/{config.endpoint.lstrip('/')}"
    return "the console"


def _client(config: OpenLineageSettings, where: str) -> Any:
    """An OpenLineageClient with the configured transport (the first import of openlineage)."""
    from openlineage.client import OpenLineageClient

    transport: Any
    if config.transport == "file":
        from openlineage.client.transport.file import FileConfig, FileTransport

        os.makedirs(os.path.dirname(where), exist_ok=True)
        transport = FileTransport(FileConfig(log_file_path=where, append=True))
    elif config.transport == "http":
        from openlineage.client.transport.http import HttpConfig, HttpTransport

        params: dict[str, Any] = {
            "url": config.url,
            "endpoint": config.endpoint,
            "timeout": config.timeout,
            "retry": HTTP_RETRY,
        }
        api_key = os.environ.get("OPENLINEAGE_API_KEY")
        if api_key:  # a secret: read from the environment, never from assay.yaml
            params["auth"] = {"type": "api_key", "apiKey": api_key}
        transport = HttpTransport(HttpConfig.from_dict(params))
    else:
        from openlineage.client.transport.console import ConsoleConfig, ConsoleTransport

        _show_console_events()
        transport = ConsoleTransport(ConsoleConfig())
    # NOTE: with OPENLINEAGE_URL set, the client copies it into OPENLINEAGE__TRANSPORT__… variables
    # of this process; the transport given here is used all the same.
    return OpenLineageClient(transport=transport)


def _parent(namespace: str, pipeline: PipelineContext) -> Any:
    from openlineage.client.facet_v2 import parent_run

    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=pipeline.run_id),
        job=parent_run.Job(namespace=namespace, name=pipeline.pipeline),
        root=parent_run.Root(
            run=parent_run.RootRun(runId=pipeline.run_id),
            job=parent_run.RootJob(namespace=namespace, name=pipeline.pipeline),
        ),
    )


def _input(namespace: str, staged: StagedFile) -> Any:
    """An input file: a version file by its version's URI, any other file as its datum."""
    from openlineage.client.event_v2 import InputDataset
    from openlineage.client.facet_v2 import input_statistics_input_dataset, symlinks_dataset

    datum = f"datum://{staged.datum_id}"
    name = f"{staged.uri}/{staged.name}" if staged.uri.startswith(_VERSION_SCHEMES) else datum
    facets = _file_facets(staged.sha256)
    if name != datum:
        facets["symlinks"] = symlinks_dataset.SymlinksDatasetFacet(
            identifiers=[symlinks_dataset.Identifier(namespace=namespace, name=datum, type="DATUM")]
        )
    statistics = input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
        size=staged.size, fileCount=1
    )
    return InputDataset(
        namespace=namespace, name=name, facets=facets, inputFacets={"inputStatistics": statistics}
    )


def _output(namespace: str, output: OutputRecord) -> Any:
    from openlineage.client.event_v2 import OutputDataset
    from openlineage.client.facet_v2 import output_statistics_output_dataset

    statistics = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
        size=output.size, fileCount=1
    )
    return OutputDataset(
        namespace=namespace,
        name=f"datum://{output.datum_id}",
        facets=_file_facets(output.sha256),
        outputFacets={"outputStatistics": statistics},
    )


def _file_facets(sha256: str) -> dict[str, Any]:
    """A file's content digest, as the standard dataset version (a datum never changes)."""
    from openlineage.client.facet_v2 import dataset_version_dataset

    return {"version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=sha256)}


def _utc(moment: datetime | None) -> str:
    if moment is None:
        moment = datetime.now(UTC)
    elif moment.tzinfo is None:  # stored without a zone: the catalog writes UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


class _Stderr(logging.Handler):
    """Writes to the current ``sys.stderr`` (which a test or a CLI runner may have replaced)."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(self.format(record) + "\n")


def _show_console_events() -> None:
    """ConsoleTransport logs each event at INFO, which nobody sees unless logging is set up."""
    logger = logging.getLogger("openlineage.client.transport.console")
    if not any(isinstance(handler, _Stderr) for handler in logger.handlers):
        logger.addHandler(_Stderr())
        logger.setLevel(logging.INFO)
        logger.propagate = False
