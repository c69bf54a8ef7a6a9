"""Executions: list (filtered, by cursor), show, read the log, list and download outputs, stop,
settle. Reads need the viewer role; stopping and settling need member (docs/catalog.md, "Roles")::

    page = list_executions(workspace, actor, limit=50, status="error")
    detail = show_execution(workspace, actor, "#12")
    chunk = read_log(workspace, actor, "#12", offset=0, limit=65536)   # chunk.next_offset …
    with open_output(workspace, actor, "#12", "model.bin") as download: ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from assay.errors import InvalidRequest, NotFound
from assay.operations.actor import Actor, Role
from assay.operations.downloads import Download, open_verified
from assay.operations.views import JSON, View, meta
from assay.operations.workspace import Workspace

#: statuses an execution can be listed by (catalog/executions.py)
STATUSES = ("created", "started", "completed", "error", "stopped")


@dataclass(frozen=True)
class DatumSummary(View):
    id: str
    uri: str
    name: str
    sha256: str
    size: int
    tags: JSON


@dataclass(frozen=True)
class DatumDetail(DatumSummary):
    metadata: JSON
    aliases: tuple[str, ...]
    source_uri: str | None
    produced_by: JSON
    created_at: str | None


@dataclass(frozen=True)
class ExecutionSummary(View):
    id: str
    ref: str
    counter: int
    step: str
    status: str
    image: str
    exit_code: int | None
    message: str | None
    created_at: str | None
    started_at: str | None
    ended_at: str | None
    duration_seconds: float | None


@dataclass(frozen=True)
class ExecutionDetail(ExecutionSummary):
    """An execution with everything ``executions show`` shows; parameters are masked already."""

    parameters: JSON
    inputs: JSON
    metadata: JSON
    outputs: tuple[DatumSummary, ...] = field(metadata=meta(view=DatumSummary))
    model_versions: tuple[str, ...]
    dataset_versions: tuple[str, ...]
    verdicts: JSON
    problems: JSON
    environment: JSON
    command: str
    log_path: str | None
    execution_dir: str
    source: JSON


@dataclass(frozen=True)
class ExecutionPage(View):
    """Newest first; ``next_cursor`` (a counter) gives the page after, None: this was the last."""

    executions: tuple[ExecutionSummary, ...] = field(metadata=meta(view=ExecutionSummary))
    next_cursor: int | None


@dataclass(frozen=True)
class LogChunk(View):
    """Bytes ``offset`` to ``next_offset`` of an execution's log, as it was when read.

    ``finished``: the execution has ended, so the log grows no more (a follower stops when it
    has read to ``size``)."""

    execution: str  # exec-<id>
    counter: int
    offset: int
    next_offset: int
    size: int
    finished: bool
    data: bytes

    def to_json(self) -> dict[str, JSON]:
        """Without ``data``'s bytes: its text (invalid UTF-8 replaced), as a JSON body carries it."""
        view = super().to_json()
        view["data"] = self.data.decode("utf-8", errors="replace")
        return view


@dataclass(frozen=True)
class StoppedExecution(View):
    counter: int
    step: str
    status: str
    message: str
    processes: int
    pipeline_run: int | None


@dataclass(frozen=True)
class SettledExecutions(View):
    settled: tuple[StoppedExecution, ...] = field(metadata=meta(view=StoppedExecution))
    left: JSON  # [{"counter", "step", "why"}]


def list_executions(
    workspace: Workspace,
    actor: Actor,
    *,
    limit: int = 50,
    status: str | None = None,
    step: str | None = None,
    pipeline_run: str | int | None = None,
    before: int | None = None,
) -> ExecutionPage:
    """Executions newest first, at most ``limit``, filtered; ``before``: a page's ``next_cursor``."""
    actor.require(workspace.project_id, Role.VIEWER, "list executions")
    from assay.catalog.views import execution_views

    if limit < 1:
        raise InvalidRequest(f"a limit is a positive number, not {limit}", hint="e.g. --limit 50")
    if status is not None and status not in STATUSES:
        raise InvalidRequest(
            f"there is no execution status {status!r}", hint=f"one of: {', '.join(STATUSES)}"
        )
    found = ExecutionSummary.many(
        execution_views(workspace.catalog, workspace.project_id, limit=limit, status=status, step=step,
                        pipeline_run=pipeline_run, before=before)
    )  # fmt: skip
    cursor = found[-1].counter if len(found) == limit and found[-1].counter > 1 else None
    return ExecutionPage(executions=found, next_cursor=cursor)


