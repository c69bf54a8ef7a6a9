"""How an execution ends in the catalog: its outputs, metadata, versions and status, in one
transaction; and what an executor gets back, for an execution that ran or one that was reused."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from assay.catalog import executions, lifecycle
from assay.catalog.lifecycle import StartedExecution
from assay.catalog.reuses import ReusedExecution
from assay.runtime import reuse
from assay.runtime.outputs import CollectedOutputs

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


def finish(runtime: Runtime, execution: StartedExecution, ending: Ending) -> list[OutputRecord]:
    """Record the end: outputs as datums, model and dataset versions, metadata, status.

    The end is a compare-and-set on the execution's status (its row locked first): one that a
    resume declared interrupted meanwhile is not recorded again (its problems say so).
    """
    collected = ending.collected
    end = lifecycle.ExecutionEnd(
        status=ending.status, message=ending.message, exit_code=ending.exit_code,
        environment=ending.environment, metadata=ending.metadata, actor=runtime.actor,
        reuse_facts=ending.facts,
        reuse_key=reuse.key(ending.facts) if ending.status == executions.COMPLETED else None,
        promote_alias=runtime.settings.promote_alias,
    )  # fmt: skip
    files = [lifecycle.ProducedFile(f.name, f.sha256, f.size, f.metadata) for f in collected.files]
    recorded = lifecycle.end_execution(runtime.catalog, execution, end, files, collected.problems)
    collected.problems[:] = recorded.problems
    if not recorded.recorded:
        return []
    records = [OutputRecord(d.id, d.name, d.sha256, d.size) for d in recorded.outputs]
    runtime.lineage.finished(runtime, recorded.execution, ending.status, ending.message, records)
    return records


def reused_result(execution: ReusedExecution, note: str) -> ExecutionResult:
    """The result of an earlier execution, handed back instead of running again."""
    used: dict[str, list[str]] = {}
    files: dict[str, list[tuple[str, str]]] = {}
    for input_name, name, datum_id in execution.inputs:
        used.setdefault(input_name, []).append(datum_id)
        files.setdefault(input_name, []).append((name, datum_id))
    return ExecutionResult(
        execution_id=execution.id,
        counter=execution.counter,
        status=execution.status,
        exit_code=execution.exit_code,
        message=execution.message,
        outputs=tuple(OutputRecord(d.id, d.name, d.sha256, d.size) for d in execution.outputs),
        metadata=MappingProxyType(dict(execution.metadata)),
        problems=execution.problems,
        log_path=Path(execution.log_path),
        log_tail=(),
        parameters=MappingProxyType(dict(execution.parameters)),
        inputs=MappingProxyType({name: tuple(ids) for name, ids in used.items()}),
        environment_variables=MappingProxyType(dict(execution.variables)),
        reused=True,
        reuse_note=note,
        input_files=MappingProxyType({name: tuple(pairs) for name, pairs in files.items()}),
    )
