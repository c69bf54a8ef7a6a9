"""Executions: one run of one step, with its parameters, inputs, metadata and outcome."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from assay.catalog import edges
from assay.catalog.events import record_event
from assay.catalog.projects import next_execution_counter
from assay.catalog.refs import by_ref
from assay.catalog.states import FINAL_EXECUTION_STATUSES, EventKind, ExecutionStatus
from assay.catalog.tables import (
    Datum,
    Execution,
    ExecutionInput,
    ExecutionMetadata,
    ExecutionMetadataLatest,
    new_id,
    utcnow,
)

if TYPE_CHECKING:
    from assay.catalog.db import Catalog

#: re-exported for the modules that still use the old names (states.py declares them)
CREATED, STARTED, COMPLETED = ExecutionStatus.CREATED, ExecutionStatus.STARTED, ExecutionStatus.COMPLETED
ERROR, STOPPED = ExecutionStatus.ERROR, ExecutionStatus.STOPPED
FINAL_STATUSES = FINAL_EXECUTION_STATUSES


@dataclass(frozen=True)
class PipelinePlace:
    """Where an execution sits in a pipeline run."""

    run_id: str
    node: str
    attempt: int
    index: int = 0


def create_execution(
    session: Session,
    *,
    project_id: str,
    step: str,
    image: str,
    command: str,
    parameters: dict[str, Any],
    inputs: dict[str, Any],
    execution_dir: str,
    actor: str,
    execution_id: str | None = None,
    pipeline: PipelinePlace | None = None,
    log_path: str | None = None,
    source: dict[str, Any] | None = None,
) -> Execution:
    """Record a new execution: ``created``, or, given its ``log_path``, ``started`` at once
    (the runtime lays out its folder first, then records that it starts, in one transaction).

    Returns the row as a detached object: it is written with one INSERT, not a flush.
    """
    now = utcnow()
    values: dict[str, Any] = {
        "id": execution_id or new_id(), "project_id": project_id,
        "counter": next_execution_counter(session, project_id), "step": step,
        "status": CREATED if log_path is None else STARTED, "image": image, "command": command,
        "parameters": parameters, "inputs": inputs, "environment": {}, "problems": [],
        "execution_dir": execution_dir, "log_path": log_path or "", "created_at": now,
        "started_at": None if log_path is None else now, "reuse_facts": {},
        "source": source or {},
    }  # fmt: skip
    if pipeline is not None:
        values.update(pipeline_run_id=pipeline.run_id, pipeline_node=pipeline.node,
                      attempt=pipeline.attempt, pipeline_index=pipeline.index)  # fmt: skip
    session.connection().execute(_INSERT_EXECUTION, values)
    execution = Execution(**values)
    if pipeline is not None:
        edges.record_edge(session, project_id, edges.CONTAINS, (edges.PIPELINE_RUN, pipeline.run_id),
                          (edges.EXECUTION, execution.id), pipeline.node)  # fmt: skip
    subject = f"execution:{execution.id}"
    record_event(session, project_id, EventKind.EXECUTION_CREATED, subject, actor,
                 {"counter": execution.counter, "step": step})  # fmt: skip
    if log_path is not None:
        record_event(
            session, project_id, EventKind.EXECUTION_STARTED, subject, actor, {"counter": execution.counter}
        )
    return execution


_INSERT_EXECUTION = insert(Execution)
_INSERT_INPUT = insert(ExecutionInput)
_INSERT_METADATA = insert(ExecutionMetadata)
_INSERT_LATEST = insert(ExecutionMetadataLatest)


def record_inputs(session: Session, execution: Execution, rows: Iterable[dict[str, Any]]) -> None:
    """The files an execution received, and the lineage edges saying so: every datum it used,
    and every dataset or model version it used (by the reference it resolved to)."""
    listed = list(rows)
    if listed:
        session.connection().execute(_INSERT_INPUT, [{"execution_id": execution.id, **row} for row in listed])
    target = (edges.EXECUTION, execution.id)
    found: list[tuple[str, edges.Node, edges.Node, str | None]] = []
    seen: set[tuple[str, str]] = set()
    for row in listed:
        found.append((edges.USED, (edges.DATUM, row["datum_id"]), target, row["input_name"]))
        uri = str(row["uri"])
        if uri.startswith(("dataset://", "model://")) and (row["input_name"], uri) not in seen:
            seen.add((row["input_name"], uri))
            version = _version_node(session, execution.project_id, uri)
            if version is not None:
                found.append((edges.USED, version, target, row["input_name"]))
    edges.record_edges(session, execution.project_id, found)


def _version_node(session: Session, project_id: str, uri: str) -> edges.Node | None:
    """The dataset or model version a resolved reference (``dataset://name/v1``) names."""
    from assay.catalog.registry_tables import Dataset, DatasetVersion, Model, ModelVersion

    scheme, _, rest = uri.partition("://")
    name, _, version = rest.partition("/")
    if scheme == "dataset":
        found = session.scalar(
            select(DatasetVersion.id)
            .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
            .where(Dataset.project_id == project_id, Dataset.name == name, DatasetVersion.name == version)
        )
        return None if found is None else (edges.DATASET_VERSION, found)
    found = session.scalar(
        select(ModelVersion.id)
        .join(Model, Model.id == ModelVersion.model_id)
        .where(Model.project_id == project_id, Model.name == name, ModelVersion.name == version)
    )
    return None if found is None else (edges.MODEL_VERSION, found)


def finish_execution(
    session: Session,
    execution: Execution,
    *,
    status: str,
    exit_code: int | None,
    message: str | None,
    environment: dict[str, Any],
    problems: list[str],
    metadata: Iterable[tuple[datetime, dict[str, Any]]],
    actor: str,
    reuse_key: str | None = None,
    reuse_facts: dict[str, Any] | None = None,
) -> None:
    """Record how the execution ended (the caller holds its row: ``status_of(lock=True)``).

    One UPDATE on the row, one INSERT of its metadata events and one of the latest value of
    each key (``latest_rows``); ``execution`` (which may be a detached object) gets the same
    values.
    """
    values: dict[str, Any] = {
        "status": status, "exit_code": exit_code, "message": message, "environment": environment,
        "problems": problems, "ended_at": utcnow(), "reuse_key": reuse_key, "reuse_facts": reuse_facts or {},
    }  # fmt: skip
    session.execute(
        update(Execution).where(Execution.id == execution.id).values(**values)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    for name, value in values.items():
        setattr(execution, name, value)
    rows = [
        {"execution_id": execution.id, "seq": seq, "logged_at": logged_at, "data": data}
        for seq, (logged_at, data) in enumerate(metadata)
    ]
    if rows:
        session.connection().execute(_INSERT_METADATA, rows)
        session.connection().execute(_INSERT_LATEST, latest_rows(execution.id, rows))
    record_event(
        session,
        execution.project_id,
        EventKind.of("execution", status),
        f"execution:{execution.id}",
        actor,
        {"counter": execution.counter, "exit_code": exit_code},
    )


def get_execution(session: Session, project_id: str, ref: str | int) -> Execution:
    """By counter (``12``, ``#12``), id (``<uuid>``, ``exec-<uuid>``), or ``latest``."""
    return by_ref(session, Execution, project_id, ref, noun="an execution", listing="assay executions list")


def list_executions(session: Session, project_id: str, *, limit: int = 50) -> list[Execution]:
    query = (
        select(Execution)
        .where(Execution.project_id == project_id)
        .order_by(Execution.counter.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def metadata_events(session: Session, execution_id: str) -> list[ExecutionMetadata]:
    query = select(ExecutionMetadata).where(ExecutionMetadata.execution_id == execution_id)
    return list(session.scalars(query.order_by(ExecutionMetadata.seq)))


def latest_rows(execution_id: str, events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of ``execution_metadata_latest`` for metadata events (``seq``, ``logged_at``,
    ``data``) in the order they were logged: one a key, in the order keys first appeared,
    holding the value, ``seq`` and time of the last event that logged it."""
    rows: dict[str, dict[str, Any]] = {}
    for event in events:
        for key, value in event["data"].items():
            row = rows.get(key)
            if row is None:
                rows[key] = {
                    "execution_id": execution_id, "position": len(rows), "key": key,
                    "value": value, "seq": event["seq"], "logged_at": event["logged_at"],
                }  # fmt: skip
            else:
                row.update(value=value, seq=event["seq"], logged_at=event["logged_at"])
    return list(rows.values())


def latest_metadata(session: Session, execution_id: str) -> dict[str, Any]:
    """The last value logged for each key: what ``executions show``, conditions, edges and
    sorting use. One indexed read of one row a key, however many events were logged."""
    query = (
        select(ExecutionMetadataLatest.key, ExecutionMetadataLatest.value)
        .where(ExecutionMetadataLatest.execution_id == execution_id)
        .order_by(ExecutionMetadataLatest.position)
    )
    return {row.key: row.value for row in session.execute(query)}


def execution_inputs(session: Session, execution_id: str) -> list[ExecutionInput]:
    query = select(ExecutionInput).where(ExecutionInput.execution_id == execution_id)
    return list(session.scalars(query.order_by(ExecutionInput.input_name, ExecutionInput.position)))


def status_of(session: Session, execution_id: str, *, lock: bool = False) -> str | None:
    """The execution's status now; with ``lock``, the row stays locked until the transaction ends."""
    query = select(Execution.status).where(Execution.id == execution_id)
    return session.scalar(query.with_for_update() if lock else query)


def current_status(catalog: Catalog, execution_id: str) -> str | None:
    """``status_of`` in a read of its own."""
    with catalog.read() as session:
        return status_of(session, execution_id)


def results_of(session: Session, execution_ids: list[str]) -> ExecutionResults:
    """Outputs, inputs and metadata of executions, in the order given (a task node's children)."""
    rows = {e.id: e for e in session.scalars(select(Execution).where(Execution.id.in_(execution_ids)))}
    ids = [i for i in execution_ids if i in rows]
    produced = session.execute(
        select(Datum.output_execution_id, Datum.name, Datum.id)
        .where(Datum.output_execution_id.in_(ids))
        .order_by(Datum.name)
    ).all()
    consumed = session.execute(
        select(
            ExecutionInput.execution_id,
            ExecutionInput.input_name,
            ExecutionInput.name,
            ExecutionInput.datum_id,
        )
        .where(ExecutionInput.execution_id.in_(ids))
        .order_by(ExecutionInput.input_name, ExecutionInput.position)
    ).all()
    inputs: dict[str, list[tuple[str, str]]] = {}
    for execution in ids:
        for owner, input_name, name, datum in consumed:
            if owner == execution:
                inputs.setdefault(input_name, []).append((name, datum))
    return ExecutionResults(
        executions=[rows[i] for i in ids],
        outputs=[(name, datum) for execution in ids for owner, name, datum in produced if owner == execution],
        inputs=inputs,
        metadata=latest_metadata(session, ids[-1]) if ids else {},
    )


@dataclass
class ExecutionResults:
    executions: list[Execution]
    outputs: list[tuple[str, str]]  # (name relative to outputs/, datum id)
    inputs: dict[str, list[tuple[str, str]]]  # input name → (file name, datum id) pairs
    metadata: dict[str, Any]  # the last execution's latest value of each key


def latest_reusable_of_step(session: Session, project_id: str, step: str) -> Execution | None:
    """The newest completed execution of ``step`` that had a reuse key (for explaining a miss)."""
    return session.scalar(
        select(Execution)
        .where(
            Execution.project_id == project_id,
            Execution.step == step,
            Execution.status == COMPLETED,
            Execution.reuse_key.is_not(None),
        )
        .order_by(Execution.counter.desc())
        .limit(1)
    )


def node_executions(session: Session, run_id: str, nodes: list[str]) -> list[Execution]:
    """Executions of these nodes of a pipeline run, oldest first."""
    query = select(Execution).where(Execution.pipeline_run_id == run_id, Execution.pipeline_node.in_(nodes))
    return list(session.scalars(query.order_by(Execution.counter)))


def run_executions_before(session: Session, run_id: str, counter: int) -> list[Execution]:
    """The run's executions that completed and were numbered before ``counter``, oldest first."""
    query = select(Execution).where(
        Execution.pipeline_run_id == run_id, Execution.counter < counter, Execution.status == COMPLETED
    )
    return list(session.scalars(query.order_by(Execution.counter)))


def mark_interrupted(session: Session, execution_ids: list[str], message: str) -> None:
    """End executions whose driver died, unless they ended meanwhile (compare-and-set)."""
    session.execute(
        update(Execution)
        .where(Execution.id.in_(execution_ids), Execution.status.in_((CREATED, STARTED)))
        .values(status=ERROR, message=message, ended_at=utcnow())
        .execution_options(synchronize_session=False)
    )
