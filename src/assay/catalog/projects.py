"""Projects: the unit that owns executions, datums and counters (``#N`` is per project)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from assay.catalog.dialects import upsert
from assay.catalog.tables import Project, new_id, utcnow


def ensure_project(session: Session, name: str) -> Project:
    """The project called ``name``, created on first use (safe against concurrent creators)."""
    project = session.scalar(select(Project).where(Project.name == name))
    if project is not None:
        return project
    insert = upsert(session)
    session.execute(
        insert(Project)
        .values(id=new_id(), name=name, execution_counter=0, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return session.scalars(select(Project).where(Project.name == name)).one()


def next_counter(session: Session, project_id: str, kind: str) -> int:
    """Allocate the project's next ``#N`` of ``kind`` ("execution" or "pipeline").

    The row lock taken by the UPDATE makes concurrent allocations distinct.
    """
    column = getattr(Project, f"{kind}_counter")
    counter = session.execute(
        update(Project).where(Project.id == project_id).values({column: column + 1}).returning(column)
    ).scalar_one()
    return int(counter)


def next_execution_counter(session: Session, project_id: str) -> int:
    return next_counter(session, project_id, "execution")
