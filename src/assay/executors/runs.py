"""Pipeline runs on this host: start, resume, decide a gate, stop. Used by the CLI and the server.

Each function records what it does in the catalog first and then, where there is work to do,
drives the run in the calling process with the local executor until the run finishes or waits
for a person. No process waits at a gate.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assay.catalog import datasets, executions, gates, governance, models, pipelines, promotion, verdicts
from assay.catalog.tables import PipelineRun
from assay.engine.graph import Graph, build_graph
from assay.engine.scheduler import Driver
from assay.engine.wiring import RunRequest, catalog_references, check_request, given_input_notes
from assay.errors import Conflict, InvalidRequest, NotFound, SpecError, closest
from assay.executors.local import LocalExecutor, NodeLineCallback
from assay.runtime import Runtime
from assay.spec import check_text, load_spec
from assay.spec.settings import Settings, load_settings

#: how long a decider waits for another process that drives the run to let go of it
CLAIM_WAIT_SECONDS = 30.0


@dataclass
class RunOptions:
    slots: int | None = None
    reuse: bool | None = None  # None: as the pipeline's `reuse-executions` says
    on_event: Callable[[str], None] = lambda message: None
    on_line: NodeLineCallback | None = None
    settings: Settings = field(default_factory=Settings)


def start_run(runtime: Runtime, pipeline_name: str, request: RunRequest, options: RunOptions) -> PipelineRun:
    """Create a run of ``pipeline_name`` (nothing is recorded if the request is wrong) and drive it."""
    spec_path = runtime.project.spec_path
    spec = load_spec(spec_path)
    if pipeline_name in spec.broken:
        problems = spec.broken[pipeline_name]
        raise SpecError(
            f"pipeline {pipeline_name!r} cannot run: it has {len(problems)} error"
            f"{'s' if len(problems) != 1 else ''}",
            list(problems),
            hint="`assay lint` lists every finding; the file's other pipelines and its steps still run",
        )
    if pipeline_name not in spec.pipelines:
        close = closest(pipeline_name, [*spec.pipelines, *spec.broken])
        raise InvalidRequest(
            f"valohai.yaml has no pipeline {pipeline_name!r}"
            + (f"; did you mean {close!r}?" if close else ""),
            hint=f"its pipelines: {', '.join(spec.pipelines) or 'none'}",
        )
    graph = build_graph(spec.pipelines[pipeline_name])
    check_request(graph, request)
    _check_references(runtime, graph, request)
    reuse = graph.pipeline.reuse_executions if options.reuse is None else options.reuse
    # What lint warns about this pipeline (an edge that delivers nothing…) goes on the run too,
    # and so does each --input that joins the files an edge delivers.
    warnings = [
        f"valohai.yaml:{p.line}: {p.message}"
        for p in spec.pipeline_findings.get(pipeline_name, ())
        if p.severity == "warning"
    ] + given_input_notes(graph, request)
    with runtime.catalog.transaction() as session:
        run = pipelines.create_run(
            session, project_id=runtime.project_id, pipeline=pipeline_name, nodes=list(graph.order),
            spec_text=spec_path.read_text(encoding="utf-8"),
            request={**request.recorded(runtime.secrets), "reuse": reuse},
            actor=runtime.actor, warnings=warnings,
        )  # fmt: skip
    options.on_event(f"pipeline run #{run.counter} of {pipeline_name!r} started")
    for warning in warnings:
        options.on_event(f"warning: {warning}")
    return _drive(runtime, run, graph, request, reuse, options)


def _check_references(runtime: Runtime, graph: Graph, request: RunRequest) -> None:
    """Every model:// and dataset:// input the run will use exists, or nothing is recorded."""
    problems = []
    with runtime.catalog.read() as session:
        for node, input_name, uri in catalog_references(graph, request):
            try:
                if uri.startswith("model://"):
                    models.resolve(session, runtime.project_id, uri)
                else:
                    datasets.resolve(session, runtime.project_id, uri)
            except (InvalidRequest, NotFound) as exc:
                hint = f" ({exc.hint})" if exc.hint else ""
                problems.append(f"node {node!r}, input {input_name!r}: {exc.message}{hint}")
    if problems:
        raise InvalidRequest("; ".join(problems), hint="nothing was run; fix the references and run again")


def resume_run(runtime: Runtime, ref: str, options: RunOptions) -> PipelineRun:
    """Continue a run left unfinished (by a crash, or waiting on a decided gate)."""
    run = _run(runtime, ref)
    if run.status in pipelines.FINAL_RUN_STATUSES:
        raise Conflict(f"pipeline run #{run.counter} is already {run.status}; there is nothing to resume")
    return _drive(
        runtime, run, _graph(run), RunRequest.from_json(run.request), bool(run.request.get("reuse")), options
    )


