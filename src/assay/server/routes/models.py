"""``/api/v1/projects/{project}/models``: models, their versions (by name, alias or
``latest``), comparisons, decisions (approve, reject: approver) and cards (comments and scores:
member).

``{version}`` is what follows ``NAME/`` in a reference: ``v3``, ``production``, ``latest``.
A decision answers the card after it, as ``assay models approve --json`` prints it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from assay.errors import InvalidRequest
from assay.operations import cards, models
from assay.server.deps import CurrentActor, ProjectWorkspace
from assay.server.pagination import DEFAULT_LIMIT, Cursor, Limit
from assay.server.routes.answers import Document, Page, answer, page_after

router = APIRouter(prefix="/api/v1/projects/{project}/models", tags=["models"])

Text = Annotated[str | None, Field(default=None, max_length=10_000)]


class ModelPublic(Document):
    """A model with its versions and aliases (``assay models show NAME --json``)."""


class ModelSummaryPublic(Document):
    """A model as ``assay models list --json`` lists it."""


class ModelsPublic(Page):
    data: list[ModelSummaryPublic]  # type: ignore[assignment]


class VersionPublic(Document):
    """A version with its card (``assay models show NAME/VERSION --json``)."""


class VersionSummaryPublic(Document):
    """A version as ``assay models versions --json`` lists it."""


class VersionsPublic(Page):
    data: list[VersionSummaryPublic]  # type: ignore[assignment]


class ComparisonPublic(Document):
    """Two versions side by side: ``first``, ``second``, ``metrics`` (with deltas), ``tags``."""


class DecisionCreate(BaseModel):
    comment: Text = None
    force: bool = Field(default=False, description="Approve despite a rejection; needs a reason")
    reason: Text = None


class RejectionCreate(BaseModel):
    comment: Text = None


class CommentCreate(BaseModel):
    text: str = Field(min_length=1, max_length=10_000)


class ScoreCreate(BaseModel):
    rubric: str = Field(min_length=1, max_length=255)
    value: int = Field(ge=1, le=5)
    comment: Text = None


@router.get("", summary="Models", response_model=ModelsPublic)
def list_models(
    workspace: ProjectWorkspace, actor: CurrentActor, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> JSONResponse:
    found = [m.to_json() for m in models.list_models(workspace, actor)]
    return answer(page_after(found, lambda model: model["name"], cursor, limit))


@router.get("/{model}", summary="A model, its versions and aliases", response_model=ModelPublic)
def show_model(workspace: ProjectWorkspace, actor: CurrentActor, model: str) -> JSONResponse:
    return answer(models.show_model(workspace, actor, model).to_json())


@router.get("/{model}/versions", summary="Its versions, newest first", response_model=VersionsPublic)
def list_versions(
    workspace: ProjectWorkspace,
    actor: CurrentActor,
    model: str,
    status: Annotated[str | None, Query(max_length=32)] = None,
    tag: Annotated[str | None, Query(max_length=255)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> JSONResponse:
    found = [v.to_json() for v in models.list_versions(workspace, actor, model, status=status, tag=tag)]
    return answer(page_after(found, lambda version: version["id"], cursor, limit))


@router.get(
    "/{model}/versions/{version}",
    summary="A version (name, alias or latest) with its card",
    response_model=VersionPublic,
)
def show_version(
    workspace: ProjectWorkspace,
    actor: CurrentActor,
    model: str,
    version: str,
    at: Annotated[datetime | None, Query(description="With an alias: the version it held then")] = None,
) -> JSONResponse:
    return answer(models.show_version(workspace, actor, _ref(model, version), at=utc(at)).to_json())


@router.get("/{model}/compare", summary="Two versions side by side", response_model=ComparisonPublic)
def compare_versions(
    workspace: ProjectWorkspace,
    actor: CurrentActor,
    model: str,
    versions: Annotated[str, Query(max_length=1024, description="Two versions, comma-separated: v2,v3")],
) -> JSONResponse:
    named = [v.strip() for v in versions.split(",") if v.strip()]
    if len(named) != 2:
        raise InvalidRequest(
            f"a comparison takes two versions, not {len(named)}", hint="e.g. ?versions=v2,production"
        )
    first, second = (_ref(model, v) for v in named)
    return answer(models.compare_versions(workspace, actor, first, second).to_json())


@router.post("/{model}/versions/{version}/approve", summary="Approve a version", response_model=VersionPublic)
def approve_version(
    workspace: ProjectWorkspace,
    actor: CurrentActor,
    model: str,
    version: str,
    body: Annotated[DecisionCreate, Body()] = DecisionCreate(),  # noqa: B008 (a frozen default)
) -> JSONResponse:
    decided = models.approve_version(
        workspace, actor, _ref(model, version), comment=body.comment, force=body.force, reason=body.reason
    )
    return answer(decided.to_json())


@router.post("/{model}/versions/{version}/reject", summary="Reject a version", response_model=VersionPublic)
def reject_version(
    workspace: ProjectWorkspace,
    actor: CurrentActor,
    model: str,
    version: str,
    body: Annotated[RejectionCreate, Body()] = RejectionCreate(),  # noqa: B008 (a frozen default)
) -> JSONResponse:
    return answer(
        models.reject_version(workspace, actor, _ref(model, version), comment=body.comment).to_json()
    )


@router.post(
    "/{model}/versions/{version}/comments",
    status_code=201,
    summary="A comment on its card",
    response_model=VersionPublic,
)
def comment_version(
    workspace: ProjectWorkspace,
    actor: CurrentActor,
    model: str,
    version: str,
    body: Annotated[CommentCreate, Body()],
) -> JSONResponse:
    return answer(cards.comment(workspace, actor, _ref(model, version), body.text).to_json(), 201)


@router.post(
    "/{model}/versions/{version}/scores",
    status_code=201,
    summary="A score by a rubric, 1 to 5",
    response_model=VersionPublic,
)
def score_version(
    workspace: ProjectWorkspace,
    actor: CurrentActor,
    model: str,
    version: str,
    body: Annotated[ScoreCreate, Body()],
) -> JSONResponse:
    card = cards.score(
        workspace, actor, _ref(model, version), rubric=body.rubric, value=body.value, comment=body.comment
    )
    return answer(card.to_json(), 201)


def _ref(model: str, version: str) -> str:
    """``NAME/VERSION``; a path segment holding a slash names nothing of a model's."""
    if "/" in model or "/" in version or not version.strip():
        raise InvalidRequest(f"{model!r}/{version!r} is not a model version", hint="e.g. summarizer/v3")
    return f"{model.removeprefix('model://')}/{version}"


def utc(when: datetime | None) -> datetime | None:
    """A time without a zone is UTC, as the CLI's ``--at`` reads it."""
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
