"""Lineage queries: walk the recorded edges up or down from any reference, in SQL.

The walks are recursive CTEs over ``lineage_edges`` (indexed on ``src_id`` and ``dst_id``),
following the data-flow kinds — ``used``, ``produced``, ``contains``, ``built-from`` — so a
dataset version reaches every execution that used it, what those produced, what used that,
and every model version built from any of it, through fine-tuning chains too. ``replaced``
(alias moves) and ``decided`` (gates) are read one hop at a time where they are shown.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from assay.catalog import datasets, datums, executions, models
from assay.catalog.edges import DATASET_VERSION, DATUM, EXECUTION, MODEL_VERSION, PIPELINE_RUN, Node
from assay.catalog.lineage_tables import LineageEdge
from assay.catalog.registry_tables import Dataset, DatasetVersion, Model, ModelVersion
from assay.catalog.tables import Datum, Execution, PipelineRun
from assay.errors import InvalidRequest

FLOW = ("used", "produced", "contains", "built-from")
UNLIMITED = 10_000

_STEP = {
    "down": ("dst_kind", "dst_id", "src_id"),
    "up": ("src_kind", "src_id", "dst_id"),
}


@dataclass(frozen=True)
class Reached:
    kind: str
    id: str
    depth: int
    how: frozenset[str] = field(default_factory=frozenset)  # input names of the first hop


def walk(session: Session, start: Node, direction: str, depth: int | None = None) -> list[Reached]:
    """Every node reachable from ``start`` along data-flow edges, with its nearest depth."""
    kind_col, id_col, join_col = _STEP[direction]
    kinds = ", ".join(f"'{k}'" for k in FLOW)
    sql = text(
        f"""
        WITH RECURSIVE walk(kind, id, depth, how) AS (
            SELECT {kind_col}, {id_col}, 1, label FROM lineage_edges
             WHERE {join_col} = :start AND kind IN ({kinds})
            UNION
            SELECT e.{kind_col}, e.{id_col}, w.depth + 1, w.how
              FROM lineage_edges e JOIN walk w ON e.{join_col} = w.id
             WHERE e.kind IN ({kinds}) AND w.depth < :depth
        )
        SELECT kind, id, MIN(depth), how FROM walk GROUP BY kind, id, how
        """  # noqa: S608 - the interpolated names are constants of this module
    )
    found: dict[Node, tuple[int, set[str]]] = {}
    for kind, node_id, nearest, how in session.execute(sql, {"start": start[1], "depth": depth or UNLIMITED}):
        if (kind, node_id) == start:
            continue
        seen_depth, hows = found.get((kind, node_id), (nearest, set()))
        if how and kind != DATUM:
            hows.add(how)
        found[(kind, node_id)] = (min(seen_depth, nearest), hows)
    return sorted(
        (Reached(k, i, d, frozenset(h)) for (k, i), (d, h) in found.items()),
        key=lambda r: (r.depth, r.kind, r.id),
    )


def node_of(session: Session, project_id: str, ref: str) -> Node:
    """The lineage node a reference names: datum://, dataset://, model://, an execution
    (``#12``, ``exec-<id>``) or a pipeline run (``pipeline:3``)."""
    text_ = ref.strip()
    if text_.startswith("datum://"):
        return (DATUM, datums.get_datum(session, project_id, text_).id)
    if text_.startswith("dataset://"):
        return (DATASET_VERSION, datasets.resolve(session, project_id, text_)[1].id)
    if text_.startswith("model://"):
        return (MODEL_VERSION, models.resolve(session, project_id, text_)[1].id)
    if text_.startswith("pipeline:"):
        from assay.catalog import pipelines

        return (PIPELINE_RUN, pipelines.get_run(session, project_id, text_.removeprefix("pipeline:")).id)
    if text_.startswith(("exec-", "#")) or text_.isdigit() or text_ == "latest":
        return (EXECUTION, executions.get_execution(session, project_id, text_).id)
    raise InvalidRequest(
        f"{ref!r} is not a reference lineage knows",
        hint="use dataset://NAME/VERSION, model://NAME/VERSION, datum://ID, #N (an execution) or pipeline:N",
    )


def refs(session: Session, nodes: Iterable[Node]) -> dict[Node, dict[str, object]]:
    """Each node's full reference and a few facts, looked up in one query per kind."""
    by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, node_id in nodes:
        by_kind[kind].append(node_id)
    found: dict[Node, dict[str, object]] = {}
    for chunk in _chunks(by_kind.get(DATUM, [])):
        for datum in session.scalars(select(Datum).where(Datum.id.in_(chunk))):
            found[(DATUM, datum.id)] = {
                "ref": f"datum://{datum.id}",
                "name": datum.name,
                "sha256": datum.sha256,
            }
    for chunk in _chunks(by_kind.get(EXECUTION, [])):
        rows = session.execute(
            select(Execution, PipelineRun.counter)
            .outerjoin(PipelineRun, PipelineRun.id == Execution.pipeline_run_id)
            .where(Execution.id.in_(chunk))
        )
        for execution, run_counter in rows:
            found[(EXECUTION, execution.id)] = {
                "ref": f"exec-{execution.id}", "counter": execution.counter, "step": execution.step,
                "status": execution.status, "node": execution.pipeline_node, "pipeline_run": run_counter,
                "parameters": execution.parameters, "image": execution.image,
                "commit": (execution.environment.get("git") or {}).get("commit"),
            }  # fmt: skip
    for chunk in _chunks(by_kind.get(DATASET_VERSION, [])):
        dataset_rows = session.execute(
            select(DatasetVersion, Dataset.name)
            .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
            .where(DatasetVersion.id.in_(chunk))
        )
        for dataset_version, dataset_name in dataset_rows:
            found[(DATASET_VERSION, dataset_version.id)] = {
                "ref": f"dataset://{dataset_name}/{dataset_version.name}"
            }
    for chunk in _chunks(by_kind.get(MODEL_VERSION, [])):
        model_rows = session.execute(
            select(ModelVersion, Model.name)
            .join(Model, Model.id == ModelVersion.model_id)
            .where(ModelVersion.id.in_(chunk))
        )
        for version, model_name in model_rows:
            found[(MODEL_VERSION, version.id)] = {
                "ref": f"model://{model_name}/{version.name}", "status": version.status,
                "model_id": version.model_id, "source_execution_id": version.source_execution_id,
                "pipeline_run_id": version.pipeline_run_id,
            }  # fmt: skip
    for chunk in _chunks(by_kind.get(PIPELINE_RUN, [])):
        for run in session.scalars(select(PipelineRun).where(PipelineRun.id.in_(chunk))):
            found[(PIPELINE_RUN, run.id)] = {"ref": f"pipeline:{run.counter}", "pipeline": run.pipeline}
    return found


def edges_among(session: Session, nodes: set[Node]) -> list[LineageEdge]:
    """The recorded edges between nodes of a set (for drawing it)."""
    ids = [node_id for _, node_id in nodes]
    found: list[LineageEdge] = []
    for chunk in _chunks(ids):
        query = select(LineageEdge).where(LineageEdge.src_id.in_(chunk))
        found.extend(e for e in session.scalars(query) if (e.dst_kind, e.dst_id) in nodes)
    return found


def one_hop(session: Session, node: Node, kind: str, direction: str) -> list[LineageEdge]:
    column = LineageEdge.dst_id if direction == "up" else LineageEdge.src_id
    return list(session.scalars(select(LineageEdge).where(column == node[1], LineageEdge.kind == kind)))


def _chunks(values: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
