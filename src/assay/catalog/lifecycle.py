"""An execution's record as the runtime makes it: its start and its end, one transaction each.

    started, staged = start_execution(catalog, NewExecution(...), arriving_files)
    ended = end_execution(catalog, started, ExecutionEnd(...), produced_files, problems)

The start records the datums of the files its inputs receive (a file from outside gets one on
first use), the execution as ``started`` with those files, and the process that drives it — all
before its command runs. The end records its outputs as datums, the model and dataset versions
they ask for, its metadata and its status; it is a compare-and-set on the status (the row
locked first), so one that a resume declared interrupted meanwhile is not recorded again.
Only frozen views leave: the runtime holds a ``StartedExecution``, never the row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from assay.catalog import datums, drivers, executions, registration
from assay.catalog.executions import PipelinePlace
from assay.catalog.tables import Datum, Execution
from assay.errors import InvalidRequest

if TYPE_CHECKING:
    from assay.catalog.db import Catalog


@dataclass(frozen=True)
class ArrivingFile:
    """A fetched file (its bytes in the store) that an input of a new execution receives."""

    name: str  # relative path inside inputs/<input>/
    uri: str
    sha256: str
    size: int
    #: where a file from outside came from (a path or URL): its datum is one per (content, source)
    source: str
    datum_id: str | None = None  # a datum of the catalog already
    #: that datum's file metadata, when it was looked up already (``input_refs``)
    metadata: Mapping[str, Any] | None = None
    http: Mapping[str, Any] | None = None  # how an http(s) file was fetched, for the record


@dataclass(frozen=True)
class StagedFile:
    """A file an input of a started execution received, with its datum."""

    input_name: str
    name: str
    uri: str
    sha256: str
    size: int
    datum_id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    http: Mapping[str, Any] | None = None  # how an http(s) file was fetched, for the record


@dataclass(frozen=True)
class NewExecution:
    """An execution about to start, its folder laid out."""

    project_id: str
    step: str
    image: str
    command: str
    parameters: dict[str, Any]  # as recorded: secret values masked
    execution_id: str
    execution_dir: str
    log_path: str
    actor: str
    driver: dict[str, Any]  # the identity of the process that drives it (engine/lease.py)
    source: dict[str, Any] = field(default_factory=dict)
    pipeline: PipelinePlace | None = None


@dataclass(frozen=True)
class StartedExecution:
    """What the runtime keeps of an execution it started (and, once recorded, ended)."""

    id: str
    project_id: str
    counter: int
    step: str
    started_at: datetime | None
    pipeline_run_id: str | None = None
    ended_at: datetime | None = None


def start_execution(
    catalog: Catalog, new: NewExecution, files: Mapping[str, Sequence[ArrivingFile]]
) -> tuple[StartedExecution, dict[str, list[StagedFile]]]:
    """Record the execution as ``started``, with its input datums, the files (by input, an input
    with none too) and its driver."""
    with catalog.transaction() as session:
        staged = _stage(session, new.project_id, files)
        execution = executions.create_execution(
            session, project_id=new.project_id, step=new.step, image=new.image, command=new.command,
            parameters=new.parameters, inputs=_inputs_summary(staged), execution_dir=new.execution_dir,
            actor=new.actor, execution_id=new.execution_id, log_path=new.log_path, source=new.source,
            pipeline=new.pipeline,
        )  # fmt: skip
        executions.record_inputs(session, execution, _input_rows(staged))
        drivers.record_driver(session, execution, new.driver, new.actor)
        return _started(execution), staged


def _stage(
    session: Session, project_id: str, files: Mapping[str, Sequence[ArrivingFile]]
) -> dict[str, list[StagedFile]]:
    """The datum of every arriving file, by input; files from outside get one on first use."""
    staged: dict[str, list[StagedFile]] = {}
    for input_name, arriving in files.items():
        staged[input_name] = [_staged(session, project_id, input_name, file) for file in arriving]
    return staged


def _staged(session: Session, project_id: str, input_name: str, file: ArrivingFile) -> StagedFile:
    if file.datum_id is not None and file.metadata is not None:
        datum_id, metadata = file.datum_id, dict(file.metadata)  # looked up when planned
    else:
        if file.datum_id is not None:
            datum = datums.get_datum(session, project_id, file.datum_id)
        else:
            datum = datums.external_datum(
                session, project_id=project_id, sha256=file.sha256, size=file.size,
                name=PurePosixPath(file.name).name, source_uri=file.source,
            )  # fmt: skip
        datum_id, metadata = datum.id, dict(datum.file_metadata)
    return StagedFile(input_name, file.name, file.uri, file.sha256, file.size, datum_id, metadata, file.http)


def _inputs_summary(staged: Mapping[str, list[StagedFile]]) -> dict[str, Any]:
    return {
        name: [
            {
                "name": f.name,
                "uri": f.uri,
                "datum_id": f.datum_id,
                "sha256": f.sha256,
                "size": f.size,
                **({"http": dict(f.http)} if f.http else {}),  # how it was fetched: downloads.py
            }
            for f in files
        ]
        for name, files in staged.items()
    }


def _input_rows(staged: Mapping[str, list[StagedFile]]) -> list[dict[str, Any]]:
    return [
        {"input_name": name, "position": position, "datum_id": f.datum_id, "uri": f.uri, "name": f.name}
        for name, files in staged.items()
        for position, f in enumerate(files)
    ]


def _started(execution: Execution) -> StartedExecution:
    return StartedExecution(
        id=execution.id, project_id=execution.project_id, counter=execution.counter, step=execution.step,
        started_at=execution.started_at, pipeline_run_id=execution.pipeline_run_id,
        ended_at=execution.ended_at,
    )  # fmt: skip


@dataclass(frozen=True)
class ProducedFile:
    """An output file, stored, with its metadata (sidecar and ``valohai.metadata.jsonl``)."""

    name: str  # posix path relative to outputs/
    sha256: str
    size: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExecutionEnd:
    """How an execution ended, as the runtime saw it."""

    status: str
    message: str | None
    exit_code: int | None
    environment: dict[str, Any]
    metadata: list[tuple[datetime, dict[str, Any]]]
    actor: str
    reuse_facts: dict[str, Any] = field(default_factory=dict)
    reuse_key: str | None = None  # only a completed execution has one
    promote_alias: str | None = None  # assay.yaml's promotion alias, for the versions it makes


@dataclass(frozen=True)
class RecordedEnd:
    """What recording the end did: the outputs' datums, and every problem of the execution."""

    execution: StartedExecution  # with its ``ended_at`` once recorded
    recorded: bool  # False: the execution had ended already (a resume declared it interrupted)
    outputs: tuple[datums.DatumFile, ...]
    problems: tuple[str, ...]


