"""The dependencies routes declare (``Annotated``, as FastAPI's full-stack template does)::

    @router.get("/api/v1/projects/{project}/executions")
    def list_executions(workspace: ProjectWorkspace, actor: CurrentActor) -> ExecutionsPublic:
        return ExecutionsPublic.of(executions.list_executions(workspace, actor, ...))

* ``CurrentActor``: who is asking, authenticated by ``access.py`` before any route runs (an
  API token, or the signed session cookie); nobody → 401 with ``WWW-Authenticate: Bearer``.
* ``ProjectWorkspace``: the ``Workspace`` of the ``{project}`` path parameter (its id or its
  name); 404 when there is no such project, or the actor holds no role on it.
* ``Context``: the server's ``ServerContext`` (configuration, catalog, sessions, metrics);
  ``CatalogDep``: its catalog, for the catalog-wide operations (users, tokens, projects).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from assay.catalog import Catalog
from assay.errors import Unauthenticated
from assay.operations.actor import Actor
from assay.operations.project_registry import find_project
from assay.operations.workspace import Workspace
from assay.server.context import ServerContext

# NOTE: dependencies that do not block are ``async def``: FastAPI runs a plain ``def`` one in a
# worker thread, a hop that costs more than the work of most of them.


async def get_context(request: Request) -> ServerContext:
    context: ServerContext = request.app.state.context
    return context


Context = Annotated[ServerContext, Depends(get_context)]


async def get_catalog(context: Context) -> Catalog:
    return context.catalog


CatalogDep = Annotated[Catalog, Depends(get_catalog)]


async def current_actor(request: Request) -> Actor:
    actor: Actor | None = getattr(request.state, "actor", None)
    if actor is None:  # a route access.py let through as public, which must not ask who is asking
        raise Unauthenticated("sign in, or send an API token: `Authorization: Bearer <token>`")
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]


async def project_workspace(
    project: Annotated[str, Path(description="The project's id, or its name", max_length=255)],
    actor: CurrentActor,
    context: Context,
) -> Workspace:
    """The project as found for this actor a moment ago (server/memo.py), else as the catalog
    has it now (in a worker thread: it asks the database)."""
    key = (_holder(actor), project)
    record = context.projects.get(key)
    if record is None:
        record = await run_in_threadpool(find_project, context.catalog, actor, project)
        context.projects.put(key, record)
    return context.workspace(record)


def _holder(actor: Actor) -> object:
    """Who the actor is and every role they hold: what finding a project for them depends on."""
    return (
        actor.name,
        actor.user_id,
        actor.everything,
        tuple(sorted((p, r.value) for p, r in actor.roles.items())),
    )


ProjectWorkspace = Annotated[Workspace, Depends(project_workspace)]
