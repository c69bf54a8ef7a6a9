"""What lineage answers, as JSON-able dicts: ``affected`` (downstream model versions of a
reference, grouped by how the data entered) and ``show`` (the chain upstream of one)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from assay.catalog import lineage
from assay.catalog.edges import DATASET_VERSION, DATUM, EXECUTION, MODEL_VERSION, Node
from assay.catalog.flags import flags_of
from assay.catalog.flags import flags_of_version as flags_of_version  # part of this module's answers
from assay.catalog.registry_tables import Alias
from assay.catalog.tables import Gate, PipelineRun

if TYPE_CHECKING:
    from assay.catalog.db import Catalog


def affected(session: Session, project_id: str, ref: str, depth: int | None = None) -> dict[str, Any]:
    start = lineage.node_of(session, project_id, ref)
    reached = lineage.walk(session, start, "down", depth)
    first = [r for r in reached if r.depth == 1 and r.kind == EXECUTION]
    versions = [r for r in reached if r.kind == MODEL_VERSION]
    facts = lineage.refs(session, [start, *((MODEL_VERSION, r.id) for r in versions)])
    # The executions shown: those that used it directly, and those the versions were built by
    # (when the walk reached them) — not every execution on the way.
    walked = {r.id for r in reached if r.kind == EXECUTION} | ({start[1]} if start[0] == EXECUTION else set())
    sources = {str(facts[(MODEL_VERSION, r.id)]["source_execution_id"]) for r in versions} & walked
    shown_executions = [
        (EXECUTION, i) for i in sorted({r.id for r in first} | sources) if (EXECUTION, i) != start
    ]
    facts.update(lineage.refs(session, shown_executions))
    version_facts = {r.id: facts[(MODEL_VERSION, r.id)] for r in versions}
    held = _aliases_on(session, {v: str(f["model_id"]) for v, f in version_facts.items()})
    runs = _run_counters(
        session, {str(f["pipeline_run_id"]) for f in version_facts.values() if f["pipeline_run_id"]}
    )
    shown = [_version(facts, r, held.get(r.id, []), runs) for r in versions]
    by_how: dict[str, list[str]] = {}
    for entry in shown:
        for how in entry["how"] or ["(no input name)"]:
            by_how.setdefault(how, []).append(entry["ref"])
    return {
        "subject": facts[start]["ref"],
        "flags": flags_of(session, start) if start[0] == DATASET_VERSION else [],
        "used_by": [{**_execution(facts[(EXECUTION, r.id)]), "input": sorted(r.how)} for r in first],
        "model_versions": shown,
        "by_how": by_how,
        "holding_aliases": [{"ref": e["ref"], "aliases": e["aliases"]} for e in shown if e["aliases"]],
        "nodes": len(reached),
    }


def affected_of(catalog: Catalog, project_id: str, ref: str, depth: int | None = None) -> dict[str, Any]:
    """``affected`` in a read of its own."""
    with catalog.read() as session:
        return affected(session, project_id, ref, depth)


def _aliases_on(session: Session, models_of: dict[str, str]) -> dict[str, list[str]]:
    """Version id → the names of the aliases of its model (``models_of``) that point at it."""
    held: dict[str, list[str]] = {}
    for chunk in lineage._chunks(sorted(models_of)):
        rows = session.execute(
            select(Alias.owner_id, Alias.name, Alias.version_id).where(
                Alias.kind == "model", Alias.version_id.in_(chunk)
            )
        )
        for owner_id, name, version_id in rows:
            if models_of.get(version_id) == owner_id:
                held.setdefault(version_id, []).append(name)
    return held


def _run_counters(session: Session, run_ids: set[str]) -> dict[str, int]:
    """Pipeline run id → its counter."""
    counters: dict[str, int] = {}
    for chunk in lineage._chunks(sorted(run_ids)):
        rows = session.execute(select(PipelineRun.id, PipelineRun.counter).where(PipelineRun.id.in_(chunk)))
        counters.update({str(run_id): int(counter) for run_id, counter in rows})
    return counters


def _version(
    facts: dict[Node, dict[str, Any]], reached: lineage.Reached, held: list[str], runs: dict[str, int]
) -> dict[str, Any]:
    fact = facts[(MODEL_VERSION, reached.id)]
    source = facts.get((EXECUTION, str(fact["source_execution_id"])))
    run = runs.get(fact["pipeline_run_id"]) if fact["pipeline_run_id"] else None
    return {
        "ref": fact["ref"],
        "status": fact["status"],
        "aliases": sorted(held),
        "how": sorted(reached.how),
        "depth": reached.depth,
        "source_execution": _execution(source) if source else None,
        "pipeline_run": f"pipeline:{run}" if run is not None else None,
    }


def _execution(fact: dict[str, Any]) -> dict[str, Any]:
    run = fact.get("pipeline_run")
    return {"ref": fact["ref"], "counter": fact["counter"], "step": fact["step"],
            "pipeline_run": f"pipeline:{run}" if run else None}  # fmt: skip


def show(session: Session, project_id: str, ref: str, depth: int | None = None) -> dict[str, Any]:
    """The chain upstream of a reference: data, models, executions, decisions, replacements."""
    start = lineage.node_of(session, project_id, ref)
    reached = lineage.walk(session, start, "up", depth)
    facts = lineage.refs(session, [start, *[(r.kind, r.id) for r in reached]])
    runs = {str(f["pipeline_run"]) for (k, _), f in facts.items() if k == EXECUTION and f.get("pipeline_run")}
    view: dict[str, Any] = {
        "subject": facts[start]["ref"],
        "datasets": [_plain(facts, r) for r in reached if r.kind == DATASET_VERSION],
        "models": [_plain(facts, r) for r in reached if r.kind == MODEL_VERSION],
        "executions": [
            {**facts[(EXECUTION, r.id)], "depth": r.depth} for r in reached if r.kind == EXECUTION
        ],
        "pipeline_runs": sorted(f"pipeline:{n}" for n in runs),
        "decisions": _decisions(session, project_id, runs),
        "datums": [facts[(DATUM, r.id)]["ref"] for r in reached if r.kind == DATUM],
        "flags": [],
    }
    if start[0] == MODEL_VERSION:
        view["replaced"] = _replacements(session, start, "up")
        view["replaced_by"] = _replacements(session, start, "down")
        view["flags"] = flags_of_version(session, start[1])
    return view


def upstream_of(catalog: Catalog, project_id: str, ref: str, depth: int | None = None) -> dict[str, Any]:
    """``show`` in a read of its own."""
    with catalog.read() as session:
        return show(session, project_id, ref, depth)


def _plain(facts: dict[Node, dict[str, Any]], reached: lineage.Reached) -> dict[str, Any]:
    return {"ref": facts[(reached.kind, reached.id)]["ref"], "depth": reached.depth}


def _decisions(session: Session, project_id: str, runs: set[str]) -> list[dict[str, Any]]:
    found = []
    for chunk in lineage._chunks(sorted(runs, key=int)):
        rows = session.execute(
            select(
                PipelineRun.counter, Gate.node, Gate.status, Gate.decided_by, Gate.decided_at, Gate.comment
            )
            .join(Gate, Gate.run_id == PipelineRun.id)
            .where(PipelineRun.project_id == project_id, PipelineRun.counter.in_([int(c) for c in chunk]))
            .order_by(PipelineRun.counter, Gate.node)
        )
        for counter, node, status, decided_by, decided_at, comment in rows:
            found.append(
                {
                    "pipeline_run": f"pipeline:{counter}",
                    "node": node,
                    "decision": status,
                    "by": decided_by,
                    "at": decided_at.isoformat() if decided_at else None,
                    "comment": comment,
                }
            )
    return found


def _replacements(session: Session, start: Node, direction: str) -> list[dict[str, Any]]:
    hops = lineage.one_hop(session, start, "replaced", direction)
    others = [(MODEL_VERSION, e.src_id if direction == "up" else e.dst_id) for e in hops]
    facts = lineage.refs(session, others)
    return [
        {"ref": facts[node]["ref"], "alias": edge.label, "at": edge.created_at.isoformat()}
        for edge, node in zip(hops, others, strict=True)
        if node in facts
    ]