def decide(
    runtime: Runtime, ref: str, node: str, decision: str, comment: str | None, options: RunOptions
) -> PipelineRun:
    """Approve or reject a gate (one compare-and-set), then continue the run in the foreground."""
    run = _run(runtime, ref)
    if run.status in pipelines.FINAL_RUN_STATUSES:
        with runtime.catalog.read() as session:
            gate = gates.gates_of(session, run.id).get(node)
        if gate is not None and gate.status != gates.PENDING:
            when = gate.decided_at.isoformat() if gate.decided_at else "?"
            raise Conflict(
                f"node {node!r} of pipeline run #{run.counter} was already {gate.status} "
                f"by {gate.decided_by} at {when}",
                hint="a gate is decided once",
            )
        raise Conflict(
            f"pipeline run #{run.counter} is already {run.status}; its gates can no longer be decided",
            hint=f"`assay pipeline show {run.counter}` shows how it ended",
        )
    if decision == gates.APPROVED:  # the same rule, and identities, as `assay models approve`
        governance.check_different_approver(
            options.settings.require_different_approver, runtime.actor,
            [(f"started pipeline run #{run.counter}", run.created_by)], "approve",
        )  # fmt: skip
    graph = _graph(run)
    with runtime.catalog.transaction() as session:
        evidence = _evidence(session, run, graph, node)
        gate = gates.decide_gate(
            session, run, node, decision=decision, actor=runtime.actor, comment=comment, evidence=evidence
        )
        promotion.gate_decided(session, run, gate)
    options.on_event(f"{node} {decision} by {runtime.actor}")
    request = RunRequest.from_json(run.request)
    reuse = bool(run.request.get("reuse"))
    # The driver of a run may be about to stop at this very gate (it read the gate as pending):
    # wait for it to let go, then continue the run here.
    deadline = time.monotonic() + CLAIM_WAIT_SECONDS
    while True:
        try:
            return _drive(runtime, _run(runtime, ref), graph, request, reuse, options)
        except Conflict:
            if time.monotonic() > deadline:
                options.on_event("the process driving this run continues it")
                return _run(runtime, ref)
            time.sleep(0.2)


def stop_run(runtime: Runtime, ref: str, options: RunOptions) -> PipelineRun:
    run = _run(runtime, ref)
    if run.status in pipelines.FINAL_RUN_STATUSES:
        raise Conflict(f"pipeline run #{run.counter} is already {run.status}")
    with runtime.catalog.transaction() as session:
        stopping = pipelines.set_run_status(
            session, run, pipelines.STOPPING, runtime.actor, f"stopped by {runtime.actor}",
            only_from=(pipelines.RUNNING, pipelines.WAITING, pipelines.STOPPING, pipelines.FAILING),
        )  # fmt: skip
    if not stopping:
        raise Conflict(
            f"pipeline run #{run.counter} has just ended", hint=f"`assay pipeline show {run.counter}`"
        )
    try:
        return _drive(runtime, run, _graph(run), RunRequest.from_json(run.request), False, options)
    except Conflict:
        options.on_event("the process driving this run is stopping it")
        return _run(runtime, ref)


def _drive(
    runtime: Runtime, run: PipelineRun, graph: Graph, request: RunRequest, reuse: bool, options: RunOptions
) -> PipelineRun:
    slots = options.slots or options.settings.slots or os.cpu_count() or 1
    executor = LocalExecutor(runtime, slots, options.on_line)
    driver = Driver(
        catalog=runtime.catalog, run=run, graph=graph, request=request, launcher=executor,
        actor=runtime.actor, retries=options.settings.retries, reuse=reuse, on_event=options.on_event,
        baseline_alias=options.settings.baseline_alias, baseline_model=options.settings.baseline_model,
        promote_alias=options.settings.promote_alias,
    )  # fmt: skip
    try:
        driver.drive()
    finally:
        if driver.run.status in pipelines.FINAL_RUN_STATUSES:
            executor.stop_all()  # nothing of a finished run may still start
        executor.close()
    return _run(runtime, str(run.counter))


def _run(runtime: Runtime, ref: str) -> PipelineRun:
    with runtime.catalog.read() as session:
        return pipelines.get_run(session, runtime.project_id, ref)


def _graph(run: PipelineRun) -> Graph:
    """The graph the run started with (its valohai.yaml was stored with it)."""
    check = check_text(run.spec_text)
    if check.spec is None or run.pipeline not in check.spec.pipelines:
        raise SpecError(f"the valohai.yaml stored with pipeline run #{run.counter} no longer loads",
                        list(check.errors))  # fmt: skip
    return build_graph(check.spec.pipelines[run.pipeline])


def _evidence(session: Any, run: PipelineRun, graph: Graph, node: str) -> dict[str, Any]:
    """What the reviewer sees: the metadata of every execution upstream of the gate."""
    if node not in graph.pipeline.nodes:
        raise InvalidRequest(f"pipeline {graph.name!r} has no node {node!r}")
    rows = pipelines.nodes_of(session, run.id)
    ancestors = graph.ancestors(node)
    upstream: dict[str, Any] = {}
    for name in graph.order:
        if name not in ancestors:
            continue
        shown = []
        for execution_id in rows[name].executions:
            execution = executions.get_execution(session, run.project_id, execution_id)
            shown.append(
                {
                    "execution": f"#{execution.counter}",
                    "id": execution.id,
                    "status": execution.status,
                    "metadata": executions.latest_metadata(session, execution.id),
                }
            )
        upstream[name] = shown
    found = [verdicts.as_json(v) for v in verdicts.of_run(session, run.id)]
    return {"upstream": upstream, "verdicts": found}


def project_settings(runtime: Runtime) -> Settings:
    return load_settings(runtime.project.root)
