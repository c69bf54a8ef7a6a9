"""``/api/v1/projects/{project}/executions``: list, show, logs (whole, or followed as
Server-Sent Events), outputs and their bytes, stop.

A followed log is ``data: {"line": "…"}`` events, one per line as it is written, then one
``event: end`` once the execution has ended and every line was sent (``Client.follow_logs``
reads exactly that). The log is read by offset in a worker thread, so a follower holds no
thread while it waits, and stops when its client goes away.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import anyio
from anyio import to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

from assay.catalog.executions import FINAL_STATUSES
from assay.errors import NotFound
from assay.operations import executions
from assay.operations.actor import Actor
from assay.operations.downloads import Download
from assay.operations.workspace import Workspace
from assay.server.deps import CurrentActor, ProjectWorkspace
from assay.server.pagination import DEFAULT_LIMIT, Cursor, Limit
from assay.server.routes.answers import (
    Document,
    Page,
    answer,
    counter_cursor,
    number_cursor,
    page,
    page_after,
)

router = APIRouter(prefix="/api/v1/projects/{project}/executions", tags=["executions"])

#: how long a follower waits before reading a log that had nothing new
FOLLOW_POLL_SECONDS = 0.2
#: a comment line this often keeps proxies from closing a quiet stream
KEEPALIVE_SECONDS = 15.0
#: bytes read from a followed log at a time
FOLLOW_READ = 1 << 16
#: bytes of a whole log read at a time
LOG_CHUNK = 1 << 20


class ExecutionPublic(Document):
    """An execution as ``assay executions show --json`` prints it (parameters masked)."""


class ExecutionSummaryPublic(Document):
    """An execution as ``assay executions list --json`` lists it."""


class ExecutionsPublic(Page):
    data: list[ExecutionSummaryPublic]  # type: ignore[assignment]


class OutputPublic(Document):
    """A datum an execution produced: id, uri, name, sha256, size, tags."""


class OutputsPublic(Page):
    data: list[OutputPublic]  # type: ignore[assignment]


class StoppedPublic(BaseModel):
    counter: int
    step: str
    status: str
    message: str
    processes: int
    pipeline_run: int | None


@router.get("", summary="Executions, newest first", response_model=ExecutionsPublic)
def list_executions(
    workspace: ProjectWorkspace,
    actor: CurrentActor,
    status: Annotated[str | None, Query(max_length=32)] = None,
    step: Annotated[str | None, Query(max_length=255)] = None,
    pipeline_run: Annotated[str | None, Query(max_length=64, description="A run's number")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> JSONResponse:
    found = executions.list_executions(
        workspace, actor, limit=limit, status=status, step=step, pipeline_run=pipeline_run,
        before=counter_cursor(cursor),
    )  # fmt: skip
    return answer(page([e.to_json() for e in found.executions], number_cursor(found.next_cursor)))


@router.get("/{counter}", summary="One execution", response_model=ExecutionPublic)
def show_execution(workspace: ProjectWorkspace, actor: CurrentActor, counter: str) -> JSONResponse:
    return answer(executions.show_execution(workspace, actor, counter).to_json())


@router.get(
    "/{counter}/logs",
    summary="Its log; with follow=true, Server-Sent Events until it ends",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}, "text/event-stream": {}}}},
)
def read_logs(
    workspace: ProjectWorkspace,
    actor: CurrentActor,
    counter: str,
    request: Request,
    follow: bool = False,
) -> Response:
    execution = executions.show_execution(workspace, actor, counter)  # a wrong counter: 404 now
    if follow:
        events = _follow(workspace, actor, execution.ref, request)
        return StreamingResponse(
            events, media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )  # fmt: skip
    first = executions.read_log(workspace, actor, execution.ref, limit=LOG_CHUNK)  # no log: 404 now
    return StreamingResponse(
        _log(workspace, actor, execution.ref, first), media_type="text/plain; charset=utf-8"
    )


def _log(workspace: Workspace, actor: Actor, ref: str, first: executions.LogChunk) -> Iterator[bytes]:
    """The log as it was when the first chunk was read, a chunk at a time (a log may be huge)."""
    yield first.data
    offset, end = first.next_offset, first.size
    while offset < end:
        chunk = executions.read_log(workspace, actor, ref, offset=offset, limit=min(LOG_CHUNK, end - offset))
        if not chunk.data:
            return
        yield chunk.data
        offset = chunk.next_offset


async def _follow(workspace: Workspace, actor: Actor, ref: str, request: Request) -> AsyncIterator[str]:
    offset = 0
    pending = b""  # the start of a line whose end is not written yet
    quiet = 0.0
    while not await request.is_disconnected():
        try:
            chunk = await to_thread.run_sync(_read, workspace, actor, ref, offset)
        except NotFound:  # no log file yet: the execution has not started
            shown = await to_thread.run_sync(executions.show_execution, workspace, actor, ref)
            if shown.status in FINAL_STATUSES:
                break
            chunk = None
        if chunk is not None and chunk.data:
            offset = chunk.next_offset
            *lines, pending = (pending + chunk.data).split(b"\n")
            for line in lines:
                yield _line_event(line)
            quiet = 0.0
            continue
        if chunk is not None and chunk.finished:
            break
        await anyio.sleep(FOLLOW_POLL_SECONDS)
        quiet += FOLLOW_POLL_SECONDS
        if quiet >= KEEPALIVE_SECONDS:
            quiet = 0.0
            yield ": still running\n\n"
    else:
        return  # NOTE: the client went away (the loop's condition, not a break): nothing to end
    if pending:
        yield _line_event(pending)
    yield "event: end\ndata: {}\n\n"


def _read(workspace: Workspace, actor: Actor, ref: str, offset: int) -> executions.LogChunk:
    return executions.read_log(workspace, actor, ref, offset=offset, limit=FOLLOW_READ)


def _line_event(line: bytes) -> str:
    text = line.removesuffix(b"\r").decode("utf-8", errors="replace")
    return f"data: {json.dumps({'line': text})}\n\n"


@router.get("/{counter}/outputs", summary="Its outputs", response_model=OutputsPublic)
def list_outputs(
    workspace: ProjectWorkspace, actor: CurrentActor, counter: str, cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> JSONResponse:  # fmt: skip
    outputs = [datum.to_json() for datum in executions.list_outputs(workspace, actor, counter)]
    return answer(page_after(outputs, lambda datum: datum["id"], cursor, limit))


@router.get(
    "/{counter}/outputs/{path:path}",
    summary="One output's bytes, streamed, checked against its digest first",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_output(workspace: ProjectWorkspace, actor: CurrentActor, counter: str, path: str) -> Response:
    return streamed(executions.open_output(workspace, actor, counter, path))


def streamed(download: Download) -> StreamingResponse:
    """The download's bytes as they are read; the digest was checked before (``StorageError``
    then is a problem answer, not a stream broken half-way)."""
    name = download.name.rsplit("/", 1)[-1]
    headers = {
        "Content-Length": str(download.size),
        "Content-Disposition": _disposition(name),
        "ETag": f'"{download.sha256}"',
        "X-Assay-Datum": download.datum,
    }
    return StreamingResponse(_chunks(download), media_type="application/octet-stream", headers=headers)


def _chunks(download: Download) -> Iterator[bytes]:
    try:
        yield from download.chunks()
    finally:
        download.close()


def _disposition(name: str) -> str:
    from urllib.parse import quote

    plain = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.post("/{counter}/stop", status_code=202, summary="Ask it to stop", response_model=StoppedPublic)
def stop_execution(workspace: ProjectWorkspace, actor: CurrentActor, counter: str) -> JSONResponse:
    # NOTE: wait=0: the driver is asked and the answer is how the execution is recorded now;
    # an execution without a driver is stopped and recorded at once.
    stopped = executions.stop_execution(workspace, actor, counter, wait=0)
    return answer(stopped.to_json(), status_code=202)
