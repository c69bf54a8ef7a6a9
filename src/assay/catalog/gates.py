"""Approval gates: requested when a node needs a person, decided exactly once.

A decision is one compare-and-set (``UPDATE … WHERE status = 'pending'``): of any number of
concurrent deciders exactly one changes the row; the others learn who decided, and when.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from assay.catalog import edges
from assay.catalog.events import record_event
from assay.catalog.states import EventKind, GateStatus
from assay.catalog.tables import Gate, PipelineRun, utcnow
from assay.errors import Conflict, NotFound

PENDING, APPROVED, REJECTED = GateStatus.PENDING, GateStatus.APPROVED, GateStatus.REJECTED


def request_gate(session: Session, run: PipelineRun, node: str, actor: str) -> Gate:
    existing = session.scalar(select(Gate).where(Gate.run_id == run.id, Gate.node == node))
    if existing is not None:
        return existing
    gate = Gate(run_id=run.id, node=node, status=PENDING, requested_at=utcnow(), evidence={})
    session.add(gate)
    session.flush()
    record_event(session, run.project_id, EventKind.GATE_REQUESTED, f"gate:{gate.id}", actor,
                 {"run": run.counter, "node": node})  # fmt: skip
    return gate


def gates_of(session: Session, run_id: str) -> dict[str, Gate]:
    return {gate.node: gate for gate in session.scalars(select(Gate).where(Gate.run_id == run_id))}


def decide_gate(
    session: Session,
    run: PipelineRun,
    node: str,
    *,
    decision: str,
    actor: str,
    comment: str | None,
    evidence: dict[str, Any],
    auth_method: str | None = None,
) -> Gate:
    """Approve or reject; ``Conflict`` naming the winner if someone decided first."""
    gate = session.scalar(select(Gate).where(Gate.run_id == run.id, Gate.node == node))
    if gate is None:
        raise NotFound(
            f"pipeline run #{run.counter} has no approval gate on node {node!r}",
            hint=f"`assay pipeline show {run.counter}` shows which node is waiting",
        )
    decided_at = utcnow()
    changed = session.execute(  # type: ignore[attr-defined]
        update(Gate)
        .where(Gate.id == gate.id, Gate.status == PENDING)
        .values(
            status=decision,
            decided_by=actor,
            decided_at=decided_at,
            comment=comment,
            evidence=evidence,
            auth_method=auth_method,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        session.refresh(gate)
        raise Conflict(
            f"node {node!r} of pipeline run #{run.counter} was already {gate.status} by {gate.decided_by} "
            f"at {gate.decided_at.isoformat() if gate.decided_at else '?'}",
            hint="a gate is decided once",
        )
    edges.record_edge(session, run.project_id, edges.DECIDED, (edges.GATE, gate.id),
                      (edges.PIPELINE_NODE, f"{run.id}:{node}"), decision)  # fmt: skip
    record_event(session, run.project_id, EventKind.of("gate", decision), f"gate:{gate.id}", actor,
                 {"run": run.counter, "node": node, "comment": comment})  # fmt: skip
    session.refresh(gate)
    return gate
