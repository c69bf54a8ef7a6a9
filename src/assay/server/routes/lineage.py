"""``/api/v1/projects/{project}/lineage``: what was built from a thing (``affected``), where it
came from (``show``), and the graph around it as nodes and edges. ``uri`` is any reference the
catalog knows: ``dataset://NAME/VERSION``, ``model://NAME/VERSION``, ``datum://ID``, ``#12``,
``pipeline:3``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from assay.operations import lineage
from assay.server.deps import CurrentActor, ProjectWorkspace
from assay.server.routes.answers import Document, answer

router = APIRouter(prefix="/api/v1/projects/{project}/lineage", tags=["lineage"])

Uri = Annotated[
    str, Query(min_length=1, max_length=1024, description="dataset://…, model://…, datum://…, #N")
]
Depth = Annotated[int | None, Query(ge=1, le=10_000, description="Follow at most this many edges")]


class AffectedPublic(Document):
    """The model versions built from ``subject``, by the input the data entered through."""


class UpstreamPublic(Document):
    """The chain upstream of ``subject``: datasets, models, executions, runs, decisions."""


class GraphPublic(Document):
    """``subject``, ``direction``, ``nodes`` (ref, kind) and ``edges`` (from, to, kind, label)."""


@router.get("/affected", summary="What was built from a datum, dataset or model version",
            response_model=AffectedPublic)  # fmt: skip
def affected(workspace: ProjectWorkspace, actor: CurrentActor, uri: Uri, depth: Depth = None) -> JSONResponse:
    return answer(lineage.affected(workspace, actor, uri, depth=depth).to_json())


@router.get("/show", summary="Where a thing came from", response_model=UpstreamPublic)
def show(workspace: ProjectWorkspace, actor: CurrentActor, uri: Uri, depth: Depth = None) -> JSONResponse:
    return answer(lineage.show(workspace, actor, uri, depth=depth).to_json())


@router.get("/graph", summary="The graph around a thing, as nodes and edges", response_model=GraphPublic)
def graph(
    workspace: ProjectWorkspace,
    actor: CurrentActor,
    uri: Uri,
    depth: Depth = None,
    direction: Literal["up", "down"] = "down",
) -> JSONResponse:
    return answer(lineage.graph(workspace, actor, uri, direction=direction, depth=depth).to_json())
