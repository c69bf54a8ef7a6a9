"""The projects a server serves: listed, found by id or name, registered by git repository.

A project registered through the server has a name no other project has, so ``{project}`` in
a URL may be either its id or its name; the folder project a server starts in is one of these
too (catalog/projects.py makes it)::

    register_project(catalog, "summarizer", "https://git.example/ml/summarizer.git", None)
    find_projects(catalog, "summarizer")            # [ProjectRecord(...)]: by id, else by name
    list_projects(catalog, only=None, after=None, limit=50)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from assay.catalog.projects import _insert
from assay.catalog.queries import project_counts
from assay.catalog.tables import Project, new_id
from assay.errors import Conflict, InvalidRequest
from assay.project import is_project_id

if TYPE_CHECKING:
    from assay.catalog.db import Catalog


@dataclass(frozen=True)
class ProjectRecord:
    id: str
    name: str
    repository: str | None
    default_ref: str | None
    created_at: datetime


@dataclass(frozen=True)
class ProjectOverview:
    """A project and what it holds; ``record`` is None for a folder nothing was recorded for yet."""

    record: ProjectRecord | None
    counts: dict[str, int]  # {"executions", "pipeline_runs", "models", "datasets"}


def list_projects(
    catalog: Catalog, *, only: set[str] | None, after: tuple[str, str] | None, limit: int
) -> list[ProjectRecord]:
    """By name, then id; ``only``: just these ids (None: every project); ``after``: the
    (name, id) of the last project of the previous page."""
    query = select(Project).order_by(Project.name, Project.id).limit(limit)
    if only is not None:
        query = query.where(Project.id.in_(sorted(only)))
    if after is not None:
        query = query.where(tuple_(Project.name, Project.id) > tuple_(*after))
    with catalog.read() as session:
        return [_record(project) for project in session.scalars(query)]


def find_projects(catalog: Catalog, ref: str) -> list[ProjectRecord]:
    """The project of id ``ref``, else every project named ``ref`` (oldest first)."""
    with catalog.read() as session:
        if is_project_id(ref):
            found = session.get(Project, ref.lower())
            if found is not None:
                return [_record(found)]
        query = select(Project).where(Project.name == ref).order_by(Project.created_at)
        return [_record(project) for project in session.scalars(query)]


def project_overview(catalog: Catalog, project_id: str) -> ProjectOverview:
    with catalog.read() as session:
        found = session.get(Project, project_id)
        return ProjectOverview(None if found is None else _record(found), project_counts(session, project_id))


def register_project(catalog: Catalog, name: str, repository: str, default_ref: str | None) -> ProjectRecord:
    """A new project whose code is ``repository`` (a path or URL git can clone), in one transaction."""
    name = name.strip()
    if not name or len(name) > 255 or is_project_id(name) or any(ord(char) < 32 for char in name):
        raise InvalidRequest(f"{name!r} is not a project name", hint="a name such as summarizer")
    with catalog.transaction() as session:
        return _register(session, name, repository, default_ref)


def _register(session: Session, name: str, repository: str, default_ref: str | None) -> ProjectRecord:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import text

        # NOTE: names are not unique in the table (two folders may share one), so two
        # registrations of one name are serialized here; SQLite's write lock does that already.
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"project:{name}"})
    taken = session.scalar(select(Project.id).where(Project.name == name).limit(1))
    if taken is not None:
        raise Conflict(
            f"there is a project called {name!r} already (id {taken})",
            hint="register the repository under another name",
        )
    project_id = new_id()
    _insert(session, project_id, name, claimed=True)
    project = session.get(Project, project_id)
    assert project is not None
    project.repository = repository
    project.default_ref = default_ref
    session.flush()
    return _record(project)


def _record(project: Project) -> ProjectRecord:
    return ProjectRecord(id=project.id, name=project.name, repository=project.repository,
                         default_ref=project.default_ref, created_at=project.created_at)  # fmt: skip
