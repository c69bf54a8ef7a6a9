"""Pipeline runs and their nodes: every transition one transaction, recorded before it acts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from assay.catalog import states
from assay.catalog.events import record_event
from assay.catalog.projects import next_counter
from assay.catalog.refs import by_ref
from assay.catalog.states import FINAL_NODE_STATUSES, EventKind, NodeStatus, RunStatus
from assay.catalog.tables import Execution, Gate, PipelineNode, PipelineRun, utcnow

#: re-exported for the modules that still use the old names (states.py declares them)
RUNNING, WAITING, STOPPING, FAILING = (
    RunStatus.RUNNING,
    RunStatus.WAITING,
    RunStatus.STOPPING,
    RunStatus.FAILING,
)
COMPLETED, ERROR, STOPPED = RunStatus.COMPLETED, RunStatus.ERROR, RunStatus.STOPPED
PENDING, SKIPPED = NodeStatus.PENDING, NodeStatus.SKIPPED
FINAL_RUN_STATUSES = states.FINAL_RUN_STATUSES


def create_run(
    session: Session,
    *,
    project_id: str,
    pipeline: str,
    nodes: list[str],
    spec_text: str,
    request: dict[str, Any],
    actor: str,
    warnings: list[str] | None = None,
) -> PipelineRun:
    run = PipelineRun(
        project_id=project_id,
        counter=next_counter(session, project_id, "pipeline"),
        pipeline=pipeline,
        status=RUNNING,
        spec_text=spec_text,
        request=request,
        created_by=actor,
        created_at=utcnow(),
        driver={},
        warnings=list(dict.fromkeys(warnings or [])),
    )
    session.add(run)
    session.flush()
    session.add_all(
        PipelineNode(run_id=run.id, name=name, status=PENDING, attempts=0, reused=False, executions=[])
        for name in nodes
    )
    record_event(session, project_id, EventKind.PIPELINE_STARTED, f"pipeline-run:{run.id}", actor,
                 {"counter": run.counter, "pipeline": pipeline})  # fmt: skip
    return run


def get_run(session: Session, project_id: str, ref: str | int) -> PipelineRun:
    """By counter (``3``, ``#3``), id, or ``latest``."""
    return by_ref(session, PipelineRun, project_id, ref, noun="a pipeline run", listing="assay pipeline list")


def list_runs(
    session: Session, project_id: str, *, limit: int = 50, before: int | None = None
) -> list[PipelineRun]:
    """Newest first; ``before``: only runs numbered below it (the next page of a list)."""
    query = select(PipelineRun).where(PipelineRun.project_id == project_id)
    if before is not None:
        query = query.where(PipelineRun.counter < before)
    return list(session.scalars(query.order_by(PipelineRun.counter.desc()).limit(limit)))


def nodes_of(session: Session, run_id: str) -> dict[str, PipelineNode]:
    rows = session.scalars(
        select(PipelineNode).where(PipelineNode.run_id == run_id).order_by(PipelineNode.id)
    )
    return {row.name: row for row in rows}


@dataclass(frozen=True)
class NodeRow:
    """A node's state without the ORM object: what the scheduler reads in its loop."""

    name: str
    status: str
    attempts: int
    executions: tuple[str, ...]


def node_rows(session: Session, run_id: str) -> dict[str, NodeRow]:
    columns = (PipelineNode.name, PipelineNode.status, PipelineNode.attempts, PipelineNode.executions)
    rows = session.execute(select(*columns).where(PipelineNode.run_id == run_id).order_by(PipelineNode.id))
    return {name: NodeRow(name, status, attempts, tuple(ids or ())) for name, status, attempts, ids in rows}


def gate_statuses(session: Session, run_id: str) -> dict[str, str]:
    return dict(session.execute(select(Gate.node, Gate.status).where(Gate.run_id == run_id)).all())


def set_node(session: Session, run: PipelineRun, name: str, status: str, actor: str, **fields: Any) -> None:
    """Move a node to ``status``; ``fields`` (attempts, message, reused, …) change with it."""
    values: dict[str, Any] = {"status": status, **fields}
    if status == RUNNING:
        values.setdefault("started_at", utcnow())
    if status in FINAL_NODE_STATUSES:
        values.setdefault("ended_at", utcnow())
    session.execute(
        update(PipelineNode).where(PipelineNode.run_id == run.id, PipelineNode.name == name).values(**values)
    )
    payload = {
        "node": name,
        "status": status,
        **{k: v for k, v in fields.items() if k in ("attempts", "message")},
    }
    record_event(session, run.project_id, EventKind.PIPELINE_NODE, f"pipeline-run:{run.id}", actor, payload)


def set_run_status(
    session: Session,
    run: PipelineRun,
    status: str,
    actor: str,
    message: str | None = None,
    *,
    only_from: tuple[str, ...] | None = None,
) -> bool:
    """Move the run to ``status``; with ``only_from`` a compare-and-set that may change nothing.

    Returns whether the status changed.
    """
    values: dict[str, Any] = {"status": status, "message": message}
    if status in FINAL_RUN_STATUSES:
        values["ended_at"] = utcnow()
    query = update(PipelineRun).where(PipelineRun.id == run.id)
    if only_from is not None:
        query = query.where(PipelineRun.status.in_(only_from))
    changed = session.execute(query.values(**values).execution_options(synchronize_session=False))
    if only_from is not None and changed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    run.status = status
    run.message = message
    record_event(session, run.project_id, EventKind.of("pipeline", status), f"pipeline-run:{run.id}", actor,
                 {"counter": run.counter, "message": message})  # fmt: skip
    return True


def add_warnings(session: Session, run: PipelineRun, warnings: Sequence[str], actor: str) -> None:
    """Warn on the run (each text once): what it did not stop for, but a person should know."""
    if not warnings:
        return
    current = session.scalar(select(PipelineRun.warnings).where(PipelineRun.id == run.id)) or []
    new = [w for w in dict.fromkeys(warnings) if w not in current]
    if not new:
        return
    session.execute(update(PipelineRun).where(PipelineRun.id == run.id).values(warnings=[*current, *new]))
    run.warnings = [*current, *new]
    for warning in new:
        record_event(session, run.project_id, EventKind.PIPELINE_WARNING, f"pipeline-run:{run.id}", actor,
                     {"counter": run.counter, "warning": warning})  # fmt: skip


def record_interruption(session: Session, run: PipelineRun, actor: str, message: str) -> None:
    """A signal ended the run's driver, which let go of it: the run stays as it was (resumable),
    with ``message`` saying so until a resume clears it."""
    session.execute(update(PipelineRun).where(PipelineRun.id == run.id).values(message=message))
    run.message = message
    record_event(session, run.project_id, EventKind.PIPELINE_INTERRUPTED, f"pipeline-run:{run.id}", actor,
                 {"counter": run.counter, "message": message})  # fmt: skip


def record_resumption(session: Session, run: PipelineRun, actor: str) -> None:
    """A driver took up an interrupted run again: its interruption message goes."""
    session.execute(update(PipelineRun).where(PipelineRun.id == run.id).values(message=None))
    run.message = None
    record_event(session, run.project_id, EventKind.PIPELINE_RESUMED, f"pipeline-run:{run.id}", actor,
                 {"counter": run.counter})  # fmt: skip


def set_driver(session: Session, run: PipelineRun, driver: dict[str, Any]) -> None:
    session.execute(update(PipelineRun).where(PipelineRun.id == run.id).values(driver=driver))
    run.driver = driver


def run_status(session: Session, run_id: str) -> str:
    return str(session.scalar(select(PipelineRun.status).where(PipelineRun.id == run_id)))


def node_executions(session: Session, run_id: str) -> list[Execution]:
    """Every execution started for the run, oldest first."""
    query = select(Execution).where(Execution.pipeline_run_id == run_id).order_by(Execution.counter)
    return list(session.scalars(query))


def unfinished_run_ids(session: Session, project_id: str) -> list[str]:
    """Ids of the project's runs not yet ended (any status but the final ones), oldest first."""
    query = select(PipelineRun.id).where(
        PipelineRun.project_id == project_id, PipelineRun.status.not_in(tuple(FINAL_RUN_STATUSES))
    )
    return list(session.scalars(query.order_by(PipelineRun.counter)))
