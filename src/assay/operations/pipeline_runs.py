"""Pipeline runs: start, list, show, resume, stop (deciding their gates: ``operations/gates.py``).

Each use case records what it does in the catalog first; where there is then work to do, it
either drives the run here (the CLI: ``background=None``, until the run finishes or waits for a
person) or hands it to ``background(workspace, run_id)`` — the server's scheduler — and returns
at once::

    view = start(workspace, actor, "train-and-promote", RunRequest())          # drives here
    view = start(workspace, actor, "train-and-promote", RunRequest(), background=scheduler.submit)
    decision = gates.approve(workspace, approver, view.counter, "promote", comment="fine")

Roles: a viewer reads; a member starts, resumes and stops; an approver decides gates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from assay.catalog import approvals, pipelines, run_records
from assay.catalog.gates import PENDING
from assay.catalog.run_records import NewRun, RunRecord
from assay.engine.graph import Graph, build_graph
from assay.engine.scheduler import Launcher
from assay.engine.wiring import RunRequest, catalog_references, check_request, given_input_notes
from assay.errors import Conflict, InvalidRequest, SpecError, closest
from assay.executors import orphans, runs
from assay.executors.local import NodeLineCallback
from assay.executors.orphans import RunDriver, run_driver
from assay.operations import sources
from assay.operations.actor import Actor, Role
from assay.operations.workspace import Workspace
from assay.runtime import Runtime, choose_sandbox
from assay.spec import load_spec
from assay.spec.secrets import Secrets

#: a run handed to the server's scheduler: ``background(workspace, run_id)`` returns at once
Background = Callable[[Workspace, str], None]


def _quiet(message: str) -> None:
    del message


@dataclass(frozen=True)
class Foreground:
    """How a run driven in the calling process reports (the CLI's consoles), and its slots."""

    slots: int | None = None
    on_event: Callable[[str], None] = _quiet
    on_line: NodeLineCallback | None = None
    on_warning: Callable[[str], None] | None = None
    on_progress: Callable[[str], None] | None = None
    #: the server's scheduler wraps the launcher (to refuse new executions while it drains)
    wrap_launcher: Callable[[Launcher], Launcher] | None = None


#: a run driven here says nothing
QUIET = Foreground()


@dataclass(frozen=True)
class RunView:
    """A pipeline run as every interface shows it.

    ``detail`` is the catalog's read model of the run (``catalog.views.describe_run``: nodes,
    executions, gates, verdicts, model versions), the shape ``--json`` prints; ``gates`` holds
    each gate's approvals so far.
    """

    id: str
    counter: int
    pipeline: str
    status: str
    message: str | None
    created_by: str
    driver: RunDriver
    gates: Mapping[str, approvals.GateView]
    detail: Mapping[str, Any] = field(repr=False)

    def as_json(self) -> dict[str, Any]:
        nodes = [
            {
                **node,
                "gate": None
                if node["gate"] is None
                else {**node["gate"], **_approvals_json(self.gates[node["name"]])},
            }
            if node.get("gate") is not None and node["name"] in self.gates
            else node
            for node in self.detail.get("nodes", [])
        ]
        return {**self.detail, "nodes": nodes, "driver": self.driver.as_json()}


@dataclass(frozen=True)
class RunSummary:
    id: str
    counter: int
    pipeline: str
    status: str
    detail: Mapping[str, Any] = field(repr=False)

    def as_json(self) -> dict[str, Any]:
        return dict(self.detail)


def _approvals_json(gate: approvals.GateView) -> dict[str, Any]:
    return {
        "required": gate.required,
        "auth_method": gate.auth_method,
        "approvals": [
            {"by": a.shown_as, "auth_method": a.auth_method, "comment": a.comment, "at": a.at.isoformat()}
            for a in gate.approvals
        ],
    }


# -- reads ----------------------------------------------------------------------------------


def show(workspace: Workspace, actor: Actor, ref: str | int) -> RunView:
    actor.require(workspace.project_id, Role.VIEWER, "see pipeline runs")
    required = workspace.settings().approvals_required
    shown = run_records.run_detail(workspace.catalog, workspace.project_id, ref, required=required)
    run = shown.record
    return RunView(
        id=run.id,
        counter=run.counter,
        pipeline=run.pipeline,
        status=run.status,
        message=run.message,
        created_by=run.created_by,
        driver=run_driver(run),
        gates=shown.gates,
        detail=shown.detail,
    )


def list_runs(
    workspace: Workspace, actor: Actor, *, limit: int = 50, before: int | None = None
) -> tuple[RunSummary, ...]:
    """Newest first; ``before``: only runs numbered below it (the next page)."""
    actor.require(workspace.project_id, Role.VIEWER, "see pipeline runs")
    found = run_records.run_summaries(workspace.catalog, workspace.project_id, limit=limit, before=before)
    return tuple(RunSummary(d["id"], d["counter"], d["pipeline"], d["status"], d) for d in found)


def recover(workspace: Workspace, actor: Actor) -> tuple[str, ...]:
    """Settle what dead drivers left, and name the runs that nothing drives and that can go on.

    Executions whose driver is gone are recorded ended ("interrupted", ``executors/orphans``), so
    a resume runs their nodes again; the runs returned are those running, stopping or failing with
    no live driver, and those waiting for approval whose gates were all decided meanwhile.
    """
    actor.require(workspace.project_id, Role.MEMBER, "resume pipeline runs")
    orphans.settle(workspace.catalog, workspace.project_id, actor.name)
    found = []
    for run_id in run_records.unfinished_runs(workspace.catalog, workspace.project_id):
        view = show(workspace, actor, run_id)
        if view.driver.driver.state == orphans.ALIVE:
            continue
        waiting = view.status == pipelines.WAITING
        if view.driver.stranded or (waiting and all(g.status != PENDING for g in view.gates.values())):
            found.append(run_id)
    return tuple(found)


# -- start, resume, stop ---------------------------------------------------------------------


def start(
    workspace: Workspace,
    actor: Actor,
    pipeline: str,
    request: RunRequest,
    *,
    reuse: bool | None = None,
    source: sources.SourceRequest | None = None,
    background: Background | None = None,
    foreground: Foreground = QUIET,
) -> RunView:
    """Record a run of ``pipeline`` (nothing is recorded if the request is wrong), then drive it.

    ``source`` (the server): run a commit of the project's repository, or an uploaded tree;
    None: the project's folder as it is.
    """
    actor.require(workspace.project_id, Role.MEMBER, "start pipeline runs")
    code = sources.prepare(workspace, source)
    spec = load_spec(code.root / "valohai.yaml")
    if pipeline in spec.broken:
        problems = spec.broken[pipeline]
        raise SpecError(
            f"pipeline {pipeline!r} cannot run: it has {len(problems)} "
            f"error{'s' if len(problems) != 1 else ''}",
            list(problems),
            hint="`assay lint` lists every finding; the file's other pipelines and its steps still run",
        )
    if pipeline not in spec.pipelines:
        close = closest(pipeline, [*spec.pipelines, *spec.broken])
        raise InvalidRequest(
            f"valohai.yaml has no pipeline {pipeline!r}" + (f"; did you mean {close!r}?" if close else ""),
            hint=f"its pipelines: {', '.join(spec.pipelines) or 'none'}",
        )
    graph = build_graph(spec.pipelines[pipeline])
    check_request(graph, request)
    _check_references(workspace, graph, request)
    reuse = graph.pipeline.reuse_executions if reuse is None else reuse
    # What lint warns about this pipeline (an edge that delivers nothing…) goes on the run too,
    # and so does each --input that joins the files an edge delivers.
    warnings = (
        [
            f"valohai.yaml:{p.line}: {p.message}"
            for p in spec.pipeline_findings.get(pipeline, ())
            if p.severity == "warning"
        ]
        + given_input_notes(graph, request)
        + _settings_notes(workspace, code)
    )
    secrets = Secrets(salt=workspace.project_id, marked=workspace.settings().secrets)
    recorded = {**request.recorded(secrets), "reuse": reuse}
    if code.source:
        recorded["source"] = dict(code.source)
    run = run_records.record_run(
        workspace.catalog,
        NewRun(
            project_id=workspace.project_id,
            pipeline=pipeline,
            nodes=tuple(graph.order),
            spec_text=(code.root / "valohai.yaml").read_text(encoding="utf-8"),
            request=recorded,
            actor=actor.name,
            warnings=tuple(warnings),
        ),
    )
    foreground.on_event(f"pipeline run #{run.counter} of {pipeline!r} started")
    for warning in warnings:
        foreground.on_event(f"warning: {warning}")
    # NOTE: driven here, the run gets the request as given, secret values included; the catalog
    # keeps them masked, so a run handed to the background (or resumed) cannot pass them on.
    _continue(workspace, actor, run.id, background, foreground, request=request)
    return show(workspace, actor, run.id)


def _check_references(workspace: Workspace, graph: Graph, request: RunRequest) -> None:
    """Every model:// and dataset:// input the run will use exists, or nothing is recorded."""
    references = list(catalog_references(graph, request))
    found = run_records.reference_problems(
        workspace.catalog, workspace.project_id, [uri for _node, _input, uri in references]
    )
    problems = [
        f"node {node!r}, input {input_name!r}: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")
        for (node, input_name, _uri), exc in zip(references, found, strict=True)
        if exc is not None
    ]
    if problems:
        raise InvalidRequest("; ".join(problems), hint="nothing was run; fix the references and run again")


