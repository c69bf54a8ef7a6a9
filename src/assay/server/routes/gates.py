"""Gates: ``GET /api/v1/projects/{project}/gates`` (pending; ``?waiting_for_me=true``: those the
caller may decide) and ``POST …/pipeline-runs/{counter}/gates/{node}/approve|reject``.

A decision answers 202 at once; once the gate opens (or is rejected) the scheduler continues
the run in the background. The decider is the authenticated caller: separation of duties
(``approvals.require-different-approver``, ``approvals.required``) is checked on that identity.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from assay.catalog.approvals import GateView
from assay.catalog.states import GateStatus
from assay.operations import gates
from assay.operations.actor import Actor
from assay.operations.workspace import Workspace
from assay.server.deps import CurrentActor, ProjectWorkspace
from assay.server.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor
from assay.server.routes.pipeline_runs import PipelineRunPublic, document, scheduler_of

router = APIRouter(prefix="/api/v1/projects/{project}", tags=["gates"])


class DecisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(default=None, max_length=10_000, description="Why; kept with the decision")


class ApprovalPublic(BaseModel):
    by: str
    auth_method: str | None
    comment: str | None
    at: datetime


class GatePublic(BaseModel):
    run: int = Field(description="The run's number")
    run_id: str
    pipeline: str
    node: str
    status: str = Field(description="pending, approved or rejected")
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    auth_method: str | None
    comment: str | None
    required: int = Field(description="Approvals the gate needs to open (approvals.required)")
    approvals: list[ApprovalPublic]
    started_by: str

    @classmethod
    def of(cls, gate: GateView) -> GatePublic:
        return cls(
            run=gate.run_counter,
            run_id=gate.run_id,
            pipeline=gate.pipeline,
            node=gate.node,
            status=gate.status,
            requested_at=gate.requested_at,
            decided_by=gate.decided_by,
            decided_at=gate.decided_at,
            auth_method=gate.auth_method,
            comment=gate.comment,
            required=gate.required,
            approvals=[
                ApprovalPublic(by=a.shown_as, auth_method=a.auth_method, comment=a.comment, at=a.at)
                for a in gate.approvals
            ],
            started_by=gate.run_created_by,
        )


class GatesPublic(BaseModel):
    data: list[GatePublic]
    next_cursor: str | None


class DecisionPublic(BaseModel):
    gate: GatePublic
    opened: bool = Field(description="The gate was decided by this call; false: it wants more approvals")
    run: PipelineRunPublic


@router.get("/gates", summary="Pending gates, oldest first; waiting_for_me: those you may decide")
def list_gates(
    workspace: ProjectWorkspace,
    actor: CurrentActor,
    waiting_for_me: Annotated[bool, Query(description="Only the gates you may decide")] = False,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> GatesPublic:
    found = gates.gates(workspace, actor, waiting_for_me=waiting_for_me)
    after = decode_cursor(cursor, parts=2)
    # NOTE: pending gates are few (one per waiting node); the page is cut from the whole list.
    if after is not None:
        keys = [(g.run_id, g.node) for g in found]
        found = found[keys.index(after) + 1 :] if after in keys else found
    page = found[:limit]
    next_cursor = encode_cursor(page[-1].run_id, page[-1].node) if len(found) > limit and page else None
    return GatesPublic(data=[GatePublic.of(g) for g in page], next_cursor=next_cursor)


@router.post(
    "/pipeline-runs/{counter}/gates/{node}/approve",
    status_code=202,
    response_model=DecisionPublic,
    summary="Approve a gate; the run continues in the background once it opens",
)
def approve_gate(
    request: Request,
    workspace: ProjectWorkspace,
    actor: CurrentActor,
    counter: str,
    node: str,
    body: Annotated[DecisionCreate | None, Body()] = None,
) -> JSONResponse:
    return _decide(request, workspace, actor, counter, node, body, GateStatus.APPROVED)


@router.post(
    "/pipeline-runs/{counter}/gates/{node}/reject",
    status_code=202,
    response_model=DecisionPublic,
    summary="Reject a gate; the run stops",
)
def reject_gate(
    request: Request,
    workspace: ProjectWorkspace,
    actor: CurrentActor,
    counter: str,
    node: str,
    body: Annotated[DecisionCreate | None, Body()] = None,
) -> JSONResponse:
    return _decide(request, workspace, actor, counter, node, body, GateStatus.REJECTED)


def _decide(
    request: Request,
    workspace: Workspace,
    actor: Actor,
    counter: str,
    node: str,
    body: DecisionCreate | None,
    decision: GateStatus,
) -> JSONResponse:
    """Both routes: the decision, handed to the scheduler to continue the run, answered 202."""
    decided = gates.decide(
        workspace,
        actor,
        counter,
        node,
        decision,
        comment=body.comment if body else None,
        background=scheduler_of(request),
    )
    answer: dict[str, Any] = {
        "gate": GatePublic.of(decided.gate).model_dump(mode="json"),
        "opened": decided.opened,
        "run": decided.run.as_json(),
    }
    return document(answer, 202)
