"""Gates of a project: every pending one, or those waiting for this actor's decision::

    mine = gates(workspace, actor, waiting_for_me=True)

A pending gate waits for ``actor`` when the actor may decide it: an approver of the project,
not refused by separation of duties (``approvals.require-different-approver``: not the person
who started the run), and not among its approvers already (``approvals.required`` > 1).
"""

from __future__ import annotations

from assay.catalog import approvals, governance
from assay.catalog.approvals import GateView
from assay.operations.actor import Actor, Role
from assay.operations.workspace import Workspace


def gates(workspace: Workspace, actor: Actor, *, waiting_for_me: bool = False) -> tuple[GateView, ...]:
    """Pending gates of the project's unfinished runs, oldest first."""
    actor.require(workspace.project_id, Role.VIEWER, "see gates")
    settings = workspace.settings()
    with workspace.catalog.read() as session:
        pending = approvals.pending_gates(session, workspace.project_id, settings.approvals_required)
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
