"""``GET /healthz`` (the process answers) and ``GET /readyz`` (the catalog answers, at the
head migration, and the server is not draining): the only API routes open to anyone."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from assay.catalog import HEAD_REVISION
from assay.server.deps import Context
from assay.server.problems import problem

router = APIRouter(tags=["server"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The catalog is reachable and migrated; the server is not draining")
def readyz(request: Request, context: Context) -> JSONResponse:
    try:
        revision = context.catalog.revision()
    except Exception:  # noqa: BLE001 - any failure to reach the database means not ready
        return problem(503, "the catalog database does not answer", kind="not-ready",
                       hint="the server's log says why")  # fmt: skip
    if revision != HEAD_REVISION:
        return problem(503, f"the catalog is at migration {revision}, not {HEAD_REVISION}", kind="not-ready",
                       hint="restart the server: it migrates the catalog on start")  # fmt: skip
    scheduler = getattr(request.app.state, "scheduler", None)
    if scheduler is not None and scheduler.status().draining:
        return problem(503, "the server is draining: it is shutting down", kind="not-ready")
    return JSONResponse({"status": "ready", "revision": revision})
