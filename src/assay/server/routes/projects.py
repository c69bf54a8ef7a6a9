"""``/api/v1/projects``: the projects the caller holds a role on; registering one (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field

from assay.catalog.project_index import ProjectRecord
from assay.operations import project_registry
from assay.server.deps import CatalogDep, CurrentActor, ProjectWorkspace
from assay.server.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, page_of

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])


class ProjectCreate(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    repository: str = Field(min_length=1, max_length=4096, description="A URL git can clone, or a folder")
    default_ref: str | None = Field(default=None, max_length=255, description="Default: the default branch")


class ProjectPublic(BaseModel):
    id: str
    name: str
    repository: str | None
    default_ref: str | None
    created_at: datetime
    role: str | None = Field(description="The caller's role on the project")

    @classmethod
    def of(cls, record: ProjectRecord, role: str | None) -> ProjectPublic:
        return cls(id=record.id, name=record.name, repository=record.repository,
                   default_ref=record.default_ref, created_at=record.created_at, role=role)  # fmt: skip


class ProjectsPublic(BaseModel):
    data: list[ProjectPublic]
    next_cursor: str | None


@router.get("", summary="The projects you hold a role on")
def list_projects(
    catalog: CatalogDep, actor: CurrentActor, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> ProjectsPublic:
    after = decode_cursor(cursor, parts=2)
    rows = project_registry.list_projects(
        catalog, actor, after=(after[0], after[1]) if after else None, limit=limit + 1
    )
    page, next_cursor = page_of(rows, limit, lambda record: (record.name, record.id))
    return ProjectsPublic(
        data=[ProjectPublic.of(r, _role(actor, r.id)) for r in page], next_cursor=next_cursor
    )


@router.get("/{project}", summary="One project, by id or name")
def show_project(workspace: ProjectWorkspace, catalog: CatalogDep, actor: CurrentActor) -> ProjectPublic:
    record = project_registry.find_project(catalog, actor, workspace.project_id)
    return ProjectPublic.of(record, _role(actor, record.id))


@router.post("", status_code=201, summary="Register a project by its git repository (server admin)")
def register_project(
    catalog: CatalogDep, actor: CurrentActor, body: Annotated[ProjectCreate, Body()]
) -> ProjectPublic:
    record = project_registry.register_project(catalog, actor, body.name, body.repository, body.default_ref)
    return ProjectPublic.of(record, _role(actor, record.id))


def _role(actor: CurrentActor, project_id: str) -> str | None:
    held = actor.role_on(project_id)
    return held.value if held else None
