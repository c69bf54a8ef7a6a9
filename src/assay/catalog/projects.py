"""Projects: the unit that owns executions, datums and counters (``#N`` is per project).

A project is identified by its id, which its folder keeps in ``.assay/project-id``; its name
is a label, so two folders called ``summarizer`` on one shared catalog are two projects.
``resolve_project`` finds a folder's project (docs/catalog.md, "Project identity")::

    ASSAY_PROJECT set      join that project on purpose: by id, else by name (one made by the
                           first write when no project has the name; two with it: refused)
    .assay/project-id      that project (made with that id by the first write to a new catalog)
    neither (a new folder) adopt the unclaimed project of the folder's name (one made before
                           migration 0007, or by ``ensure_project``), else take a new id

Only adopting a project writes on behalf of a read command (once per folder): reads never
take the write lock, and never create a project; a project is made by its first write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from assay.catalog.dialects import upsert
from assay.catalog.tables import Project, new_id, utcnow
from assay.errors import Conflict, NotFound
from assay.project import Project as ProjectFolder
from assay.project import is_project_id

if TYPE_CHECKING:
    from assay.catalog.db import Catalog


@dataclass(frozen=True)
class ResolvedProject:
    id: str
    #: something the user should hear once (a new project while others have its name), or None
    note: str | None = None


def resolve_project(catalog: Catalog, folder: ProjectFolder, *, create: bool = True) -> ResolvedProject:
    """The catalog project of ``folder``; ``create=False`` (read commands) records nothing new."""
    if folder.joins:
        return ResolvedProject(_join(catalog, folder.joins.strip(), folder.name, create=create))
    notes: list[str] = []
    project_id = folder.stored_id() or folder.claim_id(lambda: _adopt_or_new(catalog, folder.name, notes))
    if create:
        with catalog.read() as session:
            exists = session.scalar(select(Project.id).where(Project.id == project_id)) is not None
        if not exists:
            with catalog.transaction() as session:
                _insert(session, project_id, folder.name, claimed=True)
    return ResolvedProject(project_id, notes[0] if notes else None)


def _adopt_or_new(catalog: Catalog, name: str, notes: list[str]) -> str:
    """A folder's first id: the unclaimed project of its name (compare-and-set), or a new one."""
    with catalog.read() as session:
        unclaimed = session.scalar(
            select(Project.id).where(Project.name == name, Project.claimed_at.is_(None))
        )
        namesakes = list(
            session.scalars(select(Project.id).where(Project.name == name).order_by(Project.created_at))
        )
    if unclaimed is not None:
        with catalog.transaction() as session:
            claimed = session.execute(
                update(Project)
                .where(Project.id == unclaimed, Project.claimed_at.is_(None))
                .values(claimed_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            return unclaimed
    if namesakes:
        notes.append(
            f"this folder is a new project in the catalog: {len(namesakes)} other project(s) are called "
            f"{name!r} (id {', '.join(namesakes)}); to work in one of them instead, set ASSAY_PROJECT "
            "to its id (or write the id into .assay/project-id)"
        )
    return new_id()


def _join(catalog: Catalog, wanted: str, name: str, *, create: bool) -> str:
    """``ASSAY_PROJECT``: a project id, or the name of exactly one project."""
    with catalog.read() as session:
        if is_project_id(wanted):
            found = session.scalar(select(Project.id).where(Project.id == wanted.lower()))
            if found is None:
                raise NotFound(
                    f"ASSAY_PROJECT={wanted}: no project has this id in this catalog",
                    hint="a project's id is in its folder's .assay/project-id; or give a project's name",
                )
            return found
        named = list(session.execute(
            select(Project.id, Project.created_at).where(Project.name == wanted).order_by(Project.created_at)
        ))  # fmt: skip
    if len(named) > 1:
        listed = ", ".join(f"{row.id} (made {row.created_at:%Y-%m-%d %H:%M})" for row in named)
        raise Conflict(
            f"ASSAY_PROJECT={wanted!r}: {len(named)} projects have this name in this catalog",
            hint=f"set ASSAY_PROJECT to one of their ids: {listed}",
        )
    if named:
        return str(named[0].id)
    if not create:
        return new_id()  # nothing is recorded under that name yet, so nothing can be read
    with catalog.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            # NOTE: names are not unique, so two first writers of one name are serialized here
            # (SQLite's write lock does that already) and the second finds the first's project.
            session.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"project:{wanted}"}
            )
        found = session.scalar(select(Project.id).where(Project.name == wanted).order_by(Project.created_at))
        if found is not None:
            return found
        project_id = new_id()
        _insert(session, project_id, wanted, claimed=True)
        return project_id


def _insert(session: Session, project_id: str, name: str, *, claimed: bool) -> None:
    """A new project row; nothing when a concurrent creator made the same one first."""
    insert = upsert(session)
    values = {"id": project_id, "name": name, "execution_counter": 0, "pipeline_counter": 0,
              "created_at": utcnow(), "claimed_at": utcnow() if claimed else None}  # fmt: skip
    target = (
        {"index_elements": ["id"]}
        if claimed
        else {"index_elements": ["name"], "index_where": Project.claimed_at.is_(None)}
    )
    session.execute(insert(Project).values(**values).on_conflict_do_nothing(**target))


def ensure_project(session: Session, name: str) -> Project:
    """The project called ``name`` (the oldest, if several), made on first use, by name only.

    For tests, benchmarks and scripts: a folder of that name without an id yet adopts the
    project this makes. Commands go through ``resolve_project``.
    """
    query = select(Project).where(Project.name == name).order_by(Project.created_at).limit(1)
    project = session.scalar(query)
    if project is not None:
        return project
    _insert(session, new_id(), name, claimed=False)
    return session.scalars(query).one()


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


@dataclass(frozen=True)
class CodeOrigin:
    """Where a project's code comes from on the server: its git repository and default ref."""

    repository: str | None
    default_ref: str | None


def code_origin(catalog: Catalog, project_id: str) -> CodeOrigin:
    with catalog.read() as session:
        row = session.execute(
            select(Project.repository, Project.default_ref).where(Project.id == project_id)
        ).one_or_none()
    if row is None:
        raise NotFound(f"there is no project {project_id}")
    return CodeOrigin(row[0], row[1])


def set_code_origin(
    session: Session, project_id: str, repository: str | None, default_ref: str | None
) -> None:
    session.execute(
        update(Project).where(Project.id == project_id).values(repository=repository, default_ref=default_ref)
    )
