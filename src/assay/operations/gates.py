"""Gates: approve or reject one, list the pending ones, or those waiting for this actor::

    decision = approve(workspace, approver, 3, "promote", comment="ROUGE is fine")
    decision.opened   # False while `approvals.required` wants more approvers
    decision = decide(workspace, approver, 3, "promote", GateStatus.REJECTED)   # what both call
    mine = gates(workspace, actor, waiting_for_me=True)

Deciding needs the approver role. An approval is refused to the person who started the run under
``approvals.require-different-approver``, and to a person who approved the gate already. Once
the gate opens (or is rejected) the run continues: here, or through ``background`` (the server).

A pending gate waits for ``actor`` when the actor may decide it: an approver of the project,
not refused by separation of duties (``approvals.require-different-approver``: not the person
who started the run), and not among its approvers already (``approvals.required`` > 1).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from assay.catalog import approvals, governance, pipelines
from assay.catalog.approvals import GateView
from assay.catalog.gates import APPROVED, PENDING, REJECTED
from assay.catalog.states import GateStatus
from assay.errors import Conflict, InvalidRequest
from assay.executors import runs
from assay.operations.actor import Actor, Role
from assay.operations.pipeline_runs import QUIET, Background, Foreground, RunView, drive_here, run_of, show
from assay.operations.workspace import Workspace

#: how long a decider waits for another process that drives the run to let go of it
CLAIM_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class DecisionView:
    """What a decision did: the gate after it (decided, or one approval more) and the run."""

    gate: approvals.GateView
    opened: bool
    run: RunView


def approve(
    workspace: Workspace,
    actor: Actor,
    ref: str | int,
    node: str,
    *,
    comment: str | None = None,
    background: Background | None = None,
    foreground: Foreground = QUIET,
) -> DecisionView:
    """Approve a gate; once it has ``approvals.required`` approvals the run continues."""
    return decide(workspace, actor, ref, node, APPROVED, comment=comment, background=background,
                  foreground=foreground)  # fmt: skip


def reject(
    workspace: Workspace,
    actor: Actor,
    ref: str | int,
    node: str,
    *,
    comment: str | None = None,
    background: Background | None = None,
    foreground: Foreground = QUIET,
) -> DecisionView:
    """Reject a gate at once; the run stops."""
    return decide(workspace, actor, ref, node, REJECTED, comment=comment, background=background,
                  foreground=foreground)  # fmt: skip


def decide(
    workspace: Workspace,
    actor: Actor,
    ref: str | int,
    node: str,
    decision: GateStatus,
    *,
    comment: str | None = None,
    background: Background | None = None,
    foreground: Foreground = QUIET,
) -> DecisionView:
    """Approve (``APPROVED``) or reject (``REJECTED``) the gate on ``node``: the one path of both."""
    actor.require(workspace.project_id, Role.APPROVER, "decide gates")
    settings = workspace.settings()
    run = run_of(workspace, ref)
    if run.status in pipelines.FINAL_RUN_STATUSES:
        view = show(workspace, actor, run.id)
        gate = view.gates.get(node)
        if gate is not None and gate.status != PENDING:
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
    if decision == APPROVED:  # the same rule, and identities, as `assay models approve`
        governance.check_different_approver(
            settings.require_different_approver,
            actor.name,
            [(f"started pipeline run #{run.counter}", run.created_by)],
            "approve",
        )
    graph = runs.graph_of(run)
    if node not in graph.pipeline.nodes:
        raise InvalidRequest(f"pipeline {graph.name!r} has no node {node!r}")
    upstream = [name for name in graph.order if name in graph.ancestors(node)]
    decider = approvals.Decider(actor.name, governance.normalize_identity(actor.name), actor.auth.value)
    decided = approvals.decide_with_evidence(
        workspace.catalog,
        run.id,
        node,
        decision,
        decider=decider,
        comment=comment,
        upstream=upstream,
        required=settings.approvals_required,
    )
    gate = decided.gate
    if not decided.opened:
        foreground.on_event(
            f"{node}: approved by {actor.name} ({len(gate.approvals)} of {gate.required} approvals)"
        )
        return DecisionView(gate, False, show(workspace, actor, run.id))
    foreground.on_event(f"{node} {decision} by {actor.name}")
    if background is not None:
        background(workspace, run.id)
    else:
        _continue_after_decision(workspace, actor, run.id, foreground)
    return DecisionView(gate, True, show(workspace, actor, run.id))


def _continue_after_decision(workspace: Workspace, actor: Actor, run_id: str, foreground: Foreground) -> None:
    # The driver of a run may be about to stop at this very gate (it read the gate as pending):
    # wait for it to let go, then continue the run here.
    deadline = time.monotonic() + CLAIM_WAIT_SECONDS
    while True:
        try:
            drive_here(workspace, actor, run_id, foreground)
            return
        except Conflict:
            if time.monotonic() > deadline:
                foreground.on_event("the process driving this run continues it")
                return
            time.sleep(0.2)


def gates(workspace: Workspace, actor: Actor, *, waiting_for_me: bool = False) -> tuple[GateView, ...]:
    """Pending gates of the project's unfinished runs, oldest first."""
    actor.require(workspace.project_id, Role.VIEWER, "see gates")
    settings = workspace.settings()
    pending = approvals.pending_gates_of(workspace.catalog, workspace.project_id, settings.approvals_required)
    if not waiting_for_me:
        return tuple(pending)
    if not actor.may(workspace.project_id, Role.APPROVER):
        return ()
    me = governance.normalize_identity(actor.name)
    return tuple(
        gate
        for gate in pending
        if not (
            settings.require_different_approver and governance.same_person(gate.run_created_by, actor.name)
        )
        and all(approval.principal != me for approval in gate.approvals)
    )
