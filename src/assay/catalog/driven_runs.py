"""A pipeline run as the process driving it records it: one function per transaction.

The driver (``engine/scheduler.py``) holds no row and no session. Each function here opens its
own session, does what the driver used to do in one transaction — in the same order, so events
keep their order — and returns frozen views::

    claim = claim_run(catalog, run_id, me, held=lambda driver: alive(driver, me))
    settle_node(catalog, run_id, NodeChange.of("train", COMPLETED, executions=ids), actor,
                then=RunChange(STOPPING, "node 'train': …"))

A function that changes the run returns it as it is after (``DrivenRun``), read in the same
transaction, so the driver never acts on a run it read before its own last write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from assay.catalog import executions, gates, pipelines, promotion, verdicts
from assay.catalog.db import Catalog
from assay.catalog.pipelines import NodeRow
from assay.catalog.states import RunStatus
from assay.catalog.tables import Execution, PipelineRun


@dataclass(frozen=True)
class DrivenRun:
    """What the driver knows of its run between transactions."""

    id: str
    project_id: str
    counter: int
    pipeline: str
    status: str
    message: str | None
    driver: Mapping[str, Any]


@dataclass(frozen=True)
class Claim:
    run: DrivenRun
    #: False: ``held`` said another driver holds it (``run.driver``); nothing was written
    taken: bool


@dataclass(frozen=True)
class NodeChange:
    """A node's new status, with the fields (attempts, executions, message, reused) that change
    with it; a field left out keeps its value."""

    name: str
    status: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, status: str, **fields: Any) -> NodeChange:
        return cls(name, status, MappingProxyType(fields))


@dataclass(frozen=True)
class RunChange:
    """The run's new status; with ``only_from``, only if it still is one of those."""

    status: str
    message: str | None
    only_from: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Transition:
    run: DrivenRun
    changed: bool


@dataclass(frozen=True)
class VerdictRecord:
    """A regression verdict of a node, as ``verdicts.record_verdict`` stores it."""

    node: str
    execution_id: str | None
    baseline_version_id: str | None
    baseline: str | None
    outcome: str
    rows: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class NodeExecution:
    """One execution started for a node, as a resume weighs it."""

    id: str
    counter: int
    status: str
    message: str | None
    node: str | None
    attempt: int | None
    index: int


@dataclass(frozen=True)
class NodeResults:
    """What a finished node's executions offer downstream (a task node's children together):
    the first one's parameters and environment variables, the last one's metadata, everyone's
    outputs and inputs (name, datum id)."""

    parameters: Mapping[str, Any]
    metadata: Mapping[str, Any]
    outputs: tuple[tuple[str, str], ...]
    inputs: Mapping[str, tuple[tuple[str, str], ...]]
    environment: Mapping[str, Any]


@dataclass(frozen=True)
class Poll:
    """What other processes change while a run is driven: its status and its gates."""

    status: str
    gates: Mapping[str, str] = field(default_factory=dict)


# -- reading ---------------------------------------------------------------------------------


def get_run(catalog: Catalog, run_id: str) -> DrivenRun:
    with catalog.read() as session:
        return _view(session.get_one(PipelineRun, run_id))


def node_rows(catalog: Catalog, run_id: str) -> dict[str, NodeRow]:
    with catalog.read() as session:
        return pipelines.node_rows(session, run_id)


def poll(catalog: Catalog, run_id: str, *, with_gates: bool) -> Poll:
    with catalog.read() as session:
        decided = pipelines.gate_statuses(session, run_id) if with_gates else {}
        return Poll(pipelines.run_status(session, run_id), decided)


def node_executions(catalog: Catalog, run_id: str, nodes: Sequence[str]) -> list[NodeExecution]:
    """Executions of these nodes of the run, oldest first."""
    with catalog.read() as session:
        return [_execution(e) for e in executions.node_executions(session, run_id, list(nodes))]


def node_results(catalog: Catalog, execution_ids: Sequence[str]) -> NodeResults | None:
    """The results of these executions, in the order given; None when none of them exists."""
    with catalog.read() as session:
        found = executions.results_of(session, list(execution_ids))
    if not found.executions:
        return None
    first = found.executions[0]
    return NodeResults(
        parameters=MappingProxyType(dict(first.parameters)),
        metadata=MappingProxyType(found.metadata),
        outputs=tuple(found.outputs),
        inputs=MappingProxyType({k: tuple(v) for k, v in found.inputs.items()}),
        environment=MappingProxyType(dict(first.environment.get("variables", {}))),
    )


# -- the driver's lease ------------------------------------------------------------------------


def claim_run(
    catalog: Catalog, run_id: str, driver: dict[str, Any], *, held: Callable[[Mapping[str, Any]], bool]
) -> Claim:
    """Record ``driver`` as the run's, unless ``held(current driver)`` says another holds it."""
    with catalog.transaction() as session:
        # FOR UPDATE: two claimants on PostgreSQL must not both see the run unclaimed.
        run = session.get_one(PipelineRun, run_id, populate_existing=True, with_for_update=True)
        session.expunge(run)
        if held(run.driver):
            return Claim(_view(run), taken=False)
        pipelines.set_driver(session, run, driver)
        return Claim(_view(run), taken=True)


