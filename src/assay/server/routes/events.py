"""``/api/v1/projects/{project}/events``: the project's event log, oldest first, by cursor;
a follower polling with the last page's cursor sees each new event once. Filters: ``kind``
(``model.alias.moved``) and ``subject`` (``model://summarizer/v3``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from assay.operations import events
from assay.server.deps import CurrentActor, ProjectWorkspace
from assay.server.pagination import DEFAULT_LIMIT, Cursor, Limit
from assay.server.routes.answers import Page, answer, counter_cursor, number_cursor, page

router = APIRouter(prefix="/api/v1/projects/{project}/events", tags=["events"])


class EventPublic(BaseModel):
    id: int
    kind: str
    subject: str
    actor: str
    at: str
    payload: dict[str, object]


class EventsPublic(Page):
    data: list[EventPublic]  # type: ignore[assignment]


@router.get("", summary="The event log, oldest first", response_model=EventsPublic)
def list_events(
    workspace: ProjectWorkspace,
    actor: CurrentActor,
    kind: Annotated[str | None, Query(max_length=255)] = None,
    subject: Annotated[str | None, Query(max_length=1024)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> JSONResponse:
    found = events.list_events(
        workspace, actor, after=counter_cursor(cursor), limit=limit, kind=kind, subject=subject
    )
    return answer(page([e.to_json() for e in found.events], number_cursor(found.next_cursor)))
