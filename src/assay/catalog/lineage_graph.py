"""A lineage walk as a graph (nodes with their references, the recorded edges between them),
for ``--format dot`` and for anyone who wants to draw it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from assay.catalog import lineage

if TYPE_CHECKING:
    from assay.catalog.db import Catalog


def graph(session: Session, project_id: str, ref: str, direction: str, depth: int | None) -> dict[str, Any]:
    start = lineage.node_of(session, project_id, ref)
    nodes = {start, *((r.kind, r.id) for r in lineage.walk(session, start, direction, depth))}
    facts = lineage.refs(session, nodes)
    shown = {node: str(facts[node]["ref"]) for node in nodes if node in facts}
    return {
        "subject": shown[start],
        "direction": direction,
        "nodes": [{"ref": ref_, "kind": node[0]} for node, ref_ in sorted(shown.items(), key=lambda i: i[1])],
        "edges": [
            {
                "from": shown[(e.src_kind, e.src_id)],
                "to": shown[(e.dst_kind, e.dst_id)],
                "kind": e.kind,
                "label": e.label,
            }
            for e in lineage.edges_among(session, set(shown))
            if e.kind in lineage.FLOW
        ],
    }


def graph_of(
    catalog: Catalog, project_id: str, ref: str, direction: str, depth: int | None
) -> dict[str, Any]:
    """``graph`` in a read of its own."""
    with catalog.read() as session:
        return graph(session, project_id, ref, direction, depth)