def show_execution(workspace: Workspace, actor: Actor, ref: str) -> ExecutionDetail:
    """One execution by counter (``12``, ``#12``), id, ``exec-<id>`` or ``latest``."""
    actor.require(workspace.project_id, Role.VIEWER, "show an execution")
    from assay.catalog.views import execution_view

    return ExecutionDetail.from_json(execution_view(workspace.catalog, workspace.project_id, ref))


def read_log(
    workspace: Workspace, actor: Actor, ref: str, *, offset: int = 0, limit: int | None = None
) -> LogChunk:
    """Bytes of the execution's log from ``offset``, at most ``limit`` (None: to its end)."""
    actor.require(workspace.project_id, Role.VIEWER, "read an execution's log")
    from assay.catalog.executions import FINAL_STATUSES

    if offset < 0 or (limit is not None and limit < 0):
        raise InvalidRequest("a log's offset and limit are counts of bytes, 0 or more")
    execution = show_execution(workspace, actor, ref)
    path = Path(execution.log_path) if execution.log_path else None
    if path is None or not path.is_file():
        raise NotFound(f"execution #{execution.counter} has no log file", hint="it may never have started")
    # NOTE: the status is read before the bytes: a log read after the end is complete.
    finished = execution.status in FINAL_STATUSES
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(min(offset, size))
        data = handle.read(limit)  # None: to the end
    start = min(offset, size)
    return LogChunk(
        execution=execution.ref, counter=execution.counter, offset=start, next_offset=start + len(data),
        size=max(size, start + len(data)), finished=finished, data=data,
    )  # fmt: skip


def list_outputs(workspace: Workspace, actor: Actor, ref: str) -> tuple[DatumSummary, ...]:
    actor.require(workspace.project_id, Role.VIEWER, "list an execution's outputs")
    return show_execution(workspace, actor, ref).outputs


def open_output(workspace: Workspace, actor: Actor, ref: str, output: str) -> Download:
    """One output of the execution, by name (``model.bin``) or datum (``datum://<id>``), opened
    for reading after its bytes were checked against its digest."""
    actor.require(workspace.project_id, Role.VIEWER, "download an execution's output")
    execution = show_execution(workspace, actor, ref)
    wanted = output.removeprefix("datum://")
    found = next((d for d in execution.outputs if wanted in (d.name, d.id)), None)
    if found is None:
        names = ", ".join(d.name for d in execution.outputs) or "none"
        raise NotFound(
            f"execution #{execution.counter} has no output {output!r}",
            hint=f"its outputs: {names} (`assay executions outputs {execution.counter}`)",
        )
    return open_verified(
        workspace.store, name=found.name, datum=found.uri, sha256=found.sha256, size=found.size
    )


def stop_execution(
    workspace: Workspace,
    actor: Actor,
    ref: str,
    *,
    wait: float = 30.0,
    on_event: Callable[[str], None] = lambda message: None,
) -> StoppedExecution:
    """Ask the execution's driver to stop it (or, with that driver gone, stop and record it)."""
    actor.require(workspace.project_id, Role.MEMBER, "stop an execution")
    from assay.executors.orphans import stop_execution as stop

    stopped = stop(workspace.catalog, workspace.project_id, ref, actor.name, wait=wait, on_event=on_event)
    return StoppedExecution(**asdict(stopped))


def settle_executions(workspace: Workspace, actor: Actor) -> SettledExecutions:
    """Record the end of executions whose driver is gone, and end what they left running."""
    actor.require(workspace.project_id, Role.MEMBER, "settle executions")
    from assay.executors.orphans import settle

    report = settle(workspace.catalog, workspace.project_id, actor.name)
    return SettledExecutions(
        settled=tuple(StoppedExecution(**asdict(s)) for s in report.settled),
        left=[asdict(x) for x in report.left],
    )


def show_datum(workspace: Workspace, actor: Actor, ref: str) -> DatumDetail:
    """One datum by ``datum://<id>``, ``datum://<alias>``, or the bare id or alias."""
    actor.require(workspace.project_id, Role.VIEWER, "show a datum")
    from assay.catalog.views import datum_view

    return DatumDetail.from_json(datum_view(workspace.catalog, workspace.project_id, ref))
