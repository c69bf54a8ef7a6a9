"""The project a workspace acts on: its id, name, repository and what it holds (viewer)::

shown = show_project(workspace, actor)      # shown.counts["executions"]
"""

from __future__ import annotations

from dataclasses import dataclass

from assay.operations.actor import Actor, Role
from assay.operations.views import JSON, View
from assay.operations.workspace import Workspace


@dataclass(frozen=True)
class ProjectView(View):
    id: str
    name: str
    repository: str | None
    default_ref: str | None
    created_at: str | None
    counts: JSON  # {"executions", "pipeline_runs", "models", "datasets"}


def show_project(workspace: Workspace, actor: Actor) -> ProjectView:
    actor.require(workspace.project_id, Role.VIEWER, "show the project")
    from assay.catalog import project_index

    found = project_index.project_overview(workspace.catalog, workspace.project_id)
    record, counts = found.record, found.counts
    if record is None:  # a folder nothing was recorded for yet (reads create no project)
        return ProjectView(id=workspace.project_id, name=workspace.project.name, repository=None,
                           default_ref=None, created_at=None, counts=counts)  # fmt: skip
    return ProjectView(
        id=record.id, name=record.name, repository=record.repository, default_ref=record.default_ref,
        created_at=record.created_at.isoformat() if record.created_at else None, counts=counts,
    )  # fmt: skip
