"""What an operation acts on: one project of one catalog, with the folder its code and state live in.

The CLI makes one for the folder it runs in (``cli/context.local_workspace``); the server makes
one per request for the project named in the path. Operations take it first, then the actor::

    versions = models.list_versions(workspace, actor, "summarizer")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assay.artifacts import ArtifactStore
    from assay.catalog import Catalog
    from assay.project import Project
    from assay.spec.settings import Settings


@dataclass(frozen=True)
class Workspace:
    """A project of a catalog: ``project_id`` in ``catalog``, whose folder is ``project``.

    ``project.root`` holds ``valohai.yaml`` and ``assay.yaml`` as the project's default code
    (a server's run of another commit checks that commit out elsewhere) and ``.assay/`` with the
    store, the execution folders and the image environments.
    """

    catalog: Catalog
    project: Project
    project_id: str

    @property
    def store(self) -> ArtifactStore:
        from assay.artifacts import ArtifactStore

        return ArtifactStore.local(self.project.store_root)

    def settings(self) -> Settings:
        """The project's ``assay.yaml`` as it is now (read each time: it may change)."""
        from assay.spec.settings import load_settings

        return load_settings(self.project.root)