def resume(
    workspace: Workspace,
    actor: Actor,
    ref: str | int,
    *,
    background: Background | None = None,
    foreground: Foreground = QUIET,
) -> RunView:
    """Continue a run left unfinished (by a crash, or waiting on a decided gate)."""
    actor.require(workspace.project_id, Role.MEMBER, "resume pipeline runs")
    run = _unfinished(workspace, ref, "; there is nothing to resume")
    _continue(workspace, actor, run.id, background, foreground)
    return show(workspace, actor, run.id)


def stop(
    workspace: Workspace,
    actor: Actor,
    ref: str | int,
    *,
    background: Background | None = None,
    foreground: Foreground = QUIET,
) -> RunView:
    """Stop a run: its running executions end, nothing else starts."""
    actor.require(workspace.project_id, Role.MEMBER, "stop pipeline runs")
    run = _unfinished(workspace, ref)
    if not run_records.request_stop(
        workspace.catalog, workspace.project_id, run.id, actor.name, f"stopped by {actor.name}"
    ):
        raise Conflict(
            f"pipeline run #{run.counter} has just ended", hint=f"`assay pipeline show {run.counter}`"
        )
    _continue(workspace, actor, run.id, background, foreground, driven_elsewhere="is stopping it")
    return show(workspace, actor, run.id)


