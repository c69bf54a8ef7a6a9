"""The project's event log, oldest first, a page at a time (viewer)::

    page = list_events(workspace, actor, limit=100, kind="model.alias.moved")
    while page.next_cursor is not None:
        page = list_events(workspace, actor, after=page.next_cursor, limit=100, kind=...)

A cursor is the id of the last event of a page; events are only ever appended, so a cursor
stays valid, and a follower polling with the last cursor sees every new event once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from assay.errors import InvalidRequest
from assay.operations.actor import Actor, Role
from assay.operations.views import JSON, View, meta
from assay.operations.workspace import Workspace

MAX_LIMIT = 1000


@dataclass(frozen=True)
class EventView(View):
    id: int
    kind: str
    subject: str
    actor: str
    at: str
    payload: JSON


@dataclass(frozen=True)
class EventPage(View):
    """``next_cursor`` is None when this page reached the end of the log (as it is now)."""

    events: tuple[EventView, ...] = field(metadata=meta(view=EventView))
    next_cursor: int | None


def list_events(
    workspace: Workspace,
    actor: Actor,
    *,
    after: int | None = None,
    limit: int = 100,
    kind: str | None = None,
    subject: str | None = None,
) -> EventPage:
    actor.require(workspace.project_id, Role.VIEWER, "read the event log")
    from assay.catalog import queries

    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"a page holds 1 to {MAX_LIMIT} events, not {limit}")
    if after is not None and after < 0:
        raise InvalidRequest(f"a cursor is an event's id, not {after}", hint="take next_cursor of a page")
    records = queries.event_records(workspace.catalog, workspace.project_id, after=after, limit=limit,
                                    kind=kind, subject=subject)  # fmt: skip
    events = tuple(
        EventView(id=e.id, kind=e.kind, subject=e.subject, actor=e.actor, at=e.at, payload=e.payload)
        for e in records
    )
    return EventPage(events=events, next_cursor=events[-1].id if len(events) == limit else None)
