"""Lineage queries: walk the recorded edges up or down from any reference, in SQL.

The walks are recursive CTEs over ``lineage_edges`` (indexed on ``src_id`` and ``dst_id``),
following the data-flow kinds — ``used``, ``produced``, ``contains``, ``built-from`` — so a
dataset version reaches every execution that used it, what those produced, what used that,
and every model version built from any of it, through fine-tuning chains too. ``replaced``
(alias moves) and ``decided`` (gates) are read one hop at a time where they are shown.

One query returns the edges among everything reachable, each node followed once however many
paths reach it; nearest depths and the input names data entered through are then found by a
breadth-first search over those edges (``_search``).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, TextClause, any_, bindparam, select, text
from sqlalchemy.orm import Session

from assay.catalog import datasets, datums, executions, models
from assay.catalog.edges import DATASET_VERSION, DATUM, EXECUTION, MODEL_VERSION, PIPELINE_RUN, Node
from assay.catalog.lineage_tables import LineageEdge
from assay.catalog.registry_tables import Dataset, DatasetVersion, Model, ModelVersion
from assay.catalog.tables import Datum, Execution, PipelineRun
from assay.errors import InvalidRequest

FLOW = ("used", "produced", "contains", "built-from")
UNLIMITED = 10_000
#: a depth limit up to this is followed in SQL; a larger one costs more there (a node is kept
#: once per depth it is reached at) than walking everything and cutting at the limit after
_LIMIT_IN_SQL = 10

_STEP = {  # direction → (the column an edge is followed from, the column it leads to, that node's kind)
    "down": ("src_id", "dst_id", "dst_kind"),
    "up": ("dst_id", "src_id", "src_kind"),
}
_KINDS = ", ".join(f"'{k}'" for k in FLOW)


@dataclass(frozen=True)
class Reached:
    kind: str
    id: str
    depth: int
    how: frozenset[str] = field(default_factory=frozenset)  # input names of the first hop


def walk(session: Session, start: Node, direction: str, depth: int | None = None) -> list[Reached]:
    """Every node reachable from ``start`` along data-flow edges, with its nearest depth."""
    limit = depth or UNLIMITED
    query = _subgraph(session.get_bind().dialect.name, direction, limit <= _LIMIT_IN_SQL)
    return _search(session.execute(query, {"start": start[1], "depth": limit}).all(), start, limit)


@functools.cache
def _subgraph(dialect: str, direction: str, limited: bool) -> TextClause:
    """The data-flow edges out of every node reachable from ``:start`` (``(from, kind, to,
    label)``), in one query. The recursive part keeps node ids only, so a node reached along
    many paths is expanded once; depths and input names are worked out from the edges
    (``_search``). With a depth limit, only the nodes nearer than ``:depth`` are followed."""
    source, target, kind = _STEP[direction]
    depth, step, follow = (
        (", depth", ", r.depth + 1", " AND r.depth + 1 < :depth") if limited else ("", "", "")
    )
    # NOTE: on SQLite, ``+e.kind`` keeps the kind out of the index search: one seek per node on
    # the id, the kind then read from the same index entry, instead of one seek per kind. On
    # PostgreSQL, ``= ANY(ARRAY(…))`` has the edges read by index for any number of nodes,
    # where ``IN (SELECT …)`` can turn into a scan of the whole table on a small catalog.
    kind_of = "+e.kind" if dialect == "sqlite" else "e.kind"
    reached = "= ANY(ARRAY(SELECT id FROM reach))" if dialect == "postgresql" else "IN (SELECT id FROM reach)"
    return text(
        f"""
        WITH RECURSIVE reach(id{depth}) AS (
            SELECT CAST(:start AS VARCHAR(300)){", 0" if limited else ""}
            UNION
            SELECT e.{target}{step} FROM lineage_edges e JOIN reach r ON e.{source} = r.id
             WHERE {kind_of} IN ({_KINDS}){follow}
        )
        SELECT e.{source}, e.{kind}, e.{target}, e.label FROM lineage_edges e
         WHERE e.{source} {reached} AND {kind_of} IN ({_KINDS})
        """  # noqa: S608 - the interpolated names are constants of this module
    )


def _search(rows: Iterable[Sequence[Any]], start: Node, limit: int) -> list[Reached]:
    """Breadth first from ``start`` over ``rows`` (edges): each node's nearest depth, and the
    labels of the first hops of the paths that reach it within ``limit`` edges.

    One bit per first-hop label: a node is followed again only for the labels that reach it
    for the first time, so each (node, label) is followed once, at its nearest depth.
    """
    out: dict[str, list[Node]] = defaultdict(list)
    first: list[tuple[Node, int]] = []
    bits: dict[str | None, int] = {}
    for source, kind, target, label in rows:
        out[source].append((kind, target))
        if source == start[1]:
            first.append(((kind, target), bits.setdefault(label, 1 << len(bits))))
    seen: dict[Node, int] = {}  # node → the labels reaching it (bits)
    nearest: dict[Node, int] = {}
    followed: dict[str, int] = {}  # id → the labels it was followed with
    frontier: dict[str, int] = {}
    level = 1
    arrivals: Iterable[tuple[Node, int]] = first
    while True:
        for node, label_bits in arrivals:
            new = label_bits & ~seen.get(node, 0)
            if not new:
                continue
            if node not in seen:
                nearest[node] = level
            seen[node] = seen.get(node, 0) | new
            node_id = node[1]
            unfollowed = new & ~followed.get(node_id, 0)
            if unfollowed:
                followed[node_id] = followed.get(node_id, 0) | unfollowed
                frontier[node_id] = frontier.get(node_id, 0) | unfollowed
        if not frontier or level >= limit:
            break
        level += 1
        arrivals = [(node, b) for node_id, b in frontier.items() for node in out.get(node_id, ())]
        frontier = {}
    names = [(bit, label) for label, bit in bits.items() if label]
    hows = {mask: frozenset(label for bit, label in names if mask & bit) for mask in set(seen.values())}
    nobody: frozenset[str] = frozenset()
    ordered = sorted((nearest[node], *node) for node in seen if node != start)
    return [
        Reached(kind, node_id, depth_, nobody if kind == DATUM else hows[seen[(kind, node_id)]])
        for depth_, kind, node_id in ordered
    ]


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
    # Columns, not entities: an execution's row holds its inputs and environment (kilobytes of
    # JSON), a datum's its metadata; only what is shown is read.
    lookup = _Lookups.of(session)
    for chunk in lookup.chunks(by_kind.get(DATUM, [])):
        for datum_id, name, sha256 in session.execute(lookup.datums, {"ids": chunk}):
            found[(DATUM, datum_id)] = {"ref": f"datum://{datum_id}", "name": name, "sha256": sha256}
    for chunk in lookup.chunks(by_kind.get(EXECUTION, [])):
        for row in session.execute(lookup.executions, {"ids": chunk}):
            found[(EXECUTION, row.id)] = {
                "ref": f"exec-{row.id}", "counter": row.counter, "step": row.step, "status": row.status,
                "node": row.pipeline_node, "pipeline_run": row.run_counter, "parameters": row.parameters,
                "image": row.image, "commit": (row.environment or {}).get("git_commit"),
            }  # fmt: skip
    for chunk in lookup.chunks(by_kind.get(DATASET_VERSION, [])):
        for version_id, version_name, dataset_name in session.execute(
            lookup.dataset_versions, {"ids": chunk}
        ):
            found[(DATASET_VERSION, version_id)] = {"ref": f"dataset://{dataset_name}/{version_name}"}
    for chunk in lookup.chunks(by_kind.get(MODEL_VERSION, [])):
        for row in session.execute(lookup.model_versions, {"ids": chunk}):
            found[(MODEL_VERSION, row.id)] = {
                "ref": f"model://{row.model_name}/{row.name}", "status": row.status,
                "model_id": row.model_id, "source_execution_id": row.source_execution_id,
                "pipeline_run_id": row.pipeline_run_id,
            }  # fmt: skip
    for chunk in lookup.chunks(by_kind.get(PIPELINE_RUN, [])):
        for run_id, counter, pipeline in session.execute(lookup.pipeline_runs, {"ids": chunk}):
            found[(PIPELINE_RUN, run_id)] = {"ref": f"pipeline:{counter}", "pipeline": pipeline}
    return found


class _Lookups:
    """The statements of ``refs`` and ``edges_among``, built once per database kind (building
    a statement costs about what running one does). Ids are one array parameter on
    PostgreSQL (``= ANY(:ids)``: nothing to render or parse per id), an ``IN`` list of up to
    500 elsewhere."""

    def __init__(self, dialect: str) -> None:
        self.size = None if dialect == "postgresql" else 500
        among = _any if dialect == "postgresql" else _in
        self.datums = select(Datum.id, Datum.name, Datum.sha256).where(among(Datum.id))
        executions = (Execution.id, Execution.counter, Execution.step, Execution.status,
                      Execution.pipeline_node, Execution.parameters, Execution.image,
                      Execution.environment)  # fmt: skip
        self.executions = (
            select(*executions, PipelineRun.counter.label("run_counter"))
            .outerjoin(PipelineRun, PipelineRun.id == Execution.pipeline_run_id)
            .where(among(Execution.id))
        )
        self.dataset_versions = (
            select(DatasetVersion.id, DatasetVersion.name, Dataset.name)
            .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
            .where(among(DatasetVersion.id))
        )
        versions = (ModelVersion.id, ModelVersion.name, ModelVersion.status, ModelVersion.model_id,
                    ModelVersion.source_execution_id, ModelVersion.pipeline_run_id)  # fmt: skip
        self.model_versions = (
            select(*versions, Model.name.label("model_name"))
            .join(Model, Model.id == ModelVersion.model_id)
            .where(among(ModelVersion.id))
        )
        self.pipeline_runs = select(PipelineRun.id, PipelineRun.counter, PipelineRun.pipeline).where(
            among(PipelineRun.id)
        )
        self.edges_from = select(LineageEdge).where(among(LineageEdge.src_id))

    def chunks(self, values: list[str]) -> Iterable[list[str]]:
        if self.size is None:
            return [values] if values else []
        return _chunks(values, self.size)

    @staticmethod
    def of(session: Session) -> _Lookups:
        return _lookups(session.get_bind().dialect.name)


def _any(column: Any) -> Any:
    from sqlalchemy.dialects.postgresql import ARRAY  # only ever on PostgreSQL

    return column == any_(bindparam("ids", type_=ARRAY(String)))


def _in(column: Any) -> Any:
    return column.in_(bindparam("ids", expanding=True))


@functools.cache
def _lookups(dialect: str) -> _Lookups:
    return _Lookups(dialect)


def edges_among(session: Session, nodes: set[Node]) -> list[LineageEdge]:
    """The recorded edges between nodes of a set (for drawing it)."""
    ids = [node_id for _, node_id in nodes]
    found: list[LineageEdge] = []
    lookup = _Lookups.of(session)
    for chunk in lookup.chunks(ids):
        found.extend(
            e for e in session.scalars(lookup.edges_from, {"ids": chunk}) if (e.dst_kind, e.dst_id) in nodes
        )
    return found


def one_hop(session: Session, node: Node, kind: str, direction: str) -> list[LineageEdge]:
    column = LineageEdge.dst_id if direction == "up" else LineageEdge.src_id
    return list(session.scalars(select(LineageEdge).where(column == node[1], LineageEdge.kind == kind)))


def _chunks(values: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