def set_driver(catalog: Catalog, run_id: str, driver: dict[str, Any]) -> None:
    """The heartbeat of the run's driver, or (``{}``) its letting go."""
    with catalog.transaction() as session:
        session.execute(update(PipelineRun).where(PipelineRun.id == run_id).values(driver=driver))


# -- transitions -------------------------------------------------------------------------------


def write_node(catalog: Catalog, run_id: str, change: NodeChange, actor: str) -> None:
    with catalog.transaction() as session:
        _set_node(session, _run(session, run_id), change, actor)


def add_warnings(catalog: Catalog, run_id: str, warnings: Sequence[str], actor: str) -> None:
    with catalog.transaction() as session:
        pipelines.add_warnings(session, _run(session, run_id), warnings, actor)


def request_approval(catalog: Catalog, run_id: str, node: str, warnings: Sequence[str], actor: str) -> None:
    """The node waits for a person: its warnings, the gate and the node's state, together."""
    with catalog.transaction() as session:
        run = _run(session, run_id)
        pipelines.add_warnings(session, run, warnings, actor)
        gates.request_gate(session, run, node, actor)
        _set_node(session, run, NodeChange(node, RunStatus.WAITING), actor)


def set_status(catalog: Catalog, run_id: str, change: RunChange, actor: str) -> Transition:
    with catalog.transaction() as session:
        run = _run(session, run_id)
        changed = _set_status(session, run, change, actor)
        return Transition(_view(run), changed)


def settle_node(
    catalog: Catalog,
    run_id: str,
    change: NodeChange,
    actor: str,
    *,
    verdict: VerdictRecord | None = None,
    warnings: Sequence[str] = (),
    then: RunChange | None = None,
) -> DrivenRun:
    """How a node ended, its verdict, the warnings its actions gave and what they do to the run:
    one transaction, so a crash records all of it or none."""
    with catalog.transaction() as session:
        run = _run(session, run_id)
        _set_node(session, run, change, actor)
        if verdict is not None:
            verdicts.record_verdict(
                session, project_id=run.project_id, run_id=run.id, node=verdict.node,
                execution_id=verdict.execution_id, baseline_version_id=verdict.baseline_version_id,
                baseline=verdict.baseline, outcome=verdict.outcome,
                rows=[dict(row) for row in verdict.rows], actor=actor,
            )  # fmt: skip
        pipelines.add_warnings(session, run, warnings, actor)
        if then is not None:
            _set_status(session, run, then, actor)
        return _view(run)


def finish_run(
    catalog: Catalog, run_id: str, status: str, reason: str | None, actor: str, *, promote_alias: str | None
) -> DrivenRun:
    """The run ends (saying ``reason``, or keeping its message); a completed one promotes what it
    made in the same transaction (``promotion.run_completed``)."""
    with catalog.transaction() as session:
        run = _run(session, run_id)
        pipelines.set_run_status(session, run, status, actor, reason or run.message)
        if status == RunStatus.COMPLETED:
            promotion.run_completed(session, run, promote_alias=promote_alias)
        return _view(run)


def requeue_interrupted(
    catalog: Catalog,
    run_id: str,
    interrupted: Sequence[str],
    message: str,
    changes: Sequence[NodeChange],
    actor: str,
) -> None:
    """A resume: executions a dead driver left are ended ``message``, and the nodes to run again
    are set back, in one transaction (a crash here leaves everything to be recovered again)."""
    with catalog.transaction() as session:
        run = _run(session, run_id)
        if interrupted:
            executions.mark_interrupted(session, list(interrupted), message)
        for change in changes:
            _set_node(session, run, change, actor)


def record_interruption(catalog: Catalog, run_id: str, actor: str, message: str) -> DrivenRun:
    with catalog.transaction() as session:
        run = _run(session, run_id)
        pipelines.record_interruption(session, run, actor, message)
        return _view(run)


def record_resumption(catalog: Catalog, run_id: str, actor: str) -> DrivenRun:
    with catalog.transaction() as session:
        run = _run(session, run_id)
        pipelines.record_resumption(session, run, actor)
        return _view(run)


# -- helpers ---------------------------------------------------------------------------------


def _run(session: Session, run_id: str) -> PipelineRun:
    """The run, detached: ``pipelines`` writes by UPDATE and notes the values on it, which must
    not be flushed a second time."""
    run = session.get_one(PipelineRun, run_id)
    session.expunge(run)
    return run


def _set_node(session: Session, run: PipelineRun, change: NodeChange, actor: str) -> None:
    pipelines.set_node(session, run, change.name, change.status, actor, **change.fields)


def _set_status(session: Session, run: PipelineRun, change: RunChange, actor: str) -> bool:
    return pipelines.set_run_status(
        session, run, change.status, actor, change.message, only_from=change.only_from
    )


def _view(run: PipelineRun) -> DrivenRun:
    return DrivenRun(
        id=run.id, project_id=run.project_id, counter=run.counter, pipeline=run.pipeline,
        status=run.status, message=run.message, driver=MappingProxyType(dict(run.driver or {})),
    )  # fmt: skip


def _execution(execution: Execution) -> NodeExecution:
    return NodeExecution(
        id=execution.id, counter=execution.counter, status=execution.status, message=execution.message,
        node=execution.pipeline_node, attempt=execution.attempt, index=execution.pipeline_index or 0,
    )  # fmt: skip
