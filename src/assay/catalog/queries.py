"""Reads for the operations layer that pages and filters: executions and events, by cursor.

A cursor is the position of the last row of a page (an execution's counter, an event's id);
the next page starts after it. Rows are never renumbered, so a cursor stays valid while new
rows arrive::

    rows = find_executions(session, project_id, limit=50, status="error", before=120)
    page = events_after(session, project_id, after=4711, limit=100, kind="execution.completed")
    page = event_records(catalog, project_id, after=4711, limit=100)   # outside catalog/
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assay.catalog.registry_tables import Dataset, Model
from assay.catalog.tables import Event, Execution, PipelineRun

if TYPE_CHECKING:
    from assay.catalog.db import Catalog


def find_executions(
    session: Session,
    project_id: str,
    *,
    limit: int,
    status: str | None = None,
    step: str | None = None,
    pipeline_run_id: str | None = None,
    before: int | None = None,
) -> list[Execution]:
    """Newest first; ``before``: only executions numbered below that counter."""
    query = select(Execution).where(Execution.project_id == project_id)
    if status is not None:
        query = query.where(Execution.status == status)
    if step is not None:
        query = query.where(Execution.step == step)
    if pipeline_run_id is not None:
        query = query.where(Execution.pipeline_run_id == pipeline_run_id)
    if before is not None:
        query = query.where(Execution.counter < before)
    return list(session.scalars(query.order_by(Execution.counter.desc()).limit(limit)))


def events_after(
    session: Session,
    project_id: str,
    *,
    after: int | None,
    limit: int,
    kind: str | None = None,
    subject: str | None = None,
) -> list[Event]:
    """Oldest first, from the event after id ``after`` (None: from the first)."""
    query = select(Event).where(Event.project_id == project_id)
    if after is not None:
        query = query.where(Event.id > after)
    if kind is not None:
        query = query.where(Event.kind == kind)
    if subject is not None:
        query = query.where(Event.subject == subject)
    return list(session.scalars(query.order_by(Event.id).limit(limit)))


@dataclass(frozen=True)
class EventRecord:
    """One event of the log, as it was recorded."""

    id: int
    kind: str
    subject: str
    actor: str
    at: str  # ISO 8601
    payload: dict[str, Any]


def event_records(
    catalog: Catalog,
    project_id: str,
    *,
    after: int | None,
    limit: int,
    kind: str | None = None,
    subject: str | None = None,
) -> list[EventRecord]:
    """``events_after`` in a read of its own."""
    with catalog.read() as session:
        rows = events_after(session, project_id, after=after, limit=limit, kind=kind, subject=subject)
        return [
            EventRecord(
                id=e.id,
                kind=e.kind,
                subject=e.subject,
                actor=e.actor,
                at=e.created_at.isoformat(),
                payload=dict(e.payload or {}),
            )
            for e in rows
        ]


def project_counts(session: Session, project_id: str) -> dict[str, int]:
    """How many executions, pipeline runs, models and datasets the project holds."""
    counted = {
        "executions": select(func.count()).select_from(Execution).where(Execution.project_id == project_id),
        "pipeline_runs": select(func.count())
        .select_from(PipelineRun)
        .where(PipelineRun.project_id == project_id),
        "models": select(func.count()).select_from(Model).where(Model.project_id == project_id),
        "datasets": select(func.count()).select_from(Dataset).where(Dataset.project_id == project_id),
    }
    return {name: int(session.scalar(query) or 0) for name, query in counted.items()}