def _unfinished(workspace: Workspace, ref: str | int, why: str = "") -> RunRecord:
    """The run ``ref`` names, or ``Conflict`` when it has ended."""
    run = run_of(workspace, ref)
    if run.status in pipelines.FINAL_RUN_STATUSES:
        raise Conflict(f"pipeline run #{run.counter} is already {run.status}{why}")
    return run


# -- driving ----------------------------------------------------------------------------------


def _continue(
    workspace: Workspace,
    actor: Actor,
    run_id: str,
    background: Background | None,
    foreground: Foreground,
    *,
    request: RunRequest | None = None,
    driven_elsewhere: str | None = None,
) -> None:
    """Hand the run to ``background``, or drive it here; ``driven_elsewhere``: what to say, rather
    than fail, when another process drives it (``Conflict``)."""
    if background is not None:
        background(workspace, run_id)
        return
    try:
        drive_here(workspace, actor, run_id, foreground, request=request)
    except Conflict:
        if driven_elsewhere is None:
            raise
        foreground.on_event(f"the process driving this run {driven_elsewhere}")


def drive_here(
    workspace: Workspace,
    actor: Actor,
    run_id: str,
    foreground: Foreground = QUIET,
    *,
    request: RunRequest | None = None,
) -> str:
    """Drive the run in this thread, with the run's code, until it ends or waits; its status after.

    ``request``: the run's request as given (None: as recorded, secret values masked).
    ``Conflict`` when another process drives it. The server's scheduler calls this from its threads.
    """
    run = run_of(workspace, run_id)
    runtime = _runtime(workspace, actor, foreground, run)
    try:
        return runs.drive(runtime, run, _options(workspace, foreground), request=request)
    finally:
        runtime.close()


def _options(workspace: Workspace, foreground: Foreground) -> runs.RunOptions:
    return runs.RunOptions(
        slots=foreground.slots,
        on_event=foreground.on_event,
        on_line=foreground.on_line,
        settings=workspace.settings(),
        wrap_launcher=foreground.wrap_launcher,
    )


def _runtime(workspace: Workspace, actor: Actor, foreground: Foreground, run: RunRecord) -> Runtime:
    """The runtime of a run's executions: the run's code (its commit, its uploaded tree, or the
    project's folder) with the workspace's catalog and store."""
    source = dict(run.request.get("source") or {})
    code = sources.code_of(workspace, source)
    return Runtime(
        project=code.project,
        catalog=workspace.catalog,
        store=workspace.store,
        sandbox=choose_sandbox(),
        actor=actor.name,
        on_warning=foreground.on_warning,
        on_progress=foreground.on_progress,
        settings=workspace.settings(),
        source=source,
        _project_id=workspace.project_id,
    )


def run_of(workspace: Workspace, ref: str | int) -> RunRecord:
    """The catalog's record of a run (no permission check: for the operations that made one)."""
    return run_records.run_record(workspace.catalog, workspace.project_id, ref)


def _settings_notes(workspace: Workspace, code: sources.Code) -> list[str]:
    """A commit's own ``assay.yaml`` is not what the run uses (the project's is: a commit under
    review must not loosen its approvals); a run must say so rather than ignore it silently."""
    theirs = code.root / "assay.yaml"
    ours = workspace.project.root / "assay.yaml"
    if not code.source or not theirs.is_file() or code.root == workspace.project.root:
        return []
    if ours.is_file() and ours.read_bytes() == theirs.read_bytes():
        return []
    return [
        f"the assay.yaml of the code this run executes is not used: the project's settings are "
        f"({ours if ours.is_file() else 'none, so the defaults'}); change them there"
    ]
