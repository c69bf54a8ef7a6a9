"""``/api/v1/projects/{project}/models/{model}/aliases``: a model's aliases, where one points
(now, or ``?at=`` a time), every move of one, and moving one (``PUT``: member; approver for a
protected alias such as ``production``, checked by the operation).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from assay.operations import aliases
from assay.server.deps import CurrentActor, ProjectWorkspace
from assay.server.pagination import DEFAULT_LIMIT, Cursor, Limit
from assay.server.routes.answers import Document, Page, answer, page_after
from assay.server.routes.models import utc

router = APIRouter(prefix="/api/v1/projects/{project}/models/{model}/aliases", tags=["aliases"])
KIND = "model"


class AliasPublic(BaseModel):
    alias: str
    version: str = Field(description="The version it points at: model://NAME/VERSION")


class AliasesPublic(Page):
    data: list[AliasPublic]  # type: ignore[assignment]


class AliasAtPublic(BaseModel):
    alias: str
    uri: str
    at: str
    version: str | None


class AliasMovePublic(Document):
    """One move: ``alias``, ``uri``, ``at``, ``by``, ``from``, ``to`` (null: removed), ``reason``."""


class AliasMovesPublic(Page):
    data: list[AliasMovePublic]  # type: ignore[assignment]


class AliasChangePublic(Document):
    """The alias's last move and ``changed`` (false: it pointed there already)."""


class AliasCreate(BaseModel):
    version: str = Field(
        min_length=1, max_length=255, pattern=r"^[^/]+$", description="v3, latest, or another alias"
    )
    reason: str | None = Field(default=None, max_length=10_000)
    force: bool = Field(default=False, description="Onto a rejected version; needs a reason")


@router.get("", summary="Its aliases and the versions they point at", response_model=AliasesPublic)
def list_aliases(
    workspace: ProjectWorkspace, actor: CurrentActor, model: str, cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> JSONResponse:  # fmt: skip
    held = aliases.show_aliases(workspace, actor, KIND, model)
    found = [{"alias": alias, "version": version} for alias, version in sorted(held.items())]
    return answer(page_after(found, lambda item: item["alias"], cursor, limit))


@router.get("/{alias}", summary="The version an alias points at (or did, at a time)",
            response_model=AliasAtPublic)  # fmt: skip
def show_alias(
    workspace: ProjectWorkspace,
    actor: CurrentActor,
    model: str,
    alias: str,
    at: Annotated[datetime | None, Query(description="A time; none: now")] = None,
) -> JSONResponse:
    when = utc(at) or datetime.now(UTC)
    return answer(aliases.alias_at(workspace, actor, KIND, model, alias, when).to_json())


@router.get(
    "/{alias}/history", summary="Every move of an alias, oldest first", response_model=AliasMovesPublic
)
def alias_history(
    workspace: ProjectWorkspace, actor: CurrentActor, model: str, alias: str, cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> JSONResponse:  # fmt: skip
    moves = aliases.alias_history(workspace, actor, KIND, model, alias).to_json()
    # NOTE: moves are only ever appended, so a move's place in the history is a stable position
    numbered = [{**move, "_at": str(index)} for index, move in enumerate(moves)]
    found = page_after(numbered, lambda move: move["_at"], cursor, limit)
    found["data"] = [{key: v for key, v in move.items() if key != "_at"} for move in found["data"]]
    return answer(found)


@router.put("/{alias}", summary="Point an alias at a version", response_model=AliasChangePublic)
def set_alias(
    workspace: ProjectWorkspace,
    actor: CurrentActor,
    model: str,
    alias: str,
    body: Annotated[AliasCreate, Body()],
) -> JSONResponse:
    name = model.removeprefix("model://")
    change = aliases.set_alias(
        workspace, actor, KIND, f"{name}/{body.version}", alias, reason=body.reason, force=body.force
    )
    return answer(change.to_json())
