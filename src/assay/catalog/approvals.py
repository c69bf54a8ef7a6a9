"""A gate's decision: the approvals it collects (four-eyes), then one compare-and-set.

``approvals: {required: N}`` in ``assay.yaml`` makes a gate wait for N distinct principals::

    decision = decide(session, run_id, "promote", APPROVED, decider=Decider("Ana", "ana", "token"),
                      comment="looks good", evidence={...}, required=2)
    decision.opened        # False: 1 of 2 approvals; True: the gate is approved, the run continues

* Every approval is a ``gate_approvals`` row (principal, how they authenticated, when, the
  comment, the evidence they saw); one principal approves a gate once (``Conflict``).
* The approval that brings the distinct count to N approves the gate in the same transaction
  (the compare-and-set of ``gates.decide_gate``); a reject decides at once.
* The gate's row is locked first (``FOR UPDATE``; SQLite's write transactions are serial), so
  two approvals of one gate never both count N-1 and leave it pending, and of any number of
  racing deciders of a one-approval gate exactly one decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from assay.catalog import executions, gates, pipelines, promotion, verdicts
from assay.catalog.account_tables import GateApproval
from assay.catalog.events import record_event
from assay.catalog.states import EventKind
from assay.catalog.tables import Gate, PipelineRun
from assay.errors import Conflict, InvalidRequest, NotFound

if TYPE_CHECKING:
    from assay.catalog.db import Catalog


@dataclass(frozen=True)
class Decider:
    """Who decides: the name as shown, its comparison key, and how they authenticated."""

    shown_as: str
    principal: str
    auth_method: str


@dataclass(frozen=True)
class Approval:
    principal: str
    shown_as: str
    auth_method: str
    comment: str | None
    at: datetime


@dataclass(frozen=True)
class GateView:
    """A gate as every interface shows it, with the approvals collected so far."""

    run_id: str
    run_counter: int
    pipeline: str
    node: str
    status: str  # pending | approved | rejected
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    auth_method: str | None
    comment: str | None
    approvals: tuple[Approval, ...]
    required: int
    run_created_by: str


@dataclass(frozen=True)
class GateDecision:
    gate: GateView
    #: the gate was decided by this call (approved or rejected); False: an approval was added
    opened: bool


def decide(
    session: Session,
    run_id: str,
    node: str,
    decision: str,
    *,
    decider: Decider,
    comment: str | None,
    evidence: dict[str, Any],
    required: int,
) -> GateDecision:
    """Record ``decider``'s approval or rejection of the gate on ``node`` (module docstring)."""
    if decision not in (gates.APPROVED, gates.REJECTED):
        raise InvalidRequest(f"a gate is approved or rejected, not {decision!r}")
    run = session.get_one(PipelineRun, run_id)
    locked = session.scalar(
        select(Gate)
        .where(Gate.run_id == run.id, Gate.node == node)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if locked is None:
        raise NotFound(
            f"pipeline run #{run.counter} has no approval gate on node {node!r}",
            hint=f"`assay pipeline show {run.counter}` shows which node is waiting",
        )
    if locked.status != gates.PENDING:
        raise _decided(run, locked)
    if decision == gates.REJECTED:
        gate = _cas(session, run, node, decision, decider, comment, evidence)
        return GateDecision(_view(session, run, gate, required), opened=True)
    if session.scalar(
        select(GateApproval.id).where(
            GateApproval.gate_id == locked.id, GateApproval.principal == decider.principal
        )
    ):
        raise _twice(run, node, decider)
    try:
        with session.begin_nested():
            session.add(
                GateApproval(
                    gate_id=locked.id,
                    principal=decider.principal,
                    shown_as=decider.shown_as,
                    auth_method=decider.auth_method,
                    comment=comment,
                    evidence=evidence,
                )
            )
    except IntegrityError:  # the unique constraint: the same principal, at the same instant
        raise _twice(run, node, decider) from None
    count = session.scalar(
        select(func.count(func.distinct(GateApproval.principal))).where(GateApproval.gate_id == locked.id)
    )
    record_event(
        session,
        run.project_id,
        EventKind.GATE_APPROVAL,
        f"gate:{locked.id}",
        decider.shown_as,
        {
            "run": run.counter,
            "node": node,
            "comment": comment,
            "auth": decider.auth_method,
            "approvals": count,
            "required": required,
        },
    )
    if (count or 0) < required:
        return GateDecision(_view(session, run, locked, required), opened=False)
    gate = _cas(session, run, node, decision, decider, comment, evidence)
    return GateDecision(_view(session, run, gate, required), opened=True)


def decide_with_evidence(
    catalog: Catalog,
    run_id: str,
    node: str,
    decision: str,
    *,
    decider: Decider,
    comment: str | None,
    upstream: Sequence[str],
    required: int,
) -> GateDecision:
    """``decide``, with what the reviewer saw of the ``upstream`` nodes (``evidence_of``) as its
    evidence: one transaction, so the evidence is the state the decision was made on."""
    with catalog.transaction() as session:
        return decide(
            session,
            run_id,
            node,
            decision,
            decider=decider,
            comment=comment,
            evidence=evidence_of(session, run_id, upstream),
            required=required,
        )


def _cas(
    session: Session,
    run: PipelineRun,
    node: str,
    decision: str,
    decider: Decider,
    comment: str | None,
    evidence: dict[str, Any],
) -> Gate:
    gate = gates.decide_gate(
        session,
        run,
        node,
        decision=decision,
        actor=decider.shown_as,
        comment=comment,
        evidence=evidence,
        auth_method=decider.auth_method,
    )
    promotion.gate_decided(session, run, gate)
    return gate


def _decided(run: PipelineRun, gate: Gate) -> Conflict:
    when = gate.decided_at.isoformat() if gate.decided_at else "?"
    return Conflict(
        f"node {gate.node!r} of pipeline run #{run.counter} was already {gate.status} "
        f"by {gate.decided_by} at {when}",
        hint="a gate is decided once",
    )


def _twice(run: PipelineRun, node: str, decider: Decider) -> Conflict:
    return Conflict(
        f"node {node!r} of pipeline run #{run.counter} was already approved by you ({decider.shown_as})",
        hint="a person approves a gate once; `approvals.required` in assay.yaml asks for other approvers",
    )


def gates_of_run(session: Session, run_id: str, required: int) -> dict[str, GateView]:
    run = session.get_one(PipelineRun, run_id)
    return {
        gate.node: _view(session, run, gate, required) for gate in gates.gates_of(session, run_id).values()
    }


def pending_gates(session: Session, project_id: str, required: int) -> list[GateView]:
    """Every pending gate of the project's runs waiting for approval, oldest first."""
    rows = session.execute(
        select(Gate, PipelineRun)
        .join(PipelineRun, PipelineRun.id == Gate.run_id)
        .where(
            PipelineRun.project_id == project_id,
            Gate.status == gates.PENDING,
            PipelineRun.status.not_in(tuple(pipelines.FINAL_RUN_STATUSES)),
        )
        .order_by(Gate.requested_at)
    ).all()
    return [_view(session, run, gate, required) for gate, run in rows]


def pending_gates_of(catalog: Catalog, project_id: str, required: int) -> list[GateView]:
    """``pending_gates``, in a read of its own."""
    with catalog.read() as session:
        return pending_gates(session, project_id, required)


def _view(session: Session, run: PipelineRun, gate: Gate, required: int) -> GateView:
    found = session.scalars(
        select(GateApproval)
        .where(GateApproval.gate_id == gate.id)
        .order_by(GateApproval.created_at, GateApproval.id)
    )
    approvals = tuple(
        Approval(a.principal, a.shown_as, a.auth_method, a.comment, a.created_at) for a in found
    )
    return GateView(
        run_id=run.id,
        run_counter=run.counter,
        pipeline=run.pipeline,
        node=gate.node,
        status=gate.status,
        requested_at=gate.requested_at,
        decided_by=gate.decided_by,
        decided_at=gate.decided_at,
        auth_method=gate.auth_method,
        comment=gate.comment,
        approvals=approvals,
        required=required,
        run_created_by=run.created_by,
    )


def evidence_of(session: Session, run_id: str, upstream: Sequence[str]) -> dict[str, Any]:
    """What the reviewer sees: the metadata of every execution of the ``upstream`` nodes, and the
    run's verdicts against the baseline."""
    rows = pipelines.nodes_of(session, run_id)
    run = session.get_one(PipelineRun, run_id)
    shown: dict[str, Any] = {}
    for name in upstream:
        found = []
        for execution_id in rows[name].executions if name in rows else ():
            execution = executions.get_execution(session, run.project_id, execution_id)
            found.append(
                {
                    "execution": f"#{execution.counter}",
                    "id": execution.id,
                    "status": execution.status,
                    "metadata": executions.latest_metadata(session, execution.id),
                }
            )
        shown[name] = found
    return {"upstream": shown, "verdicts": [verdicts.as_json(v) for v in verdicts.of_run(session, run_id)]}
