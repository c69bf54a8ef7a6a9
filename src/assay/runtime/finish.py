"""How an execution ends in the catalog: its outputs, metadata, versions and status, in one
transaction; and what an executor gets back, for an execution that ran or one that was reused."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from assay.catalog import datums, executions, registration
from assay.catalog.tables import Execution
from assay.errors import InvalidRequest
from assay.runtime import reuse
from assay.runtime.outputs import CollectedOutputs, OutputFile

if TYPE_CHECKING:
    from assay.runtime.runtime import Runtime


@dataclass(frozen=True)
class OutputRecord:
    datum_id: str
    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ExecutionResult:
    execution_id: str
    counter: int
    status: str
    exit_code: int | None
    message: str | None
    outputs: tuple[OutputRecord, ...]
    metadata: Mapping[str, Any]
    problems: tuple[str, ...]
    log_path: Path
    log_tail: tuple[str, ...]
    parameters: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # input → datum ids
    environment_variables: Mapping[str, str] = field(default_factory=dict)
    reused: bool = False
    reuse_note: str | None = None
    #: input → the (file name, datum id) pairs it received
    input_files: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Ending:
    """How an execution ended, as the runtime saw it, ready to be recorded."""

    status: str
    message: str | None
    exit_code: int | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    collected: CollectedOutputs = field(default_factory=CollectedOutputs)
    metadata: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


def finish(runtime: Runtime, execution: Execution, ending: Ending) -> list[OutputRecord]:
    """Record the end: outputs as datums, model and dataset versions, metadata, status.

    The end is a compare-and-set on the execution's status (its row locked first): one that a
    resume declared interrupted meanwhile is not recorded again (its problems say so).
    """
    records: list[OutputRecord] = []
    collected = ending.collected
    problems = list(collected.problems)
    with runtime.catalog.transaction() as session:
        current = executions.status_of(session, execution.id, lock=True)
        if current not in (executions.CREATED, executions.STARTED):
            # A resume declared this execution interrupted while it still ran here: its
            # outputs are not recorded, so the node's re-run is the only one that counts.
            collected.problems[:] = [*problems, f"not recorded: the execution was already {current}"]
            return []
        recorded = []
        for output in collected.files:
            datum = _record_output(session, runtime, execution, output, problems)
            recorded.append(datum)
            records.append(OutputRecord(datum.id, output.name, output.sha256, output.size))
        latest: dict[str, Any] = {}
        for _, data in ending.metadata:
            latest.update(data)
        registration.register_outputs(
            session, execution, recorded, latest, status=ending.status, actor=runtime.actor,
            problems=problems, promote_alias=runtime.settings.promote_alias,
        )  # fmt: skip
        executions.finish_execution(
            session, execution, status=ending.status, exit_code=ending.exit_code, message=ending.message,
            environment=ending.environment, problems=list(problems), metadata=ending.metadata,
            actor=runtime.actor, reuse_facts=ending.facts,
            reuse_key=reuse.key(ending.facts) if ending.status == executions.COMPLETED else None,
        )  # fmt: skip
    collected.problems[:] = problems
    runtime.lineage.finished(runtime, execution, ending.status, ending.message, records)
    return records


def _record_output(
    session: Session, runtime: Runtime, execution: Execution, output: OutputFile, problems: list[str]
) -> Any:
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
                datums.set_datum_alias(session, execution.project_id, alias, datum, runtime.actor)
            except InvalidRequest as exc:
                problems.append(f"output {output.name}: {exc.message}")
    return datum


def reused_result(session: Session, execution: Execution, note: str) -> ExecutionResult:
    """The result of an earlier execution, handed back instead of running again."""
    outputs = datums.outputs_of(session, execution.id)
    used: dict[str, list[str]] = {}
    files: dict[str, list[tuple[str, str]]] = {}
    for row in executions.execution_inputs(session, execution.id):
        used.setdefault(row.input_name, []).append(row.datum_id)
        files.setdefault(row.input_name, []).append((row.name, row.datum_id))
    return ExecutionResult(
        execution_id=execution.id,
        counter=execution.counter,
        status=execution.status,
        exit_code=execution.exit_code,
        message=execution.message,
        outputs=tuple(OutputRecord(d.id, d.name, d.sha256, d.size) for d in outputs),
        metadata=MappingProxyType(executions.latest_metadata(session, execution.id)),
        problems=tuple(execution.problems),
        log_path=Path(execution.log_path),
        log_tail=(),
        parameters=MappingProxyType(dict(execution.parameters)),
        inputs=MappingProxyType({name: tuple(ids) for name, ids in used.items()}),
        environment_variables=MappingProxyType(dict(execution.environment.get("variables", {}))),
        reused=True,
        reuse_note=note,
        input_files=MappingProxyType({name: tuple(pairs) for name, pairs in files.items()}),
    )
