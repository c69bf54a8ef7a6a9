"""Recording lineage edges: called by the catalog functions that record the facts, inside
their transaction, so an edge exists exactly when its fact does."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import insert
from sqlalchemy.orm import Session

from assay.catalog.lineage_tables import LineageEdge
from assay.catalog.tables import utcnow

USED, PRODUCED, CONTAINS, BUILT_FROM, REPLACED, DECIDED = (
    "used", "produced", "contains", "built-from", "replaced", "decided",
)  # fmt: skip
DATUM, EXECUTION, DATASET_VERSION, MODEL_VERSION = "datum", "execution", "dataset_version", "model_version"
PIPELINE_RUN, GATE, PIPELINE_NODE = "pipeline_run", "gate", "pipeline_node"

Node = tuple[str, str]  # (kind, id)
_INSERT = insert(LineageEdge)


def record_edge(
    session: Session, project_id: str, kind: str, src: Node, dst: Node, label: str | None = None
) -> None:
    record_edges(session, project_id, [(kind, src, dst, label)])


def record_edges(
    session: Session, project_id: str, edges: Iterable[tuple[str, Node, Node, str | None]]
) -> None:
    now = utcnow()
    rows = [
        {"project_id": project_id, "kind": kind, "src_kind": src[0], "src_id": src[1], "dst_kind": dst[0],
         "dst_id": dst[1], "label": label, "created_at": now}
        for kind, src, dst, label in edges
    ]  # fmt: skip
    if rows:
        # NOTE: no flush first: edges name their ends by id (no foreign keys), and every id is
        # set when its object is made, so pending rows need not be written before the edges.
        session.connection().execute(_INSERT, rows)
