"""The append-only event log: one row per thing that happened, never updated or deleted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from assay.catalog.tables import Event


def record_event(
    session: Session,
    project_id: str | None,
    kind: str,
    subject: str,
    actor: str,
    payload: dict[str, Any] | None = None,
) -> Event:
    event = Event(project_id=project_id, kind=kind, subject=subject, actor=actor, payload=payload or {})
    session.add(event)
    return event


def list_events(
    session: Session, project_id: str, *, kind: str | None = None, subject: str | None = None
) -> list[Event]:
    query = select(Event).where(Event.project_id == project_id)
    if kind is not None:
        query = query.where(Event.kind == kind)
    if subject is not None:
        query = query.where(Event.subject == subject)
    return list(session.scalars(query.order_by(Event.id)))
