"""The projects a server serves, as an actor sees them: listed, found, registered::

    listed = list_projects(catalog, actor, after=None, limit=50)     # those the actor holds a role on
    record = find_project(catalog, actor, "summarizer")              # NotFound unless a role is held
    record = register_project(catalog, admin, "summarizer", "https://git.example/ml/summarizer.git")

A project the actor holds no role on is "not found" to them, as an unknown one is: its
existence is none of their business. Registering needs a server admin (admin on ``"*"``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from assay.catalog import project_index
from assay.catalog.project_index import ProjectRecord
from assay.errors import Conflict, InvalidRequest, NotFound
from assay.operations.actor import Actor, Role

if TYPE_CHECKING:
    from assay.catalog import Catalog

#: what git clones: a URL of these schemes, ``user@host:path`` (scp-like), or a local folder
_URL = re.compile(r"^(https?|ssh|git|file)://[^\s]+$")
_SCP = re.compile(r"^[\w.-]+@[\w.-]+:[^\s]+$")


def list_projects(
    catalog: Catalog, actor: Actor, *, after: tuple[str, str] | None = None, limit: int = 100
) -> list[ProjectRecord]:
    return project_index.list_projects(catalog, only=actor.project_ids(), after=after, limit=limit)


def find_project(catalog: Catalog, actor: Actor, ref: str) -> ProjectRecord:
    """The project of id or name ``ref`` that the actor holds a role on."""
    found = [record for record in project_index.find_projects(catalog, ref) if actor.role_on(record.id)]
    if not found:
        raise NotFound(
            f"there is no project {ref!r} for {actor.name}", hint="GET /api/v1/projects lists yours"
        )
    if len(found) > 1:
        ids = ", ".join(record.id for record in found)
        raise Conflict(f"{len(found)} projects are called {ref!r}", hint=f"name one by its id: {ids}")
    return found[0]


def register_project(
    catalog: Catalog, actor: Actor, name: str, repository: str, default_ref: str | None = None
) -> ProjectRecord:
    """A new project whose code is the git repository ``repository`` (a URL or a local path)."""
    actor.require(None, Role.ADMIN, "register projects")
    repository = check_repository(repository)
    if default_ref is not None and (not default_ref.strip() or default_ref.startswith("-")):
        raise InvalidRequest(
            f"{default_ref!r} is not a git ref", hint="a branch, tag or commit SHA, e.g. main"
        )
    return project_index.register_project(catalog, name, repository, default_ref and default_ref.strip())


def check_repository(repository: str) -> str:
    """A repository git can clone, as given; a local one as its absolute path."""
    text = repository.strip()
    if not text or text.startswith("-") or any(ord(char) < 32 for char in text):
        # NOTE: a leading "-" would reach git as an option
        raise InvalidRequest(f"{repository!r} is not a git repository", hint=_HINT)
    if _URL.match(text) or _SCP.match(text):
        return text
    folder = Path(text).expanduser()
    if not folder.is_absolute() or not folder.is_dir():
        raise InvalidRequest(f"{repository!r} is neither a URL git can clone nor a folder on the server",
                             hint=_HINT)  # fmt: skip
    return str(folder.resolve())


_HINT = (
    "e.g. https://git.example/ml/summarizer.git, git@git.example:ml/summarizer.git, or /srv/git/summarizer"
)
