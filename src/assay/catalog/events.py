"""The append-only event log: one row per thing that happened, never updated or deleted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from assay.catalog.states import EventKind
from assay.catalog.tables import Event, utcnow

_INSERT = insert(Event)


def record_event(
    session: Session,
    project_id: str | None,
    kind: EventKind,
    subject: str,
    actor: str,
    payload: dict[str, Any] | None = None,
) -> None:
    """Record an event in the session's transaction (or savepoint), at once.

    NOTE: a plain INSERT on the session's connection, not an ORM object: events are only
    ever written, and this way an event costs one statement instead of a unit-of-work flush.
    """
    row = {"project_id": project_id, "kind": str(kind), "subject": subject, "actor": actor,
           "payload": payload or {}, "created_at": utcnow()}  # fmt: skip
    session.connection().execute(_INSERT, row)


def list_events(
    session: Session, project_id: str, *, kind: str | None = None, subject: str | None = None
) -> list[Event]:
    query = select(Event).where(Event.project_id == project_id)
    if kind is not None:
        query = query.where(Event.kind == kind)
    if subject is not None:
        query = query.where(Event.subject == subject)
    return list(session.scalars(query.order_by(Event.id)))
