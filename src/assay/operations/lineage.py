"""Lineage: what came of a piece of data (affected), where something came from (show), and the
graph either way. Every reference the catalog knows is accepted: ``dataset://NAME/VERSION``,
``model://NAME/VERSION``, ``datum://ID``, an execution (``#12``, ``exec-<id>``) or a pipeline
run (``pipeline:3``). Reads only: the viewer role::

    found = affected(workspace, actor, "dataset://eval-prompts/v2")
    [v.ref for v in found.model_versions]
"""

from __future__ import annotations

from dataclasses import dataclass, field

from assay.errors import InvalidRequest
from assay.operations.actor import Actor, Role
from assay.operations.views import JSON, View, meta
from assay.operations.workspace import Workspace

DIRECTIONS = ("up", "down")


@dataclass(frozen=True)
class AffectedVersion(View):
    ref: str
    status: str
    aliases: tuple[str, ...]
    how: tuple[str, ...]
    depth: int
    source_execution: JSON
    pipeline_run: str | None


@dataclass(frozen=True)
class Affected(View):
    """The model versions built from ``subject``, and how the data entered them."""

    subject: str
    flags: JSON
    used_by: JSON  # executions that used it directly, with the input
    model_versions: tuple[AffectedVersion, ...] = field(metadata=meta(view=AffectedVersion))
    by_how: JSON
    holding_aliases: JSON
    nodes: int


@dataclass(frozen=True)
class Upstream(View):
    """The chain upstream of ``subject``; ``replaced``/``replaced_by`` only for a model version."""

    subject: str
    datasets: JSON
    models: JSON
    executions: JSON
    pipeline_runs: tuple[str, ...]
    decisions: JSON
    datums: tuple[str, ...]
    flags: JSON
    replaced: JSON = field(default=None, metadata=meta(omit_none=True))
    replaced_by: JSON = field(default=None, metadata=meta(omit_none=True))


@dataclass(frozen=True)
class Graph(View):
    subject: str
    direction: str
    nodes: JSON  # [{"ref", "kind"}]
    edges: JSON  # [{"from", "to", "kind", "label"}]


def affected(workspace: Workspace, actor: Actor, ref: str, *, depth: int | None = None) -> Affected:
    actor.require(workspace.project_id, Role.VIEWER, "read lineage")
    from assay.catalog import lineage_views

    _check_depth(depth)
    return Affected.from_json(lineage_views.affected_of(workspace.catalog, workspace.project_id, ref, depth))


def show(workspace: Workspace, actor: Actor, ref: str, *, depth: int | None = None) -> Upstream:
    actor.require(workspace.project_id, Role.VIEWER, "read lineage")
    from assay.catalog import lineage_views

    _check_depth(depth)
    return Upstream.from_json(lineage_views.upstream_of(workspace.catalog, workspace.project_id, ref, depth))


def graph(
    workspace: Workspace, actor: Actor, ref: str, *, direction: str = "down", depth: int | None = None
) -> Graph:
    """Every node and recorded edge upstream (``up``) or downstream (``down``) of ``ref``."""
    actor.require(workspace.project_id, Role.VIEWER, "read lineage")
    from assay.catalog import lineage_graph

    if direction not in DIRECTIONS:
        raise InvalidRequest(f"a lineage graph goes up or down, not {direction!r}")
    _check_depth(depth)
    return Graph.from_json(
        lineage_graph.graph_of(workspace.catalog, workspace.project_id, ref, direction, depth)
    )


def _check_depth(depth: int | None) -> None:
    if depth is not None and depth < 1:
        raise InvalidRequest(f"a depth is 1 or more, not {depth}", hint="omit it to follow every edge")
