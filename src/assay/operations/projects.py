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
    from assay.catalog import queries

    with workspace.catalog.read() as session:
        row = queries.project_row(session, workspace.project_id)
        counts = queries.project_counts(session, workspace.project_id)
        if row is None:  # a folder nothing was recorded for yet (reads create no project)
            return ProjectView(id=workspace.project_id, name=workspace.project.name, repository=None,
                               default_ref=None, created_at=None, counts=counts)  # fmt: skip
        return ProjectView(
            id=row.id, name=row.name, repository=row.repository, default_ref=row.default_ref,
            created_at=row.created_at.isoformat() if row.created_at else None, counts=counts,
        )  # fmt: skip
