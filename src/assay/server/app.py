"""The application: ``create_app(config)`` makes it, ``assay server`` serves it (uvicorn).

::

    app = create_app(ServerConfig.load(Path.cwd()))

To add a resource's routes, write ``routes/<noun>.py`` with an ``APIRouter`` whose routes
declare ``CurrentActor`` / ``ProjectWorkspace`` (``deps.py``) and call one operation each,
then add one line to ``ROUTERS`` below — and one line per route to the route → role table
``tests/route_roles.py`` (a test fails for any route missing there).

What every route gets without asking: authentication before it runs (``access.py``; anonymous
callers get 401 except on ``PUBLIC_PATHS``), CSRF checks on every unsafe request of a browser
session (``sessions.check_csrf``), errors as problem+json (``problems.py``), an access-log
line and a latency observation (``access.py``, ``metrics.py``).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from starlette.concurrency import run_in_threadpool

import assay
from assay.server import auth, metrics, problems
from assay.server.access import AccessMiddleware
from assay.server.config import ServerConfig
from assay.server.context import ServerContext
from assay.server.routes import (
    aliases,
    datasets,
    events,
    executions,
    gates,
    health,
    lineage,
    models,
    pipeline_runs,
    projects,
    users,
)
from assay.server.sessions import check_csrf

log = logging.getLogger("assay.server")

#: every router of the app, in the order of the API's documentation; one line each
ROUTERS: list[APIRouter] = [
    health.router,
    auth.router,
    metrics.router,
    projects.router,
    executions.router,
    models.router,
    aliases.router,
    datasets.router,
    lineage.router,
    events.router,
    pipeline_runs.router,
    gates.router,
    users.router,
]


def create_app(config: ServerConfig) -> FastAPI:
    """The app for ``config``: it opens (and migrates) the catalog now, and closes it when its
    lifespan ends."""
    context = ServerContext.open(config)
    app = FastAPI(
        title="Assay",
        version=assay.__version__,
        summary="Run valohai.yaml projects on your own machines, with a catalog of everything.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # NOTE: no docs UI: its pages would have to answer anonymously
        redoc_url=None,
        lifespan=_lifespan,
        dependencies=[Depends(check_csrf)],
    )
    app.state.context = context
    app.state.scheduler = None
    problems.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(AccessMiddleware, context=context, routes=app.router.routes)
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    context: ServerContext = app.state.context
    # --- the background scheduler (server/scheduler.py): started here, drained at shutdown ---
    scheduler = _scheduler(context)
    if scheduler is not None:
        await run_in_threadpool(scheduler.start)
        app.state.scheduler = scheduler
    try:
        yield
    finally:
        if scheduler is not None:
            drained = await run_in_threadpool(scheduler.drain, context.config.drain_timeout)
            if not drained:
                log.warning(
                    "executions still running after %ss are left for resume", context.config.drain_timeout
                )
        # --- end of the scheduler's hook ---
        context.catalog.close()


def _scheduler(context: ServerContext) -> Any | None:
    """``Scheduler(workspaces, slots)`` when ``server/scheduler.py`` is there and slots > 0.

    NOTE: imported by name so that the app runs without it (and a branch without it type-checks).
    """
    if context.config.slots <= 0:
        return None
    try:
        module = importlib.import_module("assay.server.scheduler")
    except ModuleNotFoundError as exc:
        if exc.name != "assay.server.scheduler":
            raise
        return None
    return module.Scheduler(context.workspaces, context.config.slots)