def end_execution(
    catalog: Catalog,
    execution: StartedExecution,
    end: ExecutionEnd,
    files: Sequence[ProducedFile],
    problems: Sequence[str],
) -> RecordedEnd:
    """Record the end: outputs as datums, model and dataset versions, metadata, status.

    ``problems`` are the execution's so far (collecting its outputs); the end's come after them.
    """
    found = list(problems)
    with catalog.transaction() as session:
        row = session.scalar(select(Execution).where(Execution.id == execution.id).with_for_update())
        current = None if row is None else row.status
        if row is None or current not in (executions.CREATED, executions.STARTED):
            # A resume declared this execution interrupted while it still ran here: its
            # outputs are not recorded, so the node's re-run is the only one that counts.
            return RecordedEnd(
                execution, False, (), (*found, f"not recorded: the execution was already {current}")
            )
        session.expunge(row)  # NOTE: finish_execution writes by UPDATE; the row's copy need not flush
        recorded = [_record_output(session, row, output, end.actor, found) for output in files]
        latest: dict[str, Any] = {}
        for _, data in end.metadata:
            latest.update(data)
        registration.register_outputs(
            session, row, recorded, latest, status=end.status, actor=end.actor, problems=found,
            promote_alias=end.promote_alias,
        )  # fmt: skip
        executions.finish_execution(
            session, row, status=end.status, exit_code=end.exit_code, message=end.message,
            environment=end.environment, problems=list(found), metadata=end.metadata, actor=end.actor,
            reuse_facts=end.reuse_facts, reuse_key=end.reuse_key,
        )  # fmt: skip
        outputs = tuple(
            datums.DatumFile(d.id, o.name, o.sha256, o.size, o.metadata)
            for d, o in zip(recorded, files, strict=True)
        )
        return RecordedEnd(_started(row), True, outputs, tuple(found))


def _record_output(
    session: Session, execution: Execution, output: ProducedFile, actor: str, problems: list[str]
) -> Datum:
    tags = output.metadata.get("valohai.tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        problems.append(f"output {output.name}: valohai.tags must be a list of strings; ignored")
        tags = []
    datum = datums.create_datum(
        session, project_id=execution.project_id, sha256=output.sha256, size=output.size,
        name=output.name, output_execution_id=execution.id, metadata=output.metadata, tags=tags,
    )  # fmt: skip
    alias = output.metadata.get("valohai.alias")
    if alias is not None:
        if not isinstance(alias, str):
            problems.append(f"output {output.name}: valohai.alias must be one string; ignored")
        else:
            try:
                datums.set_datum_alias(session, execution.project_id, alias, datum, actor)
            except InvalidRequest as exc:
                problems.append(f"output {output.name}: {exc.message}")
    return datum
