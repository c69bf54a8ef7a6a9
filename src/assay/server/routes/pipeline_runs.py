"""``/api/v1/projects/{project}/pipeline-runs`` and ``/trees``: start, list, show, resume, stop a
run; upload a working tree for an ``--adhoc`` run.

Starting, resuming and stopping answer at once: the run is recorded (or marked stopping), then
handed to the server's scheduler (``server/scheduler.py``), which drives it in the background.
A run's JSON is exactly what ``assay pipeline show --json`` prints for it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from assay.engine.wiring import RunRequest
from assay.errors import InvalidRequest, NotFound
from assay.operations import pipeline_runs, sources
from assay.operations.actor import Role
from assay.operations.pipeline_runs import Background
from assay.operations.workspace import Workspace
from assay.server.deps import CurrentActor, ProjectWorkspace
from assay.server.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor

router = APIRouter(prefix="/api/v1/projects/{project}", tags=["pipeline runs"])
log = logging.getLogger("assay.server")

#: the largest tar body a tree upload may send (the unpacked tree has its own limits, sources.py)
TREE_UPLOAD_LIMIT_BYTES = sources.ADHOC_LIMIT_BYTES
_TREE_DIGEST = re.compile(r"^[0-9a-f]{64}$")

Values = dict[str, list[str]]


class PipelineRunCreate(BaseModel):
    """What ``assay pipeline run`` sends: the pipeline, its parameters and inputs, and the code."""

    model_config = ConfigDict(extra="forbid")

    pipeline: str = Field(min_length=1, max_length=255)
    parameters: Values = Field(default_factory=dict, description="Pipeline parameters: NAME → values")
    node_parameters: dict[str, Values] = Field(default_factory=dict, description="NODE → NAME → values")
    node_inputs: dict[str, Values] = Field(default_factory=dict, description="NODE → INPUT → URIs")
    ref: str | None = Field(
        default=None, max_length=255, description="A branch, tag or SHA of the project's repository"
    )
    tree: str | None = Field(
        default=None, max_length=64, description="The digest of a tree uploaded with POST …/trees (--adhoc)"
    )
    reuse: bool | None = Field(default=None, description="Override the pipeline's reuse-executions")


class PipelineRunPublic(BaseModel):
    """A run, its nodes, executions, gates and approvals (``assay pipeline show --json``)."""

    model_config = ConfigDict(extra="allow")

    id: str
    counter: int
    pipeline: str
    status: str


class PipelineRunsPublic(BaseModel):
    data: list[PipelineRunPublic]
    next_cursor: str | None


class TreePublic(BaseModel):
    digest: str = Field(description="Name it as `tree` when starting a run")
    tree: str = Field(description="The same digest (the record a run keeps: source.tree)")


def document(data: Any, status_code: int = 200) -> JSONResponse:
    """JSON made as ``print_json`` makes it (times as ``str``), so the API and ``--json`` agree."""
    return JSONResponse(json.loads(json.dumps(data, default=str)), status_code=status_code)


def scheduler_of(request: Request) -> Background:
    """Hand a run to the server's scheduler, which drives it in the background.

    NOTE: looked up when a run is handed over, not before: a server started without slots
    (``slots=0``) still records runs and decisions; the next server with slots finds them
    undriven when it starts (``pipeline_runs.recover``) and drives them.
    """

    def submit(workspace: Workspace, run_id: str) -> None:
        scheduler = getattr(request.app.state, "scheduler", None)
        if scheduler is None:
            log.warning("no scheduler: pipeline run %s is left for the next server with slots", run_id)
            return
        scheduler.submit(workspace, run_id)

    return submit


@router.post(
    "/pipeline-runs", status_code=201, response_model=PipelineRunPublic, summary="Start a pipeline run"
)
def start_run(
    request: Request,
    workspace: ProjectWorkspace,
    actor: CurrentActor,
    body: Annotated[PipelineRunCreate, Body()],
) -> JSONResponse:
    if body.ref and body.tree:
        raise InvalidRequest("give a ref or a tree, not both", hint="a run executes one source of code")
    source = sources.SourceRequest(
        ref=body.ref, adhoc=_tree_file(workspace, body.tree) if body.tree else None
    )
    view = pipeline_runs.start(
        workspace,
        actor,
        body.pipeline,
        RunRequest(body.parameters, body.node_parameters, body.node_inputs),
        reuse=body.reuse,
        source=source,
        background=scheduler_of(request),
    )
    return document(view.as_json(), 201)


@router.get("/pipeline-runs", response_model=PipelineRunsPublic, summary="Pipeline runs, newest first")
def list_runs(
    workspace: ProjectWorkspace, actor: CurrentActor, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> JSONResponse:
    after = decode_cursor(cursor, parts=1)
    before = _counter(after[0]) if after else None
    found = pipeline_runs.list_runs(workspace, actor, limit=limit + 1, before=before)
    page = found[:limit]
    next_cursor = encode_cursor(str(page[-1].counter)) if len(found) > limit and page else None
    return document({"data": [run.as_json() for run in page], "next_cursor": next_cursor})


@router.get(
    "/pipeline-runs/{counter}",
    response_model=PipelineRunPublic,
    summary="A run, its nodes, gates and approvals",
)
def show_run(workspace: ProjectWorkspace, actor: CurrentActor, counter: str) -> JSONResponse:
    return document(pipeline_runs.show(workspace, actor, counter).as_json())


@router.post(
    "/pipeline-runs/{counter}/resume",
    status_code=202,
    response_model=PipelineRunPublic,
    summary="Continue a run in the background",
)
def resume_run(
    request: Request, workspace: ProjectWorkspace, actor: CurrentActor, counter: str
) -> JSONResponse:
    view = pipeline_runs.resume(workspace, actor, counter, background=scheduler_of(request))
    return document(view.as_json(), 202)


@router.post(
    "/pipeline-runs/{counter}/stop", status_code=202, response_model=PipelineRunPublic, summary="Stop a run"
)
def stop_run(
    request: Request, workspace: ProjectWorkspace, actor: CurrentActor, counter: str
) -> JSONResponse:
    view = pipeline_runs.stop(workspace, actor, counter, background=scheduler_of(request))
    return document(view.as_json(), 202)


@router.post(
    "/trees",
    status_code=201,
    response_model=TreePublic,
    summary="Upload a working tree (a tar body, streamed) for an --adhoc run",
)
async def upload_tree(request: Request, workspace: ProjectWorkspace, actor: CurrentActor) -> TreePublic:
    # NOTE: the role is checked before the body is read, not after: a viewer's 512 MiB body is
    # refused at once rather than stored first.
    actor.require(workspace.project_id, Role.MEMBER, "upload trees")
    trees = _trees(workspace)
    partial = trees / f".upload-{uuid.uuid4().hex}.tar"
    try:
        size = 0
        with partial.open("wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > TREE_UPLOAD_LIMIT_BYTES:
                    raise InvalidRequest(
                        f"the uploaded tree is larger than {TREE_UPLOAD_LIMIT_BYTES // 2**20} MiB",
                        hint="leave data out of the tree: use inputs and datasets",
                    )
                handle.write(chunk)
        if size == 0:
            raise InvalidRequest("the upload is empty", hint="send the tree as a tar body")
        digest = await run_in_threadpool(_accept_tree, workspace, partial)
    finally:
        partial.unlink(missing_ok=True)
    return TreePublic(digest=digest, tree=digest)


def _accept_tree(workspace: Workspace, tarball: Path) -> str:
    """Unpack and check the tree (sources.py refuses what escapes it), keep its tar by digest."""
    code = sources.prepare(workspace, sources.SourceRequest(adhoc=tarball))
    digest = str(code.source["tree"])
    os.replace(tarball, _trees(workspace) / f"{digest}.tar")
    return digest


def _tree_file(workspace: Workspace, digest: str) -> Path:
    if not _TREE_DIGEST.match(digest):
        raise InvalidRequest(f"{digest[:70]!r} is not a tree digest", hint="POST the tree to …/trees first")
    path = _trees(workspace) / f"{digest}.tar"
    if not path.is_file():
        raise NotFound(f"no uploaded tree {digest}", hint="POST the tree to …/trees, then start the run")
    return path


def _trees(workspace: Workspace) -> Path:
    folder = workspace.project.ensure_state_dir() / "trees"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _counter(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidRequest("the cursor is not one this list gave", hint="start again without it") from None
