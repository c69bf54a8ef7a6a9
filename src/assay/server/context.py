"""What every request of one server shares: its configuration, its catalog, the project the
server starts in, and the workspaces of the projects it serves.

A project's workspace folder is the server's own folder for the project it starts in, and
``.assay/projects/<id>/`` for a project registered by repository: there its store, its
execution folders and its checkouts live (``Workspace`` in operations/workspace.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from assay.catalog import Catalog, open_catalog
from assay.catalog.project_index import ProjectRecord
from assay.operations.actor import Actor
from assay.operations.workspace import Workspace
from assay.project import Project
from assay.server.config import ServerConfig
from assay.server.memo import Memo
from assay.server.metrics_registry import Metrics
from assay.server.sessions import Sessions
from assay.server.throttle import SignInThrottle


@dataclass(frozen=True)
class ServerContext:
    config: ServerConfig
    catalog: Catalog
    #: the project of the folder the server starts in, if that folder is one
    home: Project | None
    home_project_id: str | None
    sessions: Sessions = field(repr=False)
    throttle: SignInThrottle = field(repr=False)
    metrics: Metrics = field(repr=False)
    #: token digest (or signed-in user) → the actor, as checked a moment ago
    actors: Memo[tuple[str, str], Actor] = field(repr=False, default_factory=Memo)
    #: (actor, project ref) → the project found for them a moment ago
    projects: Memo[tuple[object, str], ProjectRecord] = field(repr=False, default_factory=Memo)

    @classmethod
    def open(cls, config: ServerConfig) -> ServerContext:
        catalog = open_catalog(config.database_url, connections=config.connections)
        home: Project | None = None
        home_project_id: str | None = None
        if config.serves_home:
            from assay.catalog.projects import resolve_project
            from assay.project import find_project

            home = find_project(config.home)
            home_project_id = resolve_project(catalog, home, create=True).id
        return cls(
            config=config,
            catalog=catalog,
            home=home,
            home_project_id=home_project_id,
            sessions=Sessions(config.secret, config.session_seconds, secure=config.secure_cookies),
            throttle=SignInThrottle(config.sign_in_failures, config.sign_in_window, config.sign_in_delay),
            metrics=Metrics(),
            actors=Memo(config.memo_seconds),
            projects=Memo(config.memo_seconds),
        )

    def forget_accounts(self) -> None:
        """After a change to users, roles or tokens through this server: ask the catalog again."""
        self.actors.clear()
        self.projects.clear()

    def workspace(self, record: ProjectRecord) -> Workspace:
        if self.home is not None and record.id == self.home_project_id:
            return Workspace(catalog=self.catalog, project=self.home, project_id=record.id)
        folder = Project(root=self.projects_dir / record.id, name=record.name, joins=record.id)
        return Workspace(catalog=self.catalog, project=folder, project_id=record.id)

    def workspaces(self) -> list[Workspace]:
        """Every project of the catalog, for the scheduler (which acts as the server itself)."""
        from assay.operations.project_registry import list_projects

        found: list[Workspace] = []
        after: tuple[str, str] | None = None
        while True:
            page = list_projects(self.catalog, Actor.system(), after=after, limit=500)
            found.extend(self.workspace(record) for record in page)
            if len(page) < 500:
                return found
            after = (page[-1].name, page[-1].id)

    @property
    def projects_dir(self) -> Path:
        return self.config.state_dir / "projects"
